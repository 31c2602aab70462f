/**
 * postgres.js 3.4.9 throws an uncaught TypeError from a setImmediate callback
 * when a query is written to a connection whose backend died
 * (porsager/postgres#1208). Reproduced here for real (a reserved connection,
 * its backend terminated): without the node's process guard the process
 * dies; with it, the defect is logged and counted, the database pools are
 * replaced, and queries go on. And transaction() never gets there: a
 * connection lost while its callback waits on something else gets no
 * further statement, COMMIT or ROLLBACK. Runs in child processes so that an
 * uncaught exception never reaches the test runner.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startPostgres, type PgCluster } from './helpers/postgres.js';

const CHILD = fileURLToPath(new URL('./helpers/pg-defect-child.ts', import.meta.url));

describe('postgres.js connection defect (porsager/postgres#1208) under the process guard', { timeout: 120_000 }, () => {
  let pg: PgCluster;
  before(async () => { pg = await startPostgres({}); });
  after(async () => { await pg?.stop(); });

  it('logs and counts it, replaces the pools, and the process keeps querying', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', CHILD, String(pg.primary.port)], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, `child exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.notEqual(out.first, 'answered', 'the terminated backend did not answer');
    assert.equal(out.counts['postgres-js'], 1, JSON.stringify(out));
    assert.equal(out.counts.exception, undefined, JSON.stringify(out));
    assert.equal(out.logs.length, 1, JSON.stringify(out.logs));
    assert.equal(out.logs[0].level, 'error');
    assert.match(out.logs[0].msg, /porsager\/postgres#1208/);
    assert.match(out.logs[0].err, /Cannot read properties of null \(reading 'write'\)/);
    assert.equal(out.recycled, 1, 'the live pool was replaced');
    assert.equal(out.generationAfter, out.generationBefore + 1);
    assert.equal(out.after, 42, 'queries go on through the new pool');
  });

  for (const mode of ['query', 'commit', 'throw']) {
    it(`transaction(): a connection lost while the callback waits elsewhere sends nothing more (${mode})`, () => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', CHILD, String(pg.primary.port), mode], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, `child exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
      assert.match(out.outcome, /^rejected: /, JSON.stringify(out));
      assert.deepEqual(out.counts, {}, `no defect, no unhandled error: ${JSON.stringify(out)}`);
      assert.equal(out.after, 42);
    });
  }
});
