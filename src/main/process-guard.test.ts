import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { RampartMetrics } from '../metrics/metrics.js';
import { installProcessGuard, type ProcessLike } from './process-guard.js';

function setup() {
  const proc = new EventEmitter();
  const logged: Array<{ level: string; obj: any; msg: string }> = [];
  const exits: number[] = [];
  const metrics = new RampartMetrics({ defaultMetrics: false });
  const remove = installProcessGuard({
    proc: proc as unknown as ProcessLike,
    counter: metrics.unhandledErrors,
    exit: (c) => exits.push(c),
    log: { error: (obj, msg) => logged.push({ level: 'error', obj, msg }), fatal: (obj, msg) => logged.push({ level: 'fatal', obj, msg }) },
  });
  const count = async (kind: string): Promise<number> =>
    (await metrics.unhandledErrors.get()).values.find((v) => v.labels.kind === kind)?.value ?? 0;
  return { proc, logged, exits, remove, count };
}

describe('process guard', () => {
  it('logs and counts an unhandled rejection with its stack, and keeps running', async () => {
    const g = setup();
    const err = new Error('connection terminated: 57P01');
    g.proc.emit('unhandledRejection', err);
    g.proc.emit('unhandledRejection', 'a string reason');
    assert.deepEqual(g.exits, []);
    assert.equal(await g.count('rejection'), 2);
    assert.equal(g.logged[0]!.level, 'error');
    assert.equal(g.logged[0]!.obj.err, err);
    assert.match(g.logged[0]!.msg, /unhandled promise rejection/);
    assert.match(String(g.logged[1]!.obj.err.message), /non-Error rejection: a string reason/);
  });

  it('logs an uncaught exception as fatal, counts it and exits with 1', async () => {
    const g = setup();
    g.proc.emit('uncaughtException', new TypeError('boom'), 'uncaughtException');
    assert.deepEqual(g.exits, [1]);
    assert.equal(await g.count('exception'), 1);
    assert.equal(g.logged[0]!.level, 'fatal');
    assert.equal(g.logged[0]!.obj.origin, 'uncaughtException');
  });

  it('removes its handlers', () => {
    const g = setup();
    assert.equal(g.proc.listenerCount('unhandledRejection'), 1);
    g.remove();
    assert.equal(g.proc.listenerCount('unhandledRejection'), 0);
    assert.equal(g.proc.listenerCount('uncaughtException'), 0);
  });
});
