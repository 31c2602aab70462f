/**
 * Tidy on SQLite and PostgreSQL (`rampart tidy run`), on a synthetic
 * inventory: a dry run changes nothing; a run archives exactly the
 * certificates expired for longer than archiveExpiredAfterDays into
 * encrypted objects on the backup target and removes them; the archives
 * decrypt to exactly the removed certificates (same DER); unexpired and
 * recently expired ones are untouched; each batch has its audit entry and
 * the chain verifies; the CRL still lists the revoked, unexpired ones.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DirectoryTarget } from '../src/backup/directory-target.js';
import { readArchive } from '../src/backup/tidy-archive.js';
import type { CertificateRecord } from '../src/core/types.js';
import type { Store } from '../src/storage/store.js';
import { PostgresStore } from '../src/storage/postgres/postgres-store.js';
import { SqliteStore } from '../src/storage/sqlite/sqlite-store.js';
import { clusterEnv } from './helpers/cluster.js';
import { RAMPART_BIN, removeDir, tempDir } from './helpers/node-process.js';
import { startPostgres, type PgCluster } from './helpers/postgres.js';

const DAY = 86_400_000;
const AFTER_DAYS = 30;
const PASSPHRASE = 'tidy-test-passphrase-0123';

let pg: PgCluster | undefined;
const kinds = [
  { name: 'SQLite', start: async () => undefined, stop: async () => undefined, env: (): Record<string, string> => ({}), open: (dataDir: string): Store => new SqliteStore({ path: join(dataDir, 'rampart.db') }) },
  {
    name: 'PostgreSQL',
    start: async () => { pg = await startPostgres(); },
    stop: async () => { await pg?.stop(); },
    env: (): Record<string, string> => ({ ...clusterEnv({ hosts: pg!.hosts(), database: 'rampart', mode: 'active-active', nodeId: 'tidy-a' }), RAMPART_CLUSTER__MODE: 'single' }),
    open: (): Store => new PostgresStore({ hosts: pg!.hosts(), database: 'rampart', user: 'rampart' }),
  },
];

async function everything(store: Store): Promise<Map<string, CertificateRecord>> {
  const out = new Map<string, CertificateRecord>();
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const page = await store.listCertificates({}, { limit: 500, ...(cursor ? { cursor } : {}) }, new Date());
    for (const c of page.items) out.set(c.serial, c);
    if (!page.nextCursor) return out;
    cursor = page.nextCursor;
  }
  throw new Error('more pages than expected');
}

async function auditActions(store: Store, action: string): Promise<Array<Record<string, unknown>>> {
  const out = [];
  for await (const e of store.iterateAudit()) if (e.action === action) out.push({ ...e.details, target: e.target });
  return out;
}

for (const kind of kinds) {
  describe(`tidy (${kind.name})`, () => {
    const dir = tempDir('rampart-tidy-');
    const dataDir = join(dir, 'node');
    const archiveDir = join(dir, 'archive');
    const cfg = join(dir, 'rampart.yaml');
    writeFileSync(cfg, `backup:\n  targets:\n    - { type: directory, name: vault, path: ${archiveDir} }\ntidy:\n  archiveExpiredAfterDays: ${AFTER_DAYS}\n  batchSize: 70\n`);
    const rampart = (args: string[]) => {
      const r = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', dataDir, '--config', cfg, ...args], {
        encoding: 'utf8', env: { ...process.env, ...kind.env(), RAMPART_BACKUP_PASSPHRASE: PASSPHRASE }, timeout: 300_000,
      });
      return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    };
    const json = (args: string[]) => {
      const r = rampart(['--json', ...args]);
      assert.equal(r.code, 0, `rampart ${args.join(' ')}: ${r.stderr}${r.stdout}`);
      return JSON.parse(r.stdout);
    };
    let store: Store;
    before(async () => {
      await kind.start();
      json(['init']);
      json(['inventory', 'synthesize', '--count', '500', '--seed', 'tidy', '--expired-fraction', '0.5', '--revoked-fraction', '0.2']);
      store = kind.open(dataDir);
    });
    after(async () => {
      await store?.close();
      await kind.stop();
      removeDir(dir);
    });

    it('a dry run counts and changes nothing; a run archives exactly the long-expired certificates', async () => {
      const beforeRun = await everything(store);
      assert.equal(beforeRun.size, 500);
      const cutoff = Date.now() - AFTER_DAYS * DAY;
      const eligible = [...beforeRun.values()].filter((c) => c.notAfter.getTime() < cutoff - 60_000).map((c) => c.serial).sort();
      const borderline = [...beforeRun.values()].filter((c) => Math.abs(c.notAfter.getTime() - cutoff) <= 60_000);
      assert.equal(borderline.length, 0, 'no certificate ends within a minute of the cutoff (the test would be ambiguous)');
      assert.ok(eligible.length > 100, `eligible ${eligible.length}`);
      const recentlyExpired = [...beforeRun.values()].filter((c) => c.notAfter.getTime() <= Date.now() && c.notAfter.getTime() >= cutoff);
      assert.ok(recentlyExpired.length > 0);

      const dry = json(['tidy', 'run', '--dry-run']);
      assert.equal(dry.dryRun, true);
      assert.equal(dry.archived, eligible.length);
      assert.deepEqual(dry.objects, []);
      assert.equal(dry.searchIndexSteps, 0, 'a dry run compacts nothing');
      assert.equal((await everything(store)).size, 500);
      assert.deepEqual(await auditActions(store, 'certificate.archive'), []);
      assert.deepEqual(await new DirectoryTarget('vault', archiveDir).list('tidy/'), []);

      const r = json(['tidy', 'run']);
      assert.equal(r.archived, eligible.length);
      assert.equal(r.objects.length, Math.ceil(eligible.length / 70));
      // SQLite merges the FTS5 index in steps after the removals; PostgreSQL leaves its trigram index to autovacuum.
      if (kind.name === 'PostgreSQL') assert.equal(r.searchIndexSteps, 0);
      else assert.ok(r.searchIndexSteps >= 1, `the name-search index was compacted after the removals (${r.searchIndexSteps} steps)`);
      const afterRun = await everything(store);
      assert.deepEqual([...afterRun.keys()].sort(), [...beforeRun.keys()].filter((s) => !eligible.includes(s)).sort(), 'exactly the eligible ones removed');
      for (const c of recentlyExpired) assert.ok(afterRun.has(c.serial), 'recently expired ones stay');

      // The archives decrypt to exactly the removed certificates, byte for byte.
      const target = new DirectoryTarget('vault', archiveDir);
      const keys = await target.list('tidy/');
      assert.deepEqual(keys.sort(), [...r.objects].sort());
      const archived = [];
      for (const k of keys) archived.push(...readArchive(Buffer.from(PASSPHRASE, 'utf8'), k, (await target.get(k))!));
      assert.deepEqual(archived.map((a) => a.serial).sort(), eligible);
      for (const a of archived) {
        const orig = beforeRun.get(a.serial)!;
        assert.deepEqual(Buffer.from(a.der, 'base64'), Buffer.from(orig.der));
        assert.equal(a.status, orig.status);
        assert.equal(a.notAfter, orig.notAfter.toISOString());
      }
      const first = (await target.get(keys[0]!))!;
      assert.throws(() => readArchive(Buffer.from('another-passphrase-xyz'), keys[0]!, first));

      // One audit entry per batch, naming its object and count; the chain verifies.
      const entries = await auditActions(store, 'certificate.archive');
      assert.equal(entries.length, keys.length);
      assert.deepEqual(entries.map((e) => e.object).sort(), [...keys].sort());
      assert.equal(entries.reduce((n, e) => n + Number(e.count), 0), eligible.length);
      assert.equal(json(['audit', 'verify']).ok, true);

      // A second run finds nothing; the CRL (rebuilt by a revocation) still lists every revoked, unexpired certificate.
      assert.equal(json(['tidy', 'run']).archived, 0);
      const now = new Date();
      const good = [...afterRun.values()].find((c) => c.status === 'good' && c.notAfter > now)!;
      assert.equal(rampart(['revoke', good.serial]).code, 0);
      const issuerId = good.issuerId;
      const listed: string[] = [];
      for await (const e of store.iterateRevoked(issuerId, new Date())) listed.push(e.serialHex);
      assert.deepEqual(listed.sort(), [...afterRun.values()].filter((c) => (c.status === 'revoked' || c.serial === good.serial) && c.notAfter > new Date()).map((c) => c.serial).sort());
    });

    it('refuses to run when tidy is off', async () => {
      const off = join(dir, 'off.yaml');
      writeFileSync(off, 'tidy:\n  archiveExpiredAfterDays: 0\n');
      const r = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', dataDir, '--config', off, 'tidy', 'run'], { encoding: 'utf8', env: { ...process.env, ...kind.env() }, timeout: 120_000 });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /tidy is off/);
    });
  });
}
