import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type PgCluster } from '../../../test/helpers/postgres.js';
import type { AcmeAccount, AcmeAuthorization, AcmeOrder } from '../acme-records.js';
import type { CertificateFilter, CertificateRecord, IssuerRecord } from '../../core/types.js';
import { rampartConfigSchema } from '../../config/schema.js';
import { acmeConformance } from '../conformance/acme-conformance.js';
import { sshConformance } from '../conformance/ssh-conformance.js';
import { campaignConformance } from '../conformance/campaign-conformance.js';
import { storeConformance } from '../conformance/store-conformance.js';
import { inventoryConformance } from '../conformance/inventory-conformance.js';
import { createStore } from '../create-store.js';
import { POSTGRES_MIGRATIONS } from './migrations.js';
import { transaction, type Attempt, type RetryEvent } from './pg-pool.js';
import { pgInventoryWhere, pgPageSql } from './pg-inventory.js';
import { AUDIT_LOCK_KEY, PostgresStore, type PostgresStoreOptions } from './postgres-store.js';

const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

const issuer = (id: string): IssuerRecord => ({
  id, kind: 'intermediate', subject: `CN=${id}`, parentId: null, certDer: new Uint8Array([1, 2, 3]), keyRef: `k-${id}`,
  keyBackend: 'software', notBefore: new Date(T0), notAfter: new Date(T0 + 1000 * DAY), active: true, createdAt: new Date(T0),
});

