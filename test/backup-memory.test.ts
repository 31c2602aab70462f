/**
 * Backups stream in bounded memory: a SQLite database grown by ~300 MiB of
 * incompressible rows is backed up (`rampart backup create`) and restored
 * (`rampart restore`) by CLI processes whose peak RSS (VmHWM, sampled from
 * /proc/PID/status until exit) grows less than 200 MB over the same commands
 * on the database before it grew. The restored rows are identical, the
 * plaintext snapshot is gone from the data directory, stdout holds only the
 * result and --json progress goes to stderr as JSON lines.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { loadConfig, resolvedPaths } from '../src/config/load.js';
import { RAMPART_BIN, removeDir, tempDir } from './helpers/node-process.js';

const dir = tempDir('rampart-backup-mem-');
const offsite = join(dir, 'offsite');
const cfgFile = join(dir, 'rampart.yaml');
const ENV = { RAMPART_KEY_PASSPHRASE: 'node-key-passphrase-0123', RAMPART_BACKUP_PASSPHRASE: 'backup-passphrase-0123', RAMPART_CONFIG: cfgFile };
const src = join(dir, 'src');
const ROWS = 4800; // × 64 KiB = 300 MiB
const LIMIT_MB = 200;

interface Measured { code: number; stdout: string; stderr: string; peakMb: number }

/** Runs the CLI and samples its VmHWM (peak RSS) every 20 ms until it exits. */
function measured(dataDir: string, args: string[]): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RAMPART_BIN, '--data-dir', dataDir, '--json', ...args], { env: { ...process.env, ...ENV } });
    let stdout = '';
    let stderr = '';
    let peakKb = 0;
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const sample = (): void => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peakKb = Math.max(peakKb, Number(m[1]));
      } catch { /* exited */ }
    };
    const timer = setInterval(sample, 20);
    const kill = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearInterval(timer);
      clearTimeout(kill);
      resolve({ code: code ?? -1, stdout, stderr, peakMb: peakKb / 1024 });
    });
  });
}

function ok(r: Measured, what: string): any {
  assert.equal(r.code, 0, `${what}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout);
}

function bulkDigest(dbPath: string): { rows: number; sha256: string } {
  const db = new Database(dbPath, { readonly: true });
  try {
    const h = createHash('sha256');
    let rows = 0;
    for (const r of db.prepare('SELECT id, b FROM bulk_test ORDER BY id').iterate() as Iterable<{ id: number; b: Buffer }>) {
      h.update(String(r.id)).update(r.b);
      rows++;
    }
    return { rows, sha256: h.digest('hex') };
  } finally {
    db.close();
  }
}

describe('backup and restore in bounded memory', () => {
  const dbPath = (dataDir: string) => resolvedPaths(loadConfig({ env: {}, overrides: { dataDir } })).dbPath;
  const base = { create: 0, restore: 0 };

  before(() => {
    writeFileSync(cfgFile, `backup:\n  targets:\n    - { type: directory, name: offsite, path: ${offsite} }\n`);
    const r = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', src, '--json', 'init'], { encoding: 'utf8', env: { ...process.env, ...ENV }, timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr + r.stdout);
  });
  after(() => removeDir(dir));

  it('baseline: create and restore of the small database', async () => {
    const b = ok(await measured(src, ['backup', 'create']), 'backup create (small)');
    base.create = (await measured(src, ['backup', 'create'])).peakMb;
    ok(await measured(join(dir, 'small-a'), ['restore', '--backup', b.id]), 'restore (small)');
    base.restore = (await measured(join(dir, 'small-b'), ['restore', '--backup', b.id])).peakMb;
    console.log(`# baseline peak RSS: create ${base.create.toFixed(0)} MB, restore ${base.restore.toFixed(0)} MB`);
  });

  it(`a database grown by ${ROWS * 64 / 1024} MiB: create and restore stay within +${LIMIT_MB} MB and restore gives back identical rows`, async () => {
    const db = new Database(dbPath(src));
    db.exec('CREATE TABLE bulk_test (id INTEGER PRIMARY KEY, b BLOB NOT NULL)');
    db.exec(`INSERT INTO bulk_test (b) WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ${ROWS}) SELECT randomblob(65536) FROM n`);
    db.close();
    const want = bulkDigest(dbPath(src));
    assert.equal(want.rows, ROWS);

    const c = await measured(src, ['backup', 'create']);
    const b = ok(c, 'backup create');
    assert.equal(b.ok, true);
    assert.ok(b.sizeBytes > ROWS * 65536, `backup size ${b.sizeBytes}`);
    const progress = c.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l).progress);
    assert.ok(progress.some((p) => p.phase === 'snapshot' && p.done), c.stderr);
    const up = progress.find((p) => p.phase === 'upload' && p.done);
    assert.ok(up && up.bytes === up.total && up.total > ROWS * 65536, c.stderr);
    assert.deepEqual(readdirSync(src).filter((n) => n.startsWith('.backup-tmp-')), [], 'the plaintext snapshot is removed');

    const into = join(dir, 'restored');
    const r = await measured(into, ['restore', '--backup', b.id]);
    assert.equal(ok(r, 'restore').id, b.id);
    assert.deepEqual(bulkDigest(dbPath(into)), want);

    console.log(`# ${ROWS * 64} KiB of rows: backup create peak RSS ${c.peakMb.toFixed(0)} MB (+${(c.peakMb - base.create).toFixed(0)}), restore ${r.peakMb.toFixed(0)} MB (+${(r.peakMb - base.restore).toFixed(0)})`);
    assert.ok(c.peakMb - base.create < LIMIT_MB, `backup create grew by ${(c.peakMb - base.create).toFixed(0)} MB`);
    assert.ok(r.peakMb - base.restore < LIMIT_MB, `restore grew by ${(r.peakMb - base.restore).toFixed(0)} MB`);
  });
});
