/**
 * The region monitor's decisions against a real primary and its streaming
 * replica (two "regions" in one PostgreSQL cluster): claiming the region,
 * replica lag measured by heartbeat age with the warning and critical
 * thresholds of the `region` health check, a region that comes back after
 * a gap with no peer in sight (waits, until `region resume` writes a
 * heartbeat), and a node fencing its own region when the peer was promoted
 * at a higher epoch.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { HealthRegistry } from '../src/health/health.js';
import { registerRegionCheck } from '../src/region/region-check.js';
import { regionsSchema, type RegionsConfig } from '../src/config/region-config.js';
import { RegionMonitor } from '../src/region/region-monitor.js';
import { setActiveRegion, writeRegionHeartbeat } from '../src/storage/region-sql.js';
import { PostgresStore } from '../src/storage/postgres/postgres-store.js';
import { waitFor } from './helpers/cluster.js';
import { freePort } from './helpers/ports.js';
import { startPostgres, type PgCluster } from './helpers/postgres.js';

const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('region monitor (real primary and replica)', { timeout: 180_000 }, () => {
  let pg: PgCluster;
  const stores: PostgresStore[] = [];
  const monitors: RegionMonitor[] = [];
  const storeOn = (host: string, any: boolean) => {
    const s = new PostgresStore({ hosts: [host], database: 'rampart', user: 'rampart', targetSessionAttrs: any ? 'any' : 'read-write', retryForMs: 0 });
    stores.push(s);
    return s;
  };
  const config = (self: string, sites: Record<string, string[]>, extra: Partial<RegionsConfig> = {}): RegionsConfig => regionsSchema.parse({
    self, sites: Object.fromEntries(Object.entries(sites).map(([k, hosts]) => [k, { database: { hosts } }])),
    lagWarnSeconds: 2, lagCriticalSeconds: 4, resumeWithoutPeerSeconds: 3, peerTimeoutSeconds: 1, ...extra,
  });
  const monitor = (cfg: RegionsConfig, store: PostgresStore, leader: () => boolean) => {
    const m = new RegionMonitor({ config: cfg, pool: store.pool, peerDefaults: { database: 'rampart', user: 'rampart', passwordEnv: 'NONE' }, env: {}, nodeId: `t-${cfg.self}`, isLeader: leader, log });
    monitors.push(m);
    return m;
  };

  before(async () => {
    pg = await startPostgres({ standbys: 1 });
    await pg.psql('GRANT pg_monitor TO rampart');
    const s = storeOn(pg.nodes[0]!.host, false);
    await s.migrate();
  });
  after(async () => {
    for (const m of monitors) await m.stop();
    for (const s of stores) await s.close();
    await pg?.stop();
  });

  it('claims the region, measures replica lag by heartbeat age, warns then fails the check, never unhealthy', async () => {
    const [p, r] = [pg.nodes[0]!.host, pg.standbys[0]!.host];
    let leaderA = true;
    const a = monitor(config('A', { A: [p], B: [r] }), storeOn(p, false), () => leaderA);
    const sa = await a.tick();
    assert.equal(sa.dbRole, 'primary');
    assert.equal(sa.activeRegion, 'A');
    assert.equal(sa.epoch, '1');
    assert.equal(sa.writable, true, sa.reason);
    assert.deepEqual(a.fence(), { name: 'A', epoch: 1n, timeline: sa.timeline! });
    const b = monitor(config('B', { A: [p], B: [r] }), storeOn(r, true), () => true);
    const health = new HealthRegistry();
    registerRegionCheck({ health, region: b, lagWarnSeconds: 2, lagCriticalSeconds: 4 });
    await waitFor('a replayed heartbeat', async () => { await a.tick(); const s = await b.tick(); return s.lagSeconds !== null && s.lagSeconds < 1.5; }, 20_000);
    const sb = b.status();
    assert.equal(sb.dbRole, 'replica');
    assert.equal(sb.writable, false);
    assert.equal(b.fence(), undefined);
    assert.equal(sb.lagBytes, 0);
    let h = await health.run();
    assert.equal(h.checks.region!.status, 'pass', h.checks.region!.detail);
    // A write on the replica fails at once as notWritable (503): a pool allowed to use a standby has no primary to look for.
    const retries: unknown[] = [];
    const ro = new PostgresStore({ hosts: [r], database: 'rampart', user: 'rampart', targetSessionAttrs: 'any', retryForMs: 30_000, onRetry: (e) => retries.push(e) });
    stores.push(ro);
    await assert.rejects(ro.setMeta('probe', 'x'), (e: Error & { code?: string }) => e.code === 'notWritable' && /read-only replica/.test(e.message));
    assert.deepEqual(retries, []);
    // The active region's leader stops stamping (its nodes died): the replica's lag grows.
    leaderA = false;
    await waitFor('lag past the warning threshold', async () => (await b.tick()).lagSeconds! > 2, 10_000);
    h = await health.run();
    assert.equal(h.checks.region!.status, 'warn', h.checks.region!.detail);
    assert.match(h.checks.region!.detail, /^WARNING \(> 2 s\)/);
    await waitFor('lag past the critical threshold', async () => (await b.tick()).lagSeconds! > 4, 10_000);
    h = await health.run();
    assert.equal(h.checks.region!.status, 'fail');
    assert.match(h.checks.region!.detail, /^CRITICAL \(> 4 s\)/);
    assert.notEqual(h.status, 'unhealthy', 'a lagging replica region keeps serving validation');
  });

  it('a region back after a gap with no reachable peer waits, until a resume heartbeat', async () => {
    const p = pg.nodes[0]!.host;
    const nowhere = `127.0.0.1:${await freePort()}`;
    await sleep(3200); // the last heartbeat (previous test) is older than resumeWithoutPeerSeconds
    const a = monitor(config('A', { A: [p], B: [nowhere] }), storeOn(p, false), () => true);
    const s = await a.tick();
    assert.equal(s.writable, false);
    assert.match(s.reason, /no peer region is reachable/);
    assert.equal(s.peers[0]!.reachable, false);
    const pool = storeOn(p, false).pool;
    await pool.run('resume', (sql) => writeRegionHeartbeat(sql, 'A', 'operator'));
    assert.equal((await a.tick()).writable, true);
  });

  it('fences its own region when the peer is active at a higher epoch, in its own database', async () => {
    const [p, r] = [pg.nodes[0]!.host, pg.standbys[0]!.host];
    const a = monitor(config('A', { A: [p], B: [r] }), storeOn(p, false), () => true);
    assert.equal((await a.tick()).writable, true);
    // B is promoted (as failover would, but without fencing A) and made active at epoch 2.
    await pg.promote(0);
    const b = storeOn(r, true);
    await b.pool.run('activate', (sql) => setActiveRegion(sql, 'B', 2n, 'test failover'));
    const s = await a.tick();
    assert.equal(s.writable, false);
    assert.equal(s.fenced, true);
    assert.match(s.reason, /region B is active at epoch 2/);
    assert.equal(a.fence(), undefined);
    assert.equal(await pg.psql('SELECT active_region || \' \' || epoch FROM region_state', pg.nodes[0]!.port, 'rampart'), 'B 2');
    // Later checks keep it fenced from its own database alone.
    const again = await a.tick();
    assert.equal(again.fenced, true);
    assert.match(again.reason, /fenced: region B is active/);
  });
});

describe('planned regional failover with the old region reachable (no nodes; database side)', { timeout: 180_000 }, () => {
  let pg: PgCluster;
  before(async () => {
    pg = await startPostgres({ standbys: 1 });
    const s = new PostgresStore({ hosts: [pg.nodes[0]!.host], database: 'rampart', user: 'rampart', retryForMs: 0 });
    try {
      await s.migrate();
      await s.pool.run('claim', (sql) => setActiveRegion(sql, 'A', 1n, 'test'));
    } finally {
      await s.close();
    }
  });
  after(async () => { await pg?.stop(); });

  it('fences A in its database, waits until B replayed A up to the fence, promotes B: RPO 0', async () => {
    const { rampartConfigSchema } = await import('../src/config/schema.js');
    const { failoverRegion } = await import('../src/region/failover.js');
    const [p, r] = [pg.nodes[0]!.host, pg.standbys[0]!.host];
    const config = rampartConfigSchema.parse({
      database: { type: 'postgres', hosts: [p] }, cluster: { mode: 'active-active' },
      regions: { self: 'A', sites: { A: { database: { hosts: [p] } }, B: { database: { hosts: [r] } } }, resumeWithoutPeerSeconds: 3 },
    });
    // Writes on A right before the failover: B must have them all when promoted.
    await pg.psql("INSERT INTO meta (key, value) SELECT 'k' || g, 'v' FROM generate_series(1, 2000) g", pg.nodes[0]!.port, 'rampart');
    const lines: string[] = [];
    const report = await failoverRegion({ config, to: 'B', skipVerify: true, maxLagSeconds: 300, env: {}, log: (l) => lines.push(l) });
    assert.equal(report.from, 'A');
    assert.equal(report.fencedSource, true);
    assert.equal(report.rpoBytes, 0, report.text);
    assert.equal(report.rpoSeconds, 0);
    assert.equal(report.epoch, '2');
    assert.match(report.text, /RPO: 0 — the old region was fenced/);
    assert.match(report.text, /verify issuance.*SKIPPED/);
    assert.equal(await pg.psql('SELECT active_region || \' \' || epoch FROM region_state', pg.nodes[0]!.port, 'rampart'), 'B 2', 'A is fenced in its own database');
    assert.equal(await pg.psql('SELECT pg_is_in_recovery()', pg.standbys[0]!.port), 'f');
    assert.equal(await pg.psql("SELECT count(*) FROM meta WHERE key LIKE 'k%'", pg.standbys[0]!.port, 'rampart'), '2000');
    assert.equal(await pg.psql("SELECT active_region || ' ' || epoch FROM region_state", pg.standbys[0]!.port, 'rampart'), 'B 2');
    assert.equal(await pg.psql("SELECT count(*) FROM audit_log WHERE action = 'region.failover'", pg.standbys[0]!.port, 'rampart'), '1');
    // A second failover to B is refused: it is already active.
    await assert.rejects(failoverRegion({ config, to: 'B', skipVerify: true, maxLagSeconds: 300, env: {} }), /region B .*not a replica|already the active region/);
  });
});
