/**
 * Backup and restore end to end on a real PostgreSQL: a node on PostgreSQL
 * (single mode) issues certificates and revokes one; `rampart backup create`
 * (pg_dump --format=custom in a repeatable-read snapshot); `rampart restore
 * --database-url` into a second, empty database on the same server; the
 * restored database has the same certificates, revocations and audit entries,
 * its audit chain verifies (`rampart audit verify` on it) and the revoked
 * certificate is still revoked. A tampered or truncated dump fails and
 * leaves the database empty; a restore into a non-empty database is refused
 * and changes nothing. `restore --reconcile-from-audit` puts back what was
 * issued and revoked after the backup from the node's forwarded audit copy
 * (JSON lines); a copy that does not exist is refused before anything is done.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call, type ApiResponse } from './helpers/api-client.js';
import { clusterEnv } from './helpers/cluster.js';
import { RAMPART_BIN, removeDir, startNode, tempDir, type NodeProcess } from './helpers/node-process.js';
import { makeCsr } from './helpers/openssl.js';
import { startPostgres, type PgCluster } from './helpers/postgres.js';
import { waitUntil } from '../src/core/wait.js';

const dir = tempDir('rampart-backup-pg-');
const offsite = join(dir, 'offsite');
const cfgFile = join(dir, 'rampart.yaml');
const auditCopy = join(dir, 'siem', 'audit.jsonl');
/** The nodes on the live database forward their audit log to a JSON-lines copy (as a SIEM keeps it). */
const forward = { RAMPART_AUDIT__FORWARD: JSON.stringify([{ type: 'jsonl', name: 'siem', path: auditCopy }]), RAMPART_AUDIT__FORWARD_EVERY_SECONDS: '1' };

