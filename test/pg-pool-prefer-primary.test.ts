/**
 * PgPool.preferPrimary (what `database.monitor` calls when pg_auto_failover's
 * monitor names another primary), on two real PostgreSQL servers outside the
 * namespace lab: new connections go to the named host, the old pool's
 * connections end within its grace, a host that is not listed or already
 * first changes nothing, and the move is reported once.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PgPool } from '../src/storage/postgres/pg-pool.js';
import { startPostgres, type PgCluster } from './helpers/postgres.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('PgPool.preferPrimary on two PostgreSQL servers', { timeout: 120_000 }, () => {
  let a: PgCluster;
  let b: PgCluster;
  before(async () => {
    [a, b] = await Promise.all([startPostgres(), startPostgres()]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('sends new connections to the named host and lets the old ones go', async () => {
    const [ha, hb] = [a.primary, b.primary];
    const events: Array<{ primary?: string }> = [];
    const pool = new PgPool({
      hosts: [ha.host, hb.host], database: 'rampart', user: 'rampart', applicationName: 'prefer-test', retryForMs: 10_000,
      onMonitor: (e) => events.push(e),
    });
    try {
      const port = () => pool.run('port', async (sql) => Number((await sql`select inet_server_port() as p`)[0]!.p));
      // Both servers are writable primaries: the first listed host wins.
      assert.equal(await port(), ha.port);
      const onA = () => a.psql("select count(*) from pg_stat_activity where application_name like 'prefer-test%'");
      assert.notEqual(await onA(), '0', 'the pool holds a connection to the first host');

      pool.preferPrimary('127.0.0.1', hb.port);
      assert.equal(await port(), hb.port, 'a new operation runs on the named host');
      assert.equal(pool.generation, 1, 'the pool was replaced once');
      assert.deepEqual(events, [{ primary: `127.0.0.1:${hb.port}` }]);
      // The old pool's connections end within its grace (1 s), also idle ones.
      const deadline = Date.now() + 15_000;
      while ((await onA()) !== '0') {
        assert.ok(Date.now() < deadline, `connections to the old host remain: ${await onA()}`);
        await sleep(200);
      }

      // Already first, or not listed: nothing changes.
      pool.preferPrimary('127.0.0.1', hb.port);
      pool.preferPrimary('127.0.0.1', 1);
      assert.equal(pool.generation, 1);
      assert.equal(events.length, 1);
      assert.equal(await port(), hb.port);

      // And back: the monitor may name the first host again after a failback.
      pool.preferPrimary('127.0.0.1', ha.port);
      assert.equal(await port(), ha.port);
      assert.equal(pool.generation, 2);
    } finally {
      await pool.close();
    }
  });
});