const cert = (serial: string, over: Partial<CertificateRecord> = {}): CertificateRecord => ({
  serial, issuerId: 'int-a', profile: 'server', subject: `CN=${serial}.example.test`, sans: [`${serial}.example.test`],
  notBefore: new Date(T0), notAfter: new Date(T0 + 90 * DAY), der: new Uint8Array(Buffer.from(`der:${serial}`)), status: 'good',
  revokedAt: null, revocationReason: null, createdAt: new Date(T0), requester: 'token:a', ...over,
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// One cluster for the conformance suite and the single-server tests; each
// store gets a fresh database in it.
let shared: PgCluster | undefined;
before(async () => { shared = await startPostgres(); });
after(async () => { await shared?.stop(); });

let dbCount = 0;
async function freshDatabase(c: PgCluster): Promise<{ database: string; drop: () => Promise<void> }> {
  const database = `rampart_t${process.pid}_${++dbCount}`;
  await c.createDatabase(database);
  return { database, drop: async () => { await c.psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`); } };
}

function storeFor(c: PgCluster, database: string, over: Partial<PostgresStoreOptions> = {}): PostgresStore {
  return new PostgresStore({ hosts: c.hosts(), database, user: 'rampart', max: 5, connectTimeoutSeconds: 2, retryForMs: 20_000, ...over });
}

async function pgFactory() {
  const { database, drop } = await freshDatabase(shared!);
  const store = storeFor(shared!, database);
  await store.migrate();
  return { store, cleanup: drop };
}

storeConformance('PostgreSQL (real cluster)', pgFactory);
acmeConformance('PostgreSQL (real cluster)', pgFactory);
sshConformance('PostgreSQL (real cluster)', pgFactory);
campaignConformance('PostgreSQL (real cluster)', pgFactory);
inventoryConformance('PostgreSQL (real cluster)', pgFactory);

describe('PostgresStore on one server', () => {
  it('every connection asks the server to drop an unreachable client within seconds (TCP keepalive, user timeout)', async () => {
    const { store, cleanup } = await pgFactory();
    try {
      const [r] = await store.pool.run('keepalive', (sql) => sql`SELECT current_setting('tcp_keepalives_idle') AS idle, current_setting('tcp_keepalives_interval') AS intv,
        current_setting('tcp_keepalives_count') AS count, current_setting('tcp_user_timeout') AS ut, inet_client_addr() IS NOT NULL AS tcp`);
      assert.ok(r!.tcp, 'the test reaches the server over TCP (settings apply to TCP connections only)');
      assert.deepEqual({ idle: r!.idle, intv: r!.intv, count: r!.count, ut: r!.ut }, { idle: '5', intv: '2', count: '3', ut: '10000' });
    } finally {
      await cleanup();
    }
  });

  it('every inventory filter can read through an index (EXPLAIN with sequential scans off), the name through the trigram GIN index', async () => {
    const { store, cleanup } = await pgFactory();
    try {
      await store.saveIssuer(issuer('int-a'));
      for (let i = 0; i < 20; i++) await store.insertCertificate(cert(`e${i}`));
      const now = new Date(T0 + DAY);
      const cases: Array<[CertificateFilter, RegExp]> = [
        [{}, /certificates_pkey/], [{ status: 'good' }, /certificates_status_seq/], [{ status: 'revoked' }, /certificates_status_seq/],
        [{ status: 'expired' }, /certificates_expiry|certificates_pkey/], [{ expiringWithinDays: 7 }, /certificates_status_seq|certificates_expiry/],
        [{ issuerId: 'int-a' }, /certificates_issuer_seq/], [{ profile: 'server' }, /certificates_profile_seq/], [{ name: 'e1.example' }, /certificates_search_trgm/],
      ];
      for (const [filter, index] of cases) {
        const { where, args } = pgInventoryWhere(filter, now);
        const plan = await store.pool.run('explain', (sql) => transaction(sql, async (tx) => {
          await tx.unsafe('SET LOCAL enable_seqscan = off');
          // A name's page may also walk the primary key (on a tiny table it will): its count shows the trigram index is usable.
          const q = filter.name ? `SELECT count(*) FROM certificates WHERE ${where.join(' AND ')}` : pgPageSql(where, args.length, '*');
          return (await tx.unsafe(`EXPLAIN ${q}`, filter.name ? args : [...args, 0, 51])).map((r) => String(r['QUERY PLAN'])).join('\n');
        }));
        assert.match(plan, index, `${JSON.stringify(filter)}:\n${plan}`);
        assert.doesNotMatch(plan, /Seq Scan/, `${JSON.stringify(filter)}:\n${plan}`);
      }
    } finally {
      await store.close();
      await cleanup();
    }
  });

  it('migrations from 4 nodes starting at once apply exactly once', async () => {
    const { database, drop } = await freshDatabase(shared!);
    const stores = Array.from({ length: 4 }, () => storeFor(shared!, database));
    try {
      await Promise.all(stores.map((s) => s.migrate()));
      assert.equal(await shared!.psql('SELECT string_agg(version::text, \',\' ORDER BY version) FROM schema_migrations', undefined, database),
        POSTGRES_MIGRATIONS.map((_, i) => String(i + 1)).join(','));
      await Promise.all(stores.map((s, i) => s.setMeta(`k${i}`, `v${i}`)));
      assert.equal(await stores[0]!.getMeta('k3'), 'v3');
      await Promise.all(stores.map((s) => s.migrate())); // and again: nothing to do
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await drop();
    }
  });

  it('two nodes: lease races have one winner; the loser is fenced; takeover raises the epoch', async () => {
    const { database, drop } = await freshDatabase(shared!);
    const a = storeFor(shared!, database);
    const b = storeFor(shared!, database);
    try {
      await a.migrate();
      await a.saveIssuer(issuer('int-a'));
      for (let round = 0; round < 5; round++) {
        const name = `race${round}`;
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).tryAcquireLease(name, `node${i}`, 5000)));
        assert.equal(new Set(results.map((r) => r.holder)).size, 1, 'exactly one holder');
        assert.equal(new Set(results.map((r) => r.epoch)).size, 1, 'one epoch');
      }
      const first = await a.tryAcquireLease('leader', 'A', 300);
      assert.equal(first.holder, 'A');
      assert.equal((await b.tryAcquireLease('leader', 'B', 300)).holder, 'A');
      await sleep(400);
      const [x, y] = await Promise.all([a.tryAcquireLease('leader', 'A2', 5000), b.tryAcquireLease('leader', 'B', 5000)]);
      assert.equal(x.holder, y.holder, 'both see the same winner');
      assert.equal(x.epoch, first.epoch + 1n, 'the takeover raised the epoch once');
      const loser = x.holder === 'B' ? { s: a, holder: 'A', epoch: first.epoch } : { s: b, holder: 'B', epoch: first.epoch };
      await assert.rejects(loser.s.insertCertificate(cert('aa01'), undefined, { lease: 'leader', holder: loser.holder, epoch: loser.epoch }),
        (e: Error & { code?: string }) => e.code === 'fenced');
      const winner = x.holder === 'B' ? b : a;
      await winner.insertCertificate(cert('aa02'), undefined, { lease: 'leader', holder: x.holder!, epoch: x.epoch });
      assert.equal(await a.getCertificate('aa01'), null);
      assert.equal((await a.getCertificate('aa02'))?.serial, 'aa02');
    } finally {
      await a.close();
      await b.close();
      await drop();
    }
  });

  it('issuances submitted together commit set-wise; a batch with a stored serial goes unit by unit and refuses that one alone', async () => {
    const { database, drop } = await freshDatabase(shared!);
    const a = storeFor(shared!, database);
    try {
      await a.migrate();
      await a.saveIssuer(issuer('int-a'));
      await a.insertCertificate(cert('dd0'));
      const before = { ...a.insertPaths };
      const ten = await Promise.all(Array.from({ length: 10 }, (_, i) => a.insertCertificate(cert(`dd${i + 1}`), { key: `k${i}`, requester: 'token:a', requestHash: 'h' })));
      assert.deepEqual(ten.map((r) => [r.record.serial, r.replayed]), Array.from({ length: 10 }, (_, i) => [`dd${i + 1}`, false]));
      assert.deepEqual({ setWise: a.insertPaths.setWise - before.setWise, unitByUnit: a.insertPaths.unitByUnit - before.unitByUnit }, { setWise: 1, unitByUnit: 0 }, 'one batch, set-wise');
      const mixed = await Promise.allSettled([a.insertCertificate(cert('dd0')), a.insertCertificate(cert('ee1'))]);
      assert.deepEqual(mixed.map((r) => r.status), ['rejected', 'fulfilled']);
      assert.equal(a.insertPaths.unitByUnit - before.unitByUnit, 1, 'the refused INSERT sent the batch unit by unit');
      assert.equal((await a.countCertificates()).total, 12);
    } finally {
      await a.close();
      await drop();
    }
  });

  it('two nodes: one idempotency key gives one certificate; the audit chain stays linear', async () => {
    const { database, drop } = await freshDatabase(shared!);
    const a = storeFor(shared!, database);
    const b = storeFor(shared!, database);
    try {
      await a.migrate();
      await a.saveIssuer(issuer('int-a'));
      const claim = { key: 'same', requester: 'token:a', requestHash: 'h' };
      const out = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).insertCertificate(cert(`bb${i}`), claim)));
      assert.equal(out.filter((r) => !r.replayed).length, 1, 'one issuance');
      assert.equal(new Set(out.map((r) => r.record.serial)).size, 1, 'every replay returns it');
      assert.equal((await a.countCertificates()).total, 1);
      await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).appendAudit((prev) => ({
        seq: (prev?.seq ?? 0) + 1, prevHash: prev?.hash ?? 'g', hash: `h${(prev?.seq ?? 0) + 1}`, time: new Date(T0),
        actor: `n${i % 2}`, source: 's', channel: 'api', action: 'x', target: 't', outcome: 'success', details: { i },
      }))));
      let prev = 'g';
      let count = 0;
      for await (const e of b.iterateAudit()) { assert.equal(e.prevHash, prev); prev = e.hash; count++; }
      assert.equal(count, 30);
    } finally {
      await a.close();
      await b.close();
      await drop();
    }
  });

  it('writes whose COMMIT succeeded but whose answer was lost are retried without duplicates or spurious errors', async () => {
    const { database, drop } = await freshDatabase(shared!);
    const s = storeFor(shared!, database);
    try {
      await s.migrate();
      await s.saveIssuer(issuer('int-a'));
      // Every operation's first attempt runs to the end (commits), then
      // fails as if the connection dropped before the answer arrived.
      const run = s.pool.run.bind(s.pool);
      const lost: string[] = [];
      s.pool.run = <T>(op: string, fn: (sql: never, a: Attempt) => Promise<T>): Promise<T> => run(op, async (sql, a) => {
        const r = await fn(sql as never, a);
        if (a.attempt === 1) {
          lost.push(op);
          throw Object.assign(new Error('simulated: connection lost after COMMIT'), { code: 'ECONNRESET' });
        }
        return r;
      });
      const ins = await s.insertCertificate(cert('cc01'), { key: 'k', requester: 'token:a', requestHash: 'h' });
      assert.deepEqual([ins.replayed, ins.record.serial], [false, 'cc01'], 'reported as the original issuance');
      const rev = await s.revokeCertificate('cc01', 4, new Date(T0 + DAY), (iss) => new Uint8Array(Buffer.from(`${iss}:cc01`)));
      assert.equal(rev.status, 'revoked');
      assert.equal(rev.revocationReason, 4);
      assert.equal((await s.revocationsSince(0, 10)).length, 1, 'one revocation event');
      await s.saveCrl({ issuerId: 'int-a', number: 7n, thisUpdate: new Date(T0), nextUpdate: new Date(T0 + DAY), der: new Uint8Array([7]), entries: 1 });
      await s.insertToken({ id: 't1', name: 'n', role: 'admin', hash: 'ab'.repeat(32), createdAt: new Date(T0), expiresAt: null, revokedAt: null });
      assert.equal(await s.revokeToken('t1', new Date(T0)), true);
      const e = await s.appendAudit((prev) => ({
        seq: (prev?.seq ?? 0) + 1, prevHash: prev?.hash ?? 'g', hash: `h${(prev?.seq ?? 0) + 1}`, time: new Date(T0),
        actor: 'a', source: 's', channel: 'api', action: 'x', target: 't', outcome: 'success', details: {},
      }));
      assert.equal(e.seq, 1);
      assert.equal((await s.lastAudit())?.seq, 1, 'no second audit entry');
      assert.deepEqual(lost, ['insertCertificate', 'revokeCertificate', 'revocationsSince', 'saveCrl', 'insertToken', 'revokeToken', 'appendAudit', 'lastAudit']);
      // Without a lost answer, repeats are still refused.
      s.pool.run = run;
      await assert.rejects(s.insertCertificate(cert('cc01')), /duplicate key/);
      await assert.rejects(s.revokeCertificate('cc01', 4, new Date(T0 + DAY)), /already revoked/);
    } finally {
      await s.close();
      await drop();
    }
  });

  it('ACME writes whose COMMIT succeeded but whose answer was lost report their own success on retry', async () => {
    const { database, drop } = await freshDatabase(shared!);
    const s = storeFor(shared!, database);
    try {
      await s.migrate();
      const run = s.pool.run.bind(s.pool);
      const lost: string[] = [];
      s.pool.run = <T>(op: string, fn: (sql: never, a: Attempt) => Promise<T>): Promise<T> => run(op, async (sql, a) => {
        const r = await fn(sql as never, a);
        if (a.attempt === 1 && !op.startsWith('get')) {
          lost.push(op);
          throw Object.assign(new Error('simulated: connection lost after COMMIT'), { code: 'ECONNRESET' });
        }
        return r;
      });
      const acct: AcmeAccount = {
        id: 'acct-1', keyThumbprint: 'th1', jwk: { kty: 'EC' }, status: 'valid', contact: [], eabKid: null, createdFromIp: '192.0.2.1',
        createdAt: new Date(T0), version: 1,
      };
      await s.insertAcmeAccount(acct);
      assert.equal(await s.updateAcmeAccount({ ...acct, contact: ['mailto:a@example.test'] }, 1), true);
      const z: AcmeAuthorization = {
        id: 'z1', accountId: 'acct-1', identifier: { type: 'dns', value: 'a.example.test' }, wildcard: false, status: 'pending',
        expires: new Date(T0 + DAY), challenges: [], processingSince: null, createdAt: new Date(T0), version: 1,
      };
      const o: AcmeOrder = {
        id: 'o1', accountId: 'acct-1', status: 'pending', expires: new Date(T0 + DAY), identifiers: [z.identifier], authorizationIds: ['z1'],
        notBefore: null, notAfter: null, error: null, certificateSerial: null, replaces: null, csrDer: null, processingSince: null,
        createdAt: new Date(T0), version: 1,
      };
      await s.insertAcmeOrder(o, [z]);
      assert.equal(await s.updateAcmeAuthorization({ ...z, status: 'valid' }, 1), true);
      assert.equal(await s.updateAcmeOrder({ ...o, status: 'processing', csrDer: new Uint8Array([1, 2]), processingSince: new Date(T0) }, 1), true);
      await s.insertEabKey({ kid: 'k1', sealedKey: new Uint8Array([9]), description: '', createdAt: new Date(T0), boundAccountId: null, revokedAt: null });
      assert.equal(await s.bindEabKey('k1', 'acct-1'), true);
      assert.equal(await s.revokeEabKey('k1', new Date(T0)), true);
      assert.deepEqual(lost, ['insertAcmeAccount', 'updateAcmeAccount', 'insertAcmeOrder', 'updateAcmeAuthorization', 'updateAcmeOrder',
        'insertEabKey', 'bindEabKey', 'revokeEabKey']);
      s.pool.run = run;
      assert.equal((await s.getAcmeAccount('acct-1'))!.version, 2, 'updated once');
      assert.equal((await s.getAcmeOrder('o1'))!.version, 2);
      assert.equal((await s.getAcmeAuthorization('z1'))!.version, 2);
      // Without a lost answer, a stale version still loses and duplicates are still refused.
      assert.equal(await s.updateAcmeOrder({ ...o, status: 'invalid' }, 1), false);
      await assert.rejects(s.insertAcmeAccount({ ...acct, id: 'acct-2' }), (e: Error & { code?: string }) => e.code === 'conflict');
      assert.equal(await s.bindEabKey('k1', 'acct-1'), false);
    } finally {
      await s.close();
      await drop();
    }
  });

  it('a write that reaches a read-only server is retried, not failed', async () => {
    const { database, drop } = await freshDatabase(shared!);
    const retries: RetryEvent[] = [];
    const s = storeFor(shared!, database, { onRetry: (e) => retries.push(e) });
    try {
      await s.migrate();
      await s.saveIssuer(issuer('int-a'));
      await shared!.psql('ALTER SYSTEM SET default_transaction_read_only = on');
      await shared!.psql('SELECT pg_reload_conf()');
      await sleep(300);
      const gen0 = s.pool.generation;
      const pending = s.insertCertificate(cert('dd01'));
      // Other writes keep meeting the read-only server meanwhile (as every node's writes do while
      // pg_auto_failover keeps a promoted standby read-only): the pool is not replaced at each 25006.
      const others = Array.from({ length: 12 }, (_, i) => s.setMeta(`read-only-${i}`, 'x'));
      await sleep(3000);
      await shared!.psql('ALTER SYSTEM RESET default_transaction_read_only');
      await shared!.psql('SELECT pg_reload_conf()');
      const r = await pending;
      await Promise.all(others);
      assert.equal(r.record.serial, 'dd01');
      const readOnly = retries.filter((e) => e.code === '25006');
      assert.ok(readOnly.some((e) => e.op === 'insertCertificate'), JSON.stringify(retries.map((e) => e.code)));
      const recycles = s.pool.generation - gen0;
      assert.ok(recycles <= 3, `the pool was replaced ${recycles} times for ${readOnly.length} read-only errors in 3 s (at most once per 2 s)`);
      assert.equal((await s.getCertificate('dd01'))?.serial, 'dd01');
    } finally {
      await shared!.psql('ALTER SYSTEM RESET default_transaction_read_only').catch(() => undefined);
      await shared!.psql('SELECT pg_reload_conf()').catch(() => undefined);
      await s.close();
      await drop();
    }
  });

  it('gives up with RampartError unavailable after retryForMs when no server answers', async () => {
    const s = new PostgresStore({ hosts: ['127.0.0.1:1', '127.0.0.1:2'], database: 'x', user: 'rampart', connectTimeoutSeconds: 1, retryForMs: 1500 });
    try {
      const t0 = Date.now();
      await assert.rejects(s.getMeta('k'), (e: Error & { code?: string }) => e.code === 'unavailable' && /getMeta/.test(e.message));
      assert.ok(Date.now() - t0 < 5000, `bounded by retryForMs: took ${Date.now() - t0} ms`);
      await assert.rejects(s.ping(), (e: Error & { code?: string }) => e.code === 'unavailable');
    } finally {
      await s.close();
    }
  });

  it('createStore builds the store the configuration names', async () => {
    const { database, drop } = await freshDatabase(shared!);
    const cfg = rampartConfigSchema.parse({ database: { type: 'postgres', hosts: shared!.hosts(), database, retryForSeconds: 7, poolMax: 3 } });
    const s = createStore(cfg, { dbPath: '/nonexistent/unused.db' }, { env: { RAMPART_DATABASE_PASSWORD: 'pw' } });
    try {
      assert.equal(s.kind, 'postgres');
      assert.ok(s instanceof PostgresStore);
      assert.equal(s.options.password, 'pw');
      assert.equal(s.options.retryForMs, 7000);
      assert.equal(s.options.max, 3);
      await s.migrate();
      await s.setMeta('a', 'b');
      assert.equal(await s.getMeta('a'), 'b');
      await s.ping();
    } finally {
      await s.close();
      await drop();
    }
    const dir = mkdtempSync(join(tmpdir(), 'rampart-cs-'));
    const lite = createStore(rampartConfigSchema.parse({}), { dbPath: join(dir, 'r.db') });
    try {
      assert.equal(lite.kind, 'sqlite');
    } finally {
      await lite.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('PostgresStore failover (primary + synchronous standby)', () => {
  it('finds the primary when a standby is listed first', async () => {
    const c = await startPostgres({ standbys: 1, synchronous: true });
    const s = new PostgresStore({ hosts: [c.standbys[0]!.host, c.primary.host], database: 'rampart', user: 'rampart', connectTimeoutSeconds: 2 });
    try {
      await s.migrate();
      const info = await s.serverInfo();
      assert.equal(info.port, c.primary.port);
      assert.equal(info.inRecovery, false);
      assert.equal(await s.isInRecovery(), false);
      // and a store asking for a standby gets one
      const st = new PostgresStore({ hosts: c.hosts(), database: 'rampart', user: 'rampart', connectTimeoutSeconds: 2, targetSessionAttrs: 'standby' });
      try {
        const si = await st.serverInfo();
        assert.deepEqual([si.port, si.inRecovery, si.readOnly, si.walTimelineId], [c.standbys[0]!.port, true, true, null]);
        assert.equal(await st.isInRecovery(), true);
      } finally {
        await st.close();
      }
    } finally {
      await s.close();
      await c.stop();
    }
  });

  it('after the primary dies and a standby is promoted, the same store carries on on the new primary', async () => {
    const c = await startPostgres({ standbys: 1, synchronous: true });
    const retries: RetryEvent[] = [];
    const s = new PostgresStore({ hosts: c.hosts(), database: 'rampart', user: 'rampart', connectTimeoutSeconds: 2, retryForMs: 30_000, onRetry: (e) => retries.push(e) });
    try {
      await s.migrate();
      await s.saveIssuer(issuer('int-a'));
      await s.insertCertificate(cert('ee01'));
      const before = await s.serverInfo();
      assert.deepEqual([before.port, before.inRecovery], [c.primary.port, false]);

      // An audit append in flight on the primary when it dies: another
      // session holds the audit lock, so the append waits inside its
      // transaction until the connection is cut.
      const blocker = c.psql(`SELECT pg_advisory_lock(${AUDIT_LOCK_KEY}); SELECT pg_sleep(60)`, undefined, 'rampart').catch(() => 'killed');
      await sleep(300);
      const pendingAudit = s.appendAudit((prev) => ({
        seq: (prev?.seq ?? 0) + 1, prevHash: prev?.hash ?? 'g', hash: 'h', time: new Date(T0),
        actor: 'a', source: 's', channel: 'system', action: 'failover', target: 't', outcome: 'success', details: {},
      }));
      await sleep(300);
      assert.equal(await c.psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = 'rampart'"), '1', 'the append waits on the primary');

      await c.killPrimary('SIGKILL');
      const t0 = Date.now();
      const pending = s.insertCertificate(cert('ee02')); // sent while there is no primary
      await sleep(1500);
      await c.promote(0);
      const r = await pending;
      assert.equal(r.record.serial, 'ee02');
      assert.equal((await pendingAudit).seq, 1);
      assert.equal(await blocker, 'killed');
      assert.ok(retries.some((e) => e.op === 'appendAudit'), `the in-flight append was retried: ${JSON.stringify(retries.map((e) => [e.op, e.code]))}`);
      assert.ok(Date.now() - t0 < 30_000);

      const afterInfo = await s.serverInfo();
      assert.equal(afterInfo.port, c.standbys[0]!.port, 'now on the promoted standby');
      assert.equal(afterInfo.inRecovery, false);
      assert.equal(afterInfo.walTimelineId, 2, 'writing on timeline 2 right after the promotion');
      assert.equal(before.walTimelineId, 1);
      await c.psql('CHECKPOINT');
      assert.ok((await s.serverInfo()).timelineId >= 2, 'a new timeline');
      assert.equal((await s.getCertificate('ee01'))?.serial, 'ee01', 'the synchronous commit survived');
      assert.equal((await s.countCertificates()).total, 2);
      await s.insertCertificate(cert('ee03'));
      assert.equal((await s.countCertificates()).total, 3);
    } finally {
      await s.close();
      await c.stop();
    }
  });
});
