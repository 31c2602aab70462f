import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { RampartMetrics } from '../metrics/metrics.js';
import { installProcessGuard, isPostgresJsConnectionDefect, type ProcessLike } from './process-guard.js';

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

describe('process guard: the postgres.js connection defect', () => {
  const defect = (): TypeError => {
    const e = new TypeError("Cannot read properties of null (reading 'write')");
    e.stack = `${e.message}\n    at Immediate.nextWrite (file:///srv/rampart/node_modules/postgres/src/connection.js:255:22)\n    at process.processImmediate (node:internal/timers:483:21)`;
    return e;
  };

  it('recognises a TypeError thrown inside postgres.js connection code only', () => {
    assert.equal(isPostgresJsConnectionDefect(defect()), true);
    const ours = new TypeError('x is null');
    ours.stack = `TypeError: x is null\n    at Foo.bar (file:///srv/rampart/src/main/node.ts:10:5)\n    at Immediate.nextWrite (file:///srv/rampart/node_modules/postgres/src/connection.js:255:22)`;
    assert.equal(isPostgresJsConnectionDefect(ours), false, 'our frame on top');
    const through = defect();
    through.stack += '\n    at Thing.run (file:///srv/rampart/src/storage/postgres/pg-pool.ts:1:1)';
    assert.equal(isPostgresJsConnectionDefect(through), false, 'one of our frames below');
    const other = new RangeError('x');
    other.stack = defect().stack!;
    assert.equal(isPostgresJsConnectionDefect(other), false, 'not a TypeError');
  });

  it('logs and counts it, replaces the pools and keeps running', async () => {
    const proc = new EventEmitter();
    const logged: Array<{ level: string; msg: string }> = [];
    const exits: number[] = [];
    let replaced = 0;
    const metrics = new RampartMetrics({ defaultMetrics: false });
    installProcessGuard({
      proc: proc as unknown as ProcessLike, counter: metrics.unhandledErrors, exit: (c) => exits.push(c), onLibraryDefect: () => { replaced++; },
      log: { error: (_o, msg) => logged.push({ level: 'error', msg }), fatal: (_o, msg) => logged.push({ level: 'fatal', msg }) },
    });
    proc.emit('uncaughtException', defect(), 'uncaughtException');
    assert.deepEqual(exits, []);
    assert.equal(replaced, 1);
    assert.equal(logged[0]!.level, 'error');
    assert.equal((await metrics.unhandledErrors.get()).values.find((v) => v.labels.kind === 'postgres-js')?.value, 1);
  });
});