describe('backup and restore (PostgreSQL)', () => {
  let pg: PgCluster;
  let node: NodeProcess | undefined;
  let env: Record<string, string> = {};
  const serials: string[] = [];
  let revokedSerial = '';
  let backupId = '';

  const rampart = (dataDir: string, args: string[], extra: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', dataDir, ...args], { encoding: 'utf8', env: { ...process.env, ...env, ...extra }, timeout: 60_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const json = (dataDir: string, args: string[], extra: Record<string, string> = {}) => {
    const r = rampart(dataDir, ['--json', ...args], extra);
    assert.equal(r.code, 0, `rampart ${args.join(' ')}: ${r.stderr}${r.stdout}`);
    return JSON.parse(r.stdout);
  };
  /** Row counts of one database, straight from psql. */
  const counts = async (db: string) => {
    const q = async (sql: string) => Number(await pg.psql(sql, undefined, db));
    return {
      certificates: await q('SELECT count(*) FROM certificates'),
      revoked: await q("SELECT count(*) FROM certificates WHERE status = 'revoked'"),
      audit: await q('SELECT count(*) FROM audit_log'),
      issuers: await q('SELECT count(*) FROM issuers'),
    };
  };

  before(async () => {
    pg = await startPostgres();
    writeFileSync(cfgFile, `backup:\n  targets:\n    - { type: directory, name: offsite, path: ${offsite} }\n`);
    env = {
      ...clusterEnv({ hosts: pg.hosts(), database: 'rampart', mode: 'active-active', nodeId: 'pg-a' }),
      RAMPART_CLUSTER__MODE: 'single',
      RAMPART_BACKUP_PASSPHRASE: 'backup-passphrase-0123',
      RAMPART_CONFIG: cfgFile,
    };
  });
  after(async () => {
    await node?.stop();
    await pg?.stop();
    removeDir(dir);
  });

  it('a node on PostgreSQL issues and revokes; backup create dumps the database', async () => {
    node = await startNode({ dataDir: join(dir, 'node'), env: { ...env, ...forward } });
    const token = node.adminToken!;
    assert.ok(token);
    const ca = String((await call(`${node.httpUrl}/ca/bundle.pem`)).body);
    for (let i = 0; i < 3; i++) {
      const { csrPath } = makeCsr(dir, `leaf${i}`, { subj: `/CN=p${i}.example.test`, san: `DNS:p${i}.example.test` });
      const r: ApiResponse = await call(`${node.httpsUrl}/api/v1/certificates`, { token, ca, json: { csr: readFileSync(csrPath, 'utf8'), profile: 'server' } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      serials.push(r.body.serial);
    }
    revokedSerial = serials[1]!;
    const rv: ApiResponse = await call(`${node.httpsUrl}/api/v1/certificates/${revokedSerial}/revoke`, { token, ca, json: { reason: 'keyCompromise' } });
    assert.equal(rv.status, 200, JSON.stringify(rv.body));

    const t0 = performance.now();
    const b = json(node.dataDir, ['backup', 'create']);
    console.log(`# backup create (PostgreSQL, CLI incl. process start) ${Math.round(performance.now() - t0)} ms, backup ${b.durationMs} ms, ${b.sizeBytes} bytes`);
    assert.equal(b.ok, true, JSON.stringify(b));
    assert.deepEqual(b.targets, [{ target: 'offsite', ok: true }]);
    assert.ok(b.counts.certificates >= 3);
    assert.equal(b.counts.revoked, 1);
    backupId = b.id;
    // (list and verify are the same code for both databases: test/backup-restore.test.ts; restore verifies every part.)
  });

  it('restore --database-url into an empty database: same records, audit chain verifies, revoked stays revoked', async () => {
    const source = await counts('rampart');
    await pg.createDatabase('restored');
    const url = `postgres://rampart@${pg.primary.host}/restored`;
    const t0 = performance.now();
    const r = json(join(dir, 'restore-cli'), ['restore', '--backup', backupId, '--database-url', url]);
    console.log(`# restore (PostgreSQL, CLI incl. process start) ${Math.round(performance.now() - t0)} ms`);
    assert.equal(r.id, backupId);
    assert.ok(r.checks.some((c: string) => /audit chain verifies/.test(c)), r.checks.join('; '));

    const restored = await counts('restored');
    assert.equal(restored.certificates, r.counts.certificates);
    assert.equal(restored.revoked, r.counts.revoked);
    assert.equal(restored.issuers, r.counts.issuers);
    // The restore adds one audit entry (backup.restore) to the backed-up chain.
    assert.equal(restored.audit, r.counts.auditEntries + 1);
    // The source only gained audit entries (backup create) since the snapshot.
    assert.equal(restored.certificates, source.certificates);
    assert.equal(restored.revoked, source.revoked);
    assert.ok(source.audit >= r.counts.auditEntries);
    assert.equal(await pg.psql(`SELECT status FROM certificates WHERE serial = '${revokedSerial}'`, undefined, 'restored'), 'revoked');
    for (const s of serials.filter((x) => x !== revokedSerial)) {
      assert.equal(await pg.psql(`SELECT status FROM certificates WHERE serial = '${s}'`, undefined, 'restored'), 'good');
    }
    assert.equal(await pg.psql("SELECT action FROM audit_log ORDER BY seq DESC LIMIT 1", undefined, 'restored'), 'backup.restore');

    // A node's CLI on the restored database: the audit chain verifies, the certificate shows as revoked.
    const onRestored = { RAMPART_DATABASE__DATABASE: 'restored' };
    const audit = json(join(dir, 'cli-restored'), ['audit', 'verify'], onRestored);
    assert.equal(audit.ok, true, JSON.stringify(audit));

    // A node serving from the restored database (the live one is stopped first): the same token works, the revocation is there.
    const token = node!.adminToken!;
    await node!.stop();
    const nodeB = await startNode({ dataDir: join(dir, 'node-restored'), env: { ...env, ...onRestored } });
    try {
      assert.equal(nodeB.adminToken, null, 'the restored database already has a hierarchy');
      const ca = String((await call(`${nodeB.httpUrl}/ca/bundle.pem`)).body);
      const got: ApiResponse = await call(`${nodeB.httpsUrl}/api/v1/certificates/${revokedSerial}`, { token, ca });
      assert.equal(got.status, 200, JSON.stringify(got.body));
      assert.equal(got.body.status, 'revoked', JSON.stringify(got.body));
    } finally {
      await nodeB.stop();
    }
  });

  it('a tampered or truncated dump (streamed into pg_restore) fails clearly and leaves the database empty', async () => {
    await pg.createDatabase('tampered');
    const url = `postgres://rampart@${pg.primary.host}/tampered`;
    for (const [label, damage] of [
      ['flipped', (d: Buffer) => { d[d.length - 40] ^= 0x01; return d; }],
      ['truncated', (d: Buffer) => d.subarray(0, d.length - 20)],
    ] as const) {
      const from = join(dir, `from-${label}`);
      cpSync(offsite, from, { recursive: true });
      const f = join(from, 'backups', backupId, 'database.pgdump');
      writeFileSync(f, damage(readFileSync(f)));
      const r = rampart(join(dir, `restore-${label}`), ['restore', '--backup', backupId, '--from-dir', from, '--database-url', url]);
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(r.stderr, /database\.pgdump: the object is truncated or altered/, label);
      assert.equal(await pg.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", undefined, 'tampered'), '0', label);
    }
  });

  it('restore into a non-empty database is refused and changes nothing', async () => {
    const before = await counts('restored');
    const lastBefore = await pg.psql('SELECT max(seq) FROM audit_log', undefined, 'restored');
    const url = `postgres://rampart@${pg.primary.host}/restored`;
    const r = rampart(join(dir, 'restore-again'), ['restore', '--backup', backupId, '--database-url', url]);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /refusing to restore into .*restored.*not empty/);
    assert.deepEqual(await counts('restored'), before);
    assert.equal(await pg.psql('SELECT max(seq) FROM audit_log', undefined, 'restored'), lastBefore);
  });

  it('restore --reconcile-from-audit: what was issued and revoked after the backup comes back from the audit copy', async () => {
    const token = node!.adminToken!;
    const live = await startNode({ dataDir: join(dir, 'node'), env: { ...env, ...forward } });
    const late: string[] = [];
    try {
      const ca = String((await call(`${live.httpUrl}/ca/bundle.pem`)).body);
      for (let i = 0; i < 2; i++) {
        const { csrPath } = makeCsr(dir, `late${i}`, { subj: `/CN=late${i}.example.test`, san: `DNS:late${i}.example.test` });
        const r: ApiResponse = await call(`${live.httpsUrl}/api/v1/certificates`, { token, ca, json: { csr: readFileSync(csrPath, 'utf8'), profile: 'server' } });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        late.push(r.body.serial);
      }
      assert.equal((await call(`${live.httpsUrl}/api/v1/certificates/${late[0]}/revoke`, { token, ca, json: { reason: 'superseded' } })).status, 200);
      await waitUntil('the audit copy to hold the late issuances and the revocation', async () => {
        const text = existsSync(auditCopy) ? readFileSync(auditCopy, 'utf8') : '';
        return late.every((s) => text.includes(`"serial:${s}"`)) && text.split('\n').some((l) => l.includes('"certificate.revoke"') && l.includes(`"serial:${late[0]}"`));
      }, 30_000, 200);
    } finally {
      await live.stop();
    }

    // A copy that does not exist: refused before anything is restored.
    const emptyUrl = `postgres://rampart@${pg.primary.host}/tampered`;
    const missing = rampart(join(dir, 'restore-no-copy'), ['restore', '--backup', backupId, '--database-url', emptyUrl, '--reconcile-from-audit', join(dir, 'no-such-copy.jsonl')]);
    assert.notEqual(missing.code, 0, missing.stdout);
    assert.match(missing.stderr, /no such file or directory: .*no-such-copy\.jsonl/);
    assert.equal(await pg.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", undefined, 'tampered'), '0');

    await pg.createDatabase('reconciled');
    const url = `postgres://rampart@${pg.primary.host}/reconciled`;
    const r = json(join(dir, 'restore-reconcile'), ['restore', '--backup', backupId, '--database-url', url, '--reconcile-from-audit', auditCopy]);
    assert.deepEqual([r.reconcile.restored, r.reconcile.revoked, r.reconcile.unrecoverable], [late, [late[0]], []]);
    for (const [s, status] of [...serials.map((x) => [x, x === revokedSerial ? 'revoked' : 'good']), [late[0], 'revoked'], [late[1], 'good']]) {
      assert.equal(await pg.psql(`SELECT status FROM certificates WHERE serial = '${s}'`, undefined, 'reconciled'), status, s);
    }
    assert.equal(await pg.psql('SELECT action FROM audit_log ORDER BY seq DESC LIMIT 1', undefined, 'reconciled'), 'integrity.reconcile');
    const audit = json(join(dir, 'cli-reconciled'), ['audit', 'verify'], { RAMPART_DATABASE__DATABASE: 'reconciled' });
    assert.equal(audit.ok, true, JSON.stringify(audit));
  });
});
