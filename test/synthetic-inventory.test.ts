/**
 * `rampart inventory synthesize` on SQLite and PostgreSQL: 2,000 real
 * certificates signed by the node's issuing CA. Every row parses, lints
 * clean and is accepted by `openssl verify` against the chain; the revoked
 * ones are revoked in the store with the CRL entry the revocation path
 * encodes; the CRL built afterwards lists exactly the revoked, unexpired
 * ones; one audit entry records the load and the chain verifies; a repeated
 * seed and bad input are refused and change nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import type { CertificateRecord } from '../src/core/types.js';
import { toPem } from '../src/pki/certificate-builder.js';
import { encodeRevokedEntry, parseCrl } from '../src/pki/crl-builder.js';
import { lintCertificate } from '../src/pki/lint/index.js';
import { dnToString } from '../src/pki/names.js';
import type { Store } from '../src/storage/store.js';
import { PostgresStore } from '../src/storage/postgres/postgres-store.js';
import { SqliteStore } from '../src/storage/sqlite/sqlite-store.js';
import { clusterEnv } from './helpers/cluster.js';
import { RAMPART_BIN, removeDir, tempDir } from './helpers/node-process.js';
import { openssl } from './helpers/openssl.js';
import { startPostgres, type PgCluster } from './helpers/postgres.js';

const COUNT = 2000;

interface Kind { name: string; env: () => Record<string, string>; open: (dataDir: string) => Store; stop?: () => Promise<void>; start?: () => Promise<void> }

let pg: PgCluster | undefined;
const kinds: Kind[] = [
  { name: 'SQLite', env: () => ({}), open: (dataDir) => new SqliteStore({ path: join(dataDir, 'rampart.db') }) },
  {
    name: 'PostgreSQL',
    start: async () => { pg = await startPostgres(); },
    stop: async () => { await pg?.stop(); },
    env: () => ({ ...clusterEnv({ hosts: pg!.hosts(), database: 'rampart', mode: 'active-active', nodeId: 'synth-a' }), RAMPART_CLUSTER__MODE: 'single' }),
    open: () => new PostgresStore({ hosts: pg!.hosts(), database: 'rampart', user: 'rampart' }),
  },
];

async function allCertificates(store: Store, now: Date): Promise<CertificateRecord[]> {
  const out: CertificateRecord[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const page = await store.listCertificates({}, { limit: 500, ...(cursor ? { cursor } : {}) }, now);
    out.push(...page.items);
    if (!page.nextCursor) return out;
    cursor = page.nextCursor;
  }
  throw new Error('more pages than expected');
}

for (const kind of kinds) {
  describe(`synthetic inventory (${kind.name})`, () => {
    const dir = tempDir('rampart-synth-');
    const dataDir = join(dir, 'node');
    const rampart = (args: string[]) => {
      const r = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', dataDir, ...args], { encoding: 'utf8', env: { ...process.env, ...kind.env() }, timeout: 300_000 });
      return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    };
    const json = (args: string[]) => {
      const r = rampart(['--json', ...args]);
      assert.equal(r.code, 0, `rampart ${args.join(' ')}: ${r.stderr}${r.stdout}`);
      return JSON.parse(r.stdout);
    };
    let store: Store;
    before(async () => {
      await kind.start?.();
      json(['init']);
      store = kind.open(dataDir);
    });
    after(async () => {
      await store?.close();
      await kind.stop?.();
      removeDir(dir);
    });

    it('refuses bad input and changes nothing', async () => {
      for (const bad of [['--count', '0'], ['--count', '10', '--revoked-fraction', '2'], ['--count', '10', '--expired-fraction', '-1'], ['--count', 'x'], ['--count', '10', '--profile', 'nope']]) {
        const r = rampart(['inventory', 'synthesize', ...bad]);
        assert.equal(r.code, 2, `${bad.join(' ')}: ${r.stderr}`);
      }
      assert.deepEqual(await store.countCertificates(), { total: 0, revoked: 0 });
    });

    it(`stores ${COUNT} real certificates: they verify against the chain, revoked ones are revoked, the CRL lists exactly them`, async () => {
      const r = json(['inventory', 'synthesize', '--count', String(COUNT), '--seed', 'test-seed', '--revoked-fraction', '0.2', '--expired-fraction', '0.25', '--batch-size', '700']);
      assert.equal(r.count, COUNT);
      assert.ok(r.revoked > COUNT * 0.1 && r.revoked < COUNT * 0.3, `revoked ${r.revoked}`);
      assert.ok(r.expired > COUNT * 0.15 && r.expired < COUNT * 0.35, `expired ${r.expired}`);
      assert.deepEqual(await store.countCertificates(), { total: COUNT, revoked: r.revoked });

      const now = new Date();
      const certs = await allCertificates(store, now);
      assert.equal(certs.length, COUNT);
      assert.equal(new Set(certs.map((c) => c.serial)).size, COUNT);
      const issuers = await store.listIssuers();
      const root = issuers.find((i) => i.kind === 'root')!;
      const issuing = issuers.find((i) => i.id === r.issuerId)!;
      const pemDir = join(dir, 'pem');
      mkdirSync(pemDir, { recursive: true });
      writeFileSync(join(dir, 'root.pem'), toPem(root.certDer));
      writeFileSync(join(dir, 'int.pem'), toPem(issuing.certDer));
      const files: string[] = [];
      let expired = 0;
      for (const c of certs) {
        const parsed = AsnConvert.parse(c.der, Certificate);
        assert.equal(Buffer.from(parsed.tbsCertificate.serialNumber).toString('hex').replace(/^00/, ''), c.serial);
        assert.equal(parsed.tbsCertificate.validity.notAfter.getTime().getTime(), c.notAfter.getTime());
        assert.equal(c.issuerId, r.issuerId);
        assert.ok(c.sans.length >= 1 && c.subject.includes(`CN=${c.sans[0]}`), `${c.subject} ${c.sans.join(',')}`);
        if (c.notAfter <= now) expired++;
        const f = join(pemDir, `${c.serial}.pem`);
        writeFileSync(f, toPem(c.der));
        files.push(f);
      }
      assert.equal(expired, r.expired);
      // Every certificate is found by name: the search index got the whole load (on SQLite it is
      // filled once per batch, with the insert trigger dropped and re-created inside the batch).
      for (const c of [...certs.slice(0, 40), ...certs.slice(-40)]) {
        const needle = c.sans[c.sans.length - 1]!;
        const found = await store.listCertificates({ name: needle }, { limit: 50 }, now);
        assert.ok(found.items.some((x) => x.serial === c.serial), `name search for ${needle} finds ${c.serial}`);
      }
      if (kind.name === 'SQLite') {
        const db = new Database(join(dataDir, 'rampart.db'), { readonly: false });
        try {
          db.exec("INSERT INTO certificates_search (certificates_search) VALUES ('integrity-check')");
          assert.equal((db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'trigger' AND name = 'certificates_search_insert'").get() as { n: number }).n, 1);
        } finally {
          db.close();
        }
      }
      for (const c of certs.slice(0, 100)) {
        assert.equal(c.subject, dnToString(AsnConvert.parse(c.der, Certificate).tbsCertificate.subject));
        assert.deepEqual(lintCertificate(c.der, 'tls-server').filter((f) => f.severity === 'error'), [], c.serial);
      }
      // Expired ones too: -no_check_time (the signature, chain and extensions are what is checked here).
      for (let i = 0; i < files.length; i += 500) {
        const v = openssl(['verify', '-no_check_time', '-x509_strict', '-purpose', 'sslserver', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'int.pem'), ...files.slice(i, i + 500)]);
        assert.equal(v.code, 0, v.out.slice(0, 2000));
        assert.equal(v.out.split('\n').filter((l) => l.endsWith(': OK')).length, Math.min(500, files.length - i));
      }

      // Revoked in the store, each with the CRL entry the revocation path encodes.
      const revoked = certs.filter((c) => c.status === 'revoked');
      assert.equal(revoked.length, r.revoked);
      for (const c of revoked) {
        assert.ok(c.revokedAt && c.revokedAt >= c.notBefore && c.revokedAt <= now && c.revocationReason !== null);
        const shown = json(['certs', 'show', c.serial]);
        assert.equal(shown.status, 'revoked');
        if (revoked.indexOf(c) >= 2) break;
      }
      const stored = new Map<string, Uint8Array | undefined>();
      for await (const e of store.iterateRevoked(r.issuerId, now)) stored.set(e.serialHex, e.der);
      const revokedValid = revoked.filter((c) => c.notAfter > now);
      assert.deepEqual([...stored.keys()].sort(), revokedValid.map((c) => c.serial).sort());
      for (const c of revokedValid) {
        assert.deepEqual(stored.get(c.serial), encodeRevokedEntry({ serialHex: c.serial, revokedAt: c.revokedAt!, reason: c.revocationReason! }));
      }
      assert.equal((await store.revocationsSince(0, 10_000)).length, r.revoked);

      // A normal revocation rebuilds the CRL: it lists exactly the revoked, unexpired certificates.
      const good = certs.find((c) => c.status === 'good' && c.notAfter > now)!;
      const rv = rampart(['revoke', good.serial, '--reason', 'superseded']);
      assert.equal(rv.code, 0, rv.stderr);
      const crl = await store.latestCrl(r.issuerId);
      assert.ok(crl);
      const listed = parseCrl(crl.der).entries.map((e) => e.serialHex.replace(/^00/, '')).sort();
      assert.deepEqual(listed, [...revokedValid.map((c) => c.serial), good.serial].sort());

      // One audit entry for the load, and the chain verifies.
      const entries = [];
      for await (const e of store.iterateAudit()) if (e.action === 'inventory.synthesize') entries.push(e);
      assert.equal(entries.length, 1);
      assert.equal(entries[0]!.outcome, 'success');
      assert.deepEqual([entries[0]!.details?.requested, entries[0]!.details?.stored, entries[0]!.details?.seed], [COUNT, COUNT, 'test-seed']);
      assert.equal(json(['audit', 'verify']).ok, true);
    });

    it('the same seed again is refused and changes nothing', async () => {
      const before = await store.countCertificates();
      const r = rampart(['inventory', 'synthesize', '--count', '10', '--seed', 'test-seed']);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /already stored/);
      assert.deepEqual(await store.countCertificates(), before);
    });
  });
}
