import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HealthRegistry } from './health.js';

const pass = async () => ({ status: 'pass' as const, detail: 'ok' });
const warn = async () => ({ status: 'warn' as const, detail: 'low' });
const fail = async () => ({ status: 'fail' as const, detail: 'down' });

test('aggregates to healthy, degraded and unhealthy', async () => {
  const h = new HealthRegistry();
  h.add('a', pass, { critical: true });
  assert.equal((await h.run()).status, 'healthy');
  h.add('b', warn, { critical: true });
  assert.equal((await h.run()).status, 'degraded');
  h.add('c', fail, { critical: false });
  assert.equal((await h.run()).status, 'degraded', 'a failing non-critical check degrades');
  h.add('d', fail, { critical: true });
  const r = await h.run();
  assert.equal(r.status, 'unhealthy');
  assert.equal(r.checks.d!.detail, 'down');
});

test('a throwing or hanging check fails with its reason instead of hanging the probe', async () => {
  const h = new HealthRegistry();
  h.add('throws', async () => { throw new Error('database is locked'); }, { critical: true });
  h.add('hangs', () => new Promise(() => {}), { critical: false, timeoutMs: 50 });
  const r = await h.run();
  assert.equal(r.status, 'unhealthy');
  assert.equal(r.checks.throws!.detail, 'database is locked');
  assert.match(r.checks.hangs!.detail, /timed out/);
});
