/**
 * Point-in-time restore on a real PostgreSQL cluster: archive_command runs
 * the real CLI (`rampart pitr wal-push`) as the postgres OS user, a Rampart
 * store writes certificates, `rampart pitr base` takes a base backup, and
 * `rampart pitr restore --to-time T` brings a new data directory on another
 * port back to T: every certificate written before T, none after. A wrong
 * passphrase and a time before the first base backup fail clearly.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, postgresBinDir, type PgCluster } from './helpers/postgres.js';
import { freePort } from './helpers/ports.js';
import { WAL_ENTRY, archiveCommand } from '../src/backup/pitr/pitr-invocation.js';
import { PostgresStore } from '../src/storage/postgres/postgres-store.js';
import type { CertificateRecord, IssuerRecord } from '../src/core/types.js';
import type { RestoreReport } from '../src/backup/pitr/pitr-restore.js';

const REPO = new URL('..', import.meta.url).pathname;
const PASSPHRASE = 'pitr-test-passphrase-0123';
const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isRoot = process.getuid?.() === 0;

const issuer: IssuerRecord = {
  id: 'int-pitr', kind: 'intermediate', subject: 'CN=int-pitr', parentId: null, certDer: new Uint8Array([1, 2, 3]), keyRef: 'k-int-pitr',
  keyBackend: 'software', notBefore: new Date(T0), notAfter: new Date(T0 + 1000 * DAY), active: true, createdAt: new Date(T0),
};
const cert = (serial: string): CertificateRecord => ({
  serial, issuerId: issuer.id, profile: 'server', subject: `CN=${serial}.example.test`, sans: [`${serial}.example.test`],
  notBefore: new Date(T0), notAfter: new Date(T0 + 90 * DAY), der: new Uint8Array(Buffer.from(`der:${serial}`)), status: 'good',
  revokedAt: null, revocationReason: null, createdAt: new Date(), requester: 'token:pitr',
});

interface CliResult { code: number; stdout: string; stderr: string }
const cli = (args: string[], env: Record<string, string> = {}) => run([join(REPO, 'bin/rampart.mjs'), ...args], env);
const walEntry = (args: string[], env: Record<string, string> = {}) => run([WAL_ENTRY, ...args], env);
function run(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: REPO, env: { ...process.env, RAMPART_BACKUP_PASSPHRASE: PASSPHRASE, ...env }, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

describe('PostgreSQL point-in-time restore (rampart pitr)', { skip: !isRoot && 'needs root (PostgreSQL runs as the postgres user)' }, () => {
  let root: string;
  let targetDir: string;
  let pg: PgCluster;
  let store: PostgresStore;
  let restored: string | undefined;
  const timings: Record<string, number> = {};

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'rampart-pitr-'));
    chmodSync(root, 0o755);
    targetDir = join(root, 'archive');
    mkdirSync(targetDir, { mode: 0o700 });
    const pgUid = Number((await new Promise<string>((r) => execFile('id', ['-u', 'postgres'], (_e, o) => r(o)))).trim());
    chownSync(targetDir, pgUid, -1);
    // The postmaster (and so archive_command) inherits our environment.
    process.env.RAMPART_BACKUP_PASSPHRASE = PASSPHRASE;
    const cmd = archiveCommand({ targetDirs: [targetDir], passphraseEnv: 'RAMPART_BACKUP_PASSPHRASE' });
    pg = await startPostgres({ settings: { archive_mode: 'on', archive_command: `'${cmd.replace(/'/g, "''")}'`, archive_timeout: "'10s'", wal_level: 'replica' } });
    store = new PostgresStore({ hosts: pg.hosts(), database: 'rampart', user: 'rampart', max: 4, connectTimeoutSeconds: 2, retryForMs: 5000 });
    await store.migrate();
    await store.saveIssuer(issuer);
  });

  after(async () => {
    await store?.close();
    if (restored && existsSync(join(restored, 'postmaster.pid'))) {
      await new Promise((r) => execFile('runuser', ['-u', 'postgres', '--', join(postgresBinDir(), 'pg_ctl'), 'stop', '-m', 'immediate', '-D', restored!], r));
    }
    await pg?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
    if (Object.keys(timings).length) console.log(`pitr timings (s): ${JSON.stringify(timings)}`);
  });

  /** Switches to a new segment and waits until the archiver has stored the one just finished. */
  async function switchAndWaitArchived(): Promise<void> {
    const done = await pg.psql('SELECT pg_walfile_name(pg_switch_wal())');
    const deadline = Date.now() + 30_000;
    for (;;) {
      const [archived, failed] = (await pg.psql("SELECT coalesce(last_archived_wal, ''), coalesce(last_failed_wal, '') FROM pg_stat_archiver")).split('|');
      if (archived! >= done) return;
      if (Date.now() > deadline) throw new Error(`${done} not archived (last archived ${archived}, last failed ${failed})`);
      await sleep(200);
    }
  }

  const batchA = Array.from({ length: 20 }, (_, i) => `a${String(i).padStart(3, '0')}`);
  const batchB = Array.from({ length: 20 }, (_, i) => `b${String(i).padStart(3, '0')}`);
  let targetTime: string;

  it('archives WAL through the CLI, takes a base backup, and restores to T: all of A, none of B', async () => {
    let t = Date.now();
    await switchAndWaitArchived();
    timings.firstArchive = (Date.now() - t) / 1000;

    t = Date.now();
    const base = await cli(['--json', 'pitr', 'base', '--target-dir', targetDir, '--host', '127.0.0.1', '--port', String(pg.primary.port), '--user', 'postgres', '--dbname', 'postgres']);
    assert.equal(base.code, 0, base.stderr);
    timings.baseBackup = (Date.now() - t) / 1000;
    const manifest = JSON.parse(base.stdout) as { id: string; timeline: number; startLsn: string; finishedAt: string; tarBytes: number };
    assert.equal(manifest.timeline, 1);

    for (const s of batchA) await store.insertCertificate(cert(s));
    await switchAndWaitArchived();
    await sleep(1000);
    targetTime = new Date(await pg.psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")).toISOString();
    await sleep(1000);
    for (const s of batchB) await store.insertCertificate(cert(s));
    t = Date.now();
    await switchAndWaitArchived();
    timings.archiveAfterB = (Date.now() - t) / 1000;

    const port = await freePort();
    restored = join(root, 'restored');
    t = Date.now();
    const r = await cli(['--json', 'pitr', 'restore', '--target-dir', targetDir, '--to-time', targetTime, '--pgdata', restored, '--port', String(port), '--timeout-seconds', '60']);
    timings.restore = (Date.now() - t) / 1000;
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    const report = JSON.parse(r.stdout) as RestoreReport;
    assert.equal(report.baseBackup, manifest.id);
    assert.equal(report.timeline, 2);
    assert.match(report.stopReason ?? '', /before|after/);
    timings.restoreRecovery = report.seconds.recovery;
    // --json: progress as JSON lines on stderr (src/cli/progress-view.ts): the base backup unpacked
    // in bytes, then WAL files replayed, each phase ending with done.
    const events = r.stderr.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l).progress);
    const unpacked = events.find((p) => p.phase === 'unpack' && p.done);
    assert.ok(unpacked && unpacked.bytes === manifest.tarBytes, r.stderr);
    const replayed = events.find((p) => p.phase === 'replay' && p.done);
    assert.ok(replayed && replayed.steps === report.walFilesRestored, r.stderr);

    const back = new PostgresStore({ hosts: [`127.0.0.1:${port}`], database: 'rampart', user: 'rampart', max: 2, connectTimeoutSeconds: 2, retryForMs: 0 });
    try {
      for (const s of batchA) assert.ok(await back.getCertificate(s), `certificate ${s} (before T) is missing`);
      for (const s of batchB) assert.equal(await back.getCertificate(s), null, `certificate ${s} (after T) is present`);
      await back.insertCertificate(cert('after-restore')); // promoted: writable
    } finally {
      await back.close();
    }
  });

  it('fails clearly: wrong passphrase (nothing left behind), a time before the first base backup', async () => {
    const dir = join(root, 'wrong-pass');
    const [wrong, early] = await Promise.all([
      cli(['pitr', 'restore', '--target-dir', targetDir, '--to-time', targetTime, '--pgdata', dir, '--port', String(await freePort())],
        { RAMPART_BACKUP_PASSPHRASE: 'not-the-right-passphrase' }),
      cli(['pitr', 'restore', '--target-dir', targetDir, '--to-time', '2020-01-01T00:00:00Z', '--pgdata', join(root, 'too-early'), '--port', String(await freePort())]),
    ]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /wrong backup passphrase/);
    assert.equal(existsSync(dir), false);
    assert.notEqual(early.code, 0);
    assert.match(early.stderr, /no base backup was complete by 2020-01-01T00:00:00.000Z/);
  });

  it('wal-push is idempotent for the same content and refuses different content; wal-fetch exit statuses', async () => {
    const name = '000000010000000000000001';
    const fetched = await walEntry(['wal-fetch', '--target-dir', targetDir, name, join(root, 'seg')]);
    assert.equal(fetched.code, 0, fetched.stderr);
    writeFileSync(join(root, 'other'), 'not the same segment');
    const [same, conflict, missing, wrongPass] = await Promise.all([
      cli(['pitr', 'wal-push', '--target-dir', targetDir, join(root, 'seg'), name]), // the full CLI command, as documented
      walEntry(['wal-push', '--target-dir', targetDir, join(root, 'other'), name]),
      walEntry(['wal-fetch', '--target-dir', targetDir, '0000000100000000000000FF', join(root, 'nope')]),
      walEntry(['wal-fetch', '--target-dir', targetDir, name, join(root, 'nope')], { RAMPART_BACKUP_PASSPHRASE: 'not-the-right-passphrase' }),
    ]);
    assert.equal(same.code, 0, same.stderr);
    assert.equal(conflict.code, 1);
    assert.match(conflict.stderr, /different content/);
    assert.equal(missing.code, 1, 'not archived: exit 1 (PostgreSQL treats it as the end of the archive)');
    assert.equal(wrongPass.code, 126, 'cannot decrypt: exit 126 (PostgreSQL stops recovery)');
    assert.match(wrongPass.stderr, /wrong backup passphrase/);
  });
});
