/**
 * cfssl serve (CloudFlare's PKI toolkit, Debian package `golang-cfssl`) as the
 * peer of the wrk issuance benchmark: its own ECDSA P-256 root and
 * intermediate made with `cfssl gencert -initca` and `cfssl sign` (profile
 * `intermediate`: CA, path length 0), leaf certificates signed by the
 * intermediate with the profile `server` (90 days, digital signature, server
 * auth) through the auth-less `POST /api/v1/cfssl/sign`, and every issued
 * certificate stored in a SQLite certdb (`-db-config`), whose schema the bench
 * creates itself (cfssl's certdb/sqlite migrations: `certificates` and
 * `ocsp_responses`).
 *
 * Durability of the certdb, as found (see certdbSettings()): cfssl opens it
 * through mattn/go-sqlite3 with the DSN given; without parameters that driver
 * keeps SQLite's rollback journal (journal_mode DELETE: file header bytes
 * 18/19 = 1) and sets `PRAGMA synchronous = NORMAL` on every connection it
 * opens (its default, not SQLite's FULL). BENCH_CFSSL_SQLITE_SYNC=FULL (or
 * OFF, NORMAL, EXTRA) passes `_sync=<mode>` in the DSN instead. Before load,
 * the number of fdatasync/fsync calls per issuance is counted with strace
 * (when available): 3 with NORMAL (journal, its directory, the database), 4
 * with FULL (the journal twice).
 *
 * Everything on 127.0.0.1; the process is stopped by its PID, also on abort,
 * and its temporary directory removed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { findCommand, requireCommand } from '../test/helpers/debian.js';
import { mustOpenssl } from '../test/helpers/openssl.js';
import { freePort } from '../test/helpers/ports.js';
import { onAbort, stopChild } from './bench-util.js';

export const CFSSL_PROFILE = 'server';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const SYNC_MODES = ['OFF', 'NORMAL', 'FULL', 'EXTRA'] as const;

/** BENCH_CFSSL_SQLITE_SYNC: a synchronous mode passed to go-sqlite3 as `_sync`, or undefined (cfssl's default DSN). */
export function cfsslSyncOverride(): string | undefined {
  const raw = process.env.BENCH_CFSSL_SQLITE_SYNC?.trim().toUpperCase();
  if (!raw) return undefined;
  if (!(SYNC_MODES as readonly string[]).includes(raw)) throw new Error(`BENCH_CFSSL_SQLITE_SYNC must be one of ${SYNC_MODES.join(', ')}, got "${raw}"`);
  return raw;
}

/** What the bench found about the certdb's durability settings. */
export interface CertdbSettings {
  dataSource: string;
  /** From the file header (bytes 18 and 19: 1 = rollback journal, 2 = WAL). */
  journalMode: string;
  headerBytes18and19: [number, number];
  /** The synchronous mode cfssl's connections use, and why we say so. */
  synchronous: string;
  synchronousSource: string;
  /** fdatasync + fsync calls of the cfssl process per issuance, counted with strace over the probe requests (null without strace). */
  syncCallsPerIssuance: number | null;
  syncCallsNote: string;
  /** PRAGMA journal_mode / synchronous read by a separate connection (the bench's): synchronous is per connection and says nothing about cfssl's. */
  pragmaFromOtherConnection: { journalMode: string; synchronous: number };
  /** -journal or -wal files next to the database when checked (there should be none while idle in rollback mode). */
  sideFiles: string[];
}

export interface CfsslProbe {
  requests: number;
  rowsBefore: number;
  rowsAfterEach: number[];
  issuer: string;
  subject: string;
  validityDays: number;
  keyUsage: string;
  extKeyUsage: string[];
}

export interface CfsslPeer {
  url: string;
  signUrl: string;
  pid: number;
  version: string;
  dir: string;
  dbPath: string;
  /** Rows in the certdb's certificates table (read by a separate, read-only connection). */
  rowCount(): number;
  /** One request per call, checked (success, certificate from our intermediate, one more certdb row each); syncs counted with strace. */
  probe(csrPem: string, requests?: number): Promise<CfsslProbe>;
  /** Durability settings found on the certdb file (and by the probe). */
  settings(): CertdbSettings;
  logTail(): string;
  stop(): Promise<void>;
}

/** cfssl's certdb SQLite schema: migrations 001_CreateCertificates + 002_AddMetadataToCertificates (github.com/cloudflare/cfssl certdb/sqlite/migrations). */
const CERTDB_SCHEMA = `
CREATE TABLE certificates (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  ca_label                 blob,
  status                   blob NOT NULL,
  reason                   int,
  expiry                   timestamp,
  revoked_at               timestamp,
  pem                      blob NOT NULL,
  issued_at                timestamp,
  not_before               timestamp,
  metadata                 text,
  sans                     text,
  common_name              text,
  PRIMARY KEY(serial_number, authority_key_identifier)
);
CREATE TABLE ocsp_responses (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  body                     blob NOT NULL,
  expiry                   timestamp,
  PRIMARY KEY(serial_number, authority_key_identifier),
  FOREIGN KEY(serial_number, authority_key_identifier) REFERENCES certificates(serial_number, authority_key_identifier)
);
`;

const SIGNING_CONFIG = {
  signing: {
    default: { expiry: '2160h', usages: ['digital signature', 'server auth'] },
    profiles: {
      [CFSSL_PROFILE]: { expiry: '2160h', usages: ['digital signature', 'server auth'] },
      intermediate: { expiry: '43800h', usages: ['cert sign', 'crl sign'], ca_constraint: { is_ca: true, max_path_len: 0, max_path_len_zero: true } },
    },
  },
};

let cfsslPath: string | undefined;
/** Path of cfssl; installed with apt-get (golang-cfssl) when missing and we are root, otherwise an error saying how. */
export function requireCfssl(): string {
  cfsslPath ??= requireCommand('cfssl', 'golang-cfssl');
  return cfsslPath;
}

/** Runs a cfssl subcommand that prints JSON (gencert, sign); returns the parsed output. */
function cfsslJson(args: string[], cwd: string): Record<string, string> {
  const r = spawnSync(requireCfssl(), args, { cwd, encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
  if (r.status !== 0) throw new Error(`cfssl ${args.join(' ')} failed (${r.error?.message ?? r.status ?? r.signal}):\n${`${r.stdout}${r.stderr}`.slice(-2000)}`);
  try {
    return JSON.parse(r.stdout) as Record<string, string>;
  } catch {
    throw new Error(`cfssl ${args.join(' ')} printed no JSON:\n${`${r.stdout}${r.stderr}`.slice(-2000)}`);
  }
}

/** The CA hierarchy in `dir`: root.pem, int.pem, int-key.pem, config.json. */
function makeCa(dir: string): void {
  const csr = (cn: string, ca?: Record<string, string>): string => JSON.stringify({ CN: cn, key: { algo: 'ecdsa', size: 256 }, names: [{ O: 'Rampart bench (cfssl peer)' }], ...(ca ? { ca } : {}) });
  writeFileSync(join(dir, 'root-csr.json'), csr('Bench cfssl Root CA', { expiry: '87600h' }));
  writeFileSync(join(dir, 'int-csr.json'), csr('Bench cfssl Intermediate CA'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(SIGNING_CONFIG, null, 2));
  const root = cfsslJson(['gencert', '-initca', 'root-csr.json'], dir);
  writeFileSync(join(dir, 'root.pem'), root.cert!);
  writeFileSync(join(dir, 'root-key.pem'), root.key!, { mode: 0o600 });
  const int = cfsslJson(['gencert', '-initca', 'int-csr.json'], dir);
  writeFileSync(join(dir, 'int.csr'), int.csr!);
  writeFileSync(join(dir, 'int-key.pem'), int.key!, { mode: 0o600 });
  const signed = cfsslJson(['sign', '-ca', 'root.pem', '-ca-key', 'root-key.pem', '-config', 'config.json', '-profile', 'intermediate', 'int.csr'], dir);
  writeFileSync(join(dir, 'int.pem'), signed.cert!);
  const rootCert = new X509Certificate(root.cert!);
  const intCert = new X509Certificate(signed.cert!);
  if (!intCert.verify(rootCert.publicKey) || !intCert.ca) throw new Error('cfssl made an intermediate that is no CA or not signed by the root');
}

function createCertdb(path: string): void {
  const db = new Database(path);
  try {
    db.exec(CERTDB_SCHEMA);
  } finally {
    db.close();
  }
}

function headerBytes(path: string): [number, number] {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(2);
    readSync(fd, b, 0, 2, 18);
    return [b[0]!, b[1]!];
  } finally {
    closeSync(fd);
  }
}

function waitForPort(port: number, child: ChildProcess, log: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      if (child.exitCode !== null || child.signalCode !== null) return reject(new Error(`cfssl serve exited (${child.exitCode ?? child.signalCode}):\n${log()}`));
      if (Date.now() > deadline) return reject(new Error(`cfssl serve did not listen on 127.0.0.1:${port} within ${timeoutMs} ms:\n${log()}`));
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(); });
      s.once('error', () => { s.destroy(); setTimeout(attempt, 100); });
    };
    attempt();
  });
}

interface SignReply { success?: boolean; result?: { certificate?: string }; errors?: Array<{ code: number; message: string }> }

/** Counts fdatasync/fsync of `pid` (all threads) while `fn` runs; null (with the reason) when strace is missing or cannot attach. */
async function countSyncs<T>(pid: number, fn: () => Promise<T>): Promise<{ value: T; syncs: number | null; note: string }> {
  const strace = findCommand('strace');
  if (!strace) return { value: await fn(), syncs: null, note: 'strace not installed: sync calls not counted' };
  const dir = mkdtempSync(join(tmpdir(), 'rampart-cfssl-strace-'));
  const out = join(dir, 'strace.txt');
  const child = spawn(strace, ['-f', '-c', '-e', 'trace=fsync,fdatasync', '-o', out, '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  const untrack = onAbort(() => stopChild(child, 1_000));
  try {
    let err = '';
    const attached = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 5_000);
      child.stderr.on('data', (d: Buffer) => { err += d.toString(); if (/attached/.test(err)) { clearTimeout(t); resolve(true); } });
      child.once('exit', () => { clearTimeout(t); resolve(false); });
      child.once('error', () => { clearTimeout(t); resolve(false); });
    });
    if (!attached) {
      await stopChild(child, 1_000);
      return { value: await fn(), syncs: null, note: `strace could not attach to cfssl (${err.trim().split('\n').pop() ?? 'no output'}): sync calls not counted` };
    }
    const value = await fn();
    await new Promise((r) => setTimeout(r, 200));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGINT'); // strace detaches and writes its summary
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    await stopChild(child, 1_000);
    const text = existsSync(out) ? readFileSync(out, 'utf8') : '';
    let syncs = 0;
    for (const m of text.matchAll(/^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync)\s*$/gm)) syncs += Number(m[1]);
    return { value, syncs, note: 'strace -f -c -e trace=fsync,fdatasync attached to the cfssl process during the probe requests' };
  } finally {
    untrack();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Starts cfssl serve on 127.0.0.1:<free port> with a fresh CA and an empty SQLite certdb. */
export async function startCfsslPeer(): Promise<CfsslPeer> {
  const cfssl = requireCfssl();
  const sync = cfsslSyncOverride();
  const dir = mkdtempSync(join(tmpdir(), 'rampart-bench-cfssl-'));
  let child: ChildProcess | undefined;
  let untrack = (): void => undefined;
  let logFd: number | undefined;
  const logPath = join(dir, 'cfssl.log');
  const logTail = (): string => { try { return readFileSync(logPath, 'utf8').slice(-3000); } catch { return ''; } };
  try {
    makeCa(dir);
    const dbPath = join(dir, 'certdb.sqlite');
    createCertdb(dbPath);
    const dataSource = sync ? `${dbPath}?_sync=${sync}` : dbPath;
    writeFileSync(join(dir, 'db-config.json'), JSON.stringify({ driver: 'sqlite3', data_source: dataSource }));
    const port = await freePort();
    logFd = openSync(logPath, 'a');
    // -loglevel 2 (warnings and up): cfssl's INFO line per request costs it CPU; the Rampart node logs at warn too.
    child = spawn(cfssl, ['serve', '-address', '127.0.0.1', '-port', String(port), '-ca', 'int.pem', '-ca-key', 'int-key.pem',
      '-config', 'config.json', '-db-config', 'db-config.json', '-loglevel', '2'], { cwd: dir, stdio: ['ignore', logFd, logFd] });
    const started = child;
    untrack = onAbort(async () => { await stopChild(started, 2_000); rmSync(dir, { recursive: true, force: true }); });
    await waitForPort(port, started, logTail, 15_000);
    const pid = started.pid!;
    const url = `http://127.0.0.1:${port}`;
    const signUrl = `${url}/api/v1/cfssl/sign`;
    const version = spawnSync(cfssl, ['version'], { encoding: 'utf8', timeout: 10_000 }).stdout.trim().replace(/\s+/g, ' ');
    const intCert = new X509Certificate(readFileSync(join(dir, 'int.pem')));

    const rowCount = (): number => {
      const db = new Database(dbPath, { readonly: true, fileMustExist: true, timeout: 10_000 });
      try {
        return Number((db.prepare('SELECT count(*) AS n FROM certificates').get() as { n: number }).n);
      } finally {
        db.close();
      }
    };
    let syncCallsPerIssuance: number | null = null;
    let syncCallsNote = 'not probed yet';

    const probe = async (csrPem: string, requests = 3): Promise<CfsslProbe> => {
      const rowsBefore = rowCount();
      const rowsAfterEach: number[] = [];
      let last: X509Certificate | undefined;
      const { syncs, note } = await countSyncs(pid, async () => {
        for (let i = 0; i < requests; i++) {
          const r = await fetch(signUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ certificate_request: csrPem, profile: CFSSL_PROFILE }) });
          const text = await r.text();
          let body: SignReply = {};
          try { body = JSON.parse(text) as SignReply; } catch { /* checked below */ }
          if (r.status !== 200 || body.success !== true || !body.result?.certificate) throw new Error(`cfssl sign did not succeed: HTTP ${r.status} ${text.slice(0, 500)}`);
          last = new X509Certificate(body.result.certificate);
          if (!last.verify(intCert.publicKey)) throw new Error('cfssl returned a certificate not signed by the bench intermediate');
          rowsAfterEach.push(rowCount());
        }
      });
      for (let i = 0; i < requests; i++) {
        if (rowsAfterEach[i] !== rowsBefore + i + 1) {
          throw new Error(`cfssl's certdb did not grow by one row per issuance (rows before ${rowsBefore}, after each of ${requests} requests ${rowsAfterEach.join(', ')}): `
            + 'cfssl is not storing what it signs, so the comparison with Rampart (which stores every certificate durably) would not be like for like');
        }
      }
      syncCallsPerIssuance = syncs === null ? null : Math.round((syncs / requests) * 100) / 100;
      syncCallsNote = `${note}; ${requests} sign requests, one at a time`;
      // The profile, as Rampart's server profile: 90 days, digitalSignature, serverAuth.
      const c = last!;
      const days = Math.round((Date.parse(c.validTo) - Date.parse(c.validFrom)) / 86_400_000);
      const keyUsage = /X509v3 Key Usage:[^\n]*\n\s*([^\n]+)/.exec(mustOpenssl(['x509', '-noout', '-ext', 'keyUsage'], c.toString()))?.[1]?.trim() ?? '';
      const extKeyUsage = c.keyUsage ?? [];
      if (days !== 90 || !/Digital Signature/.test(keyUsage) || !extKeyUsage.includes(SERVER_AUTH)) {
        throw new Error(`cfssl's profile ${CFSSL_PROFILE} does not issue what Rampart's does (90 days, digitalSignature, serverAuth): ${days} days, key usage "${keyUsage}", EKU ${extKeyUsage.join(', ')}`);
      }
      return { requests, rowsBefore, rowsAfterEach, issuer: c.issuer.replace(/\n/g, ', '), subject: c.subject.replace(/\n/g, ', '), validityDays: days, keyUsage, extKeyUsage };
    };

    const settings = (): CertdbSettings => {
      const hb = headerBytes(dbPath);
      // Header 1/1: the legacy rollback journal; go-sqlite3 sets no journal_mode unless the DSN has _journal, so SQLite's default DELETE.
      const journalMode = hb[0] === 2 && hb[1] === 2 ? 'WAL' : hb[0] === 1 && hb[1] === 1 ? 'rollback journal (journal_mode DELETE)' : `unknown (header ${hb.join('/')})`;
      const db = new Database(dbPath, { readonly: true, fileMustExist: true, timeout: 10_000 });
      let pragma: { journalMode: string; synchronous: number };
      try {
        pragma = { journalMode: String(db.pragma('journal_mode', { simple: true })), synchronous: Number(db.pragma('synchronous', { simple: true })) };
      } finally {
        db.close();
      }
      const sideFiles = ['-journal', '-wal', '-shm'].filter((s) => existsSync(`${dbPath}${s}`)).map((s) => `certdb.sqlite${s}`);
      const inferred = syncCallsPerIssuance === null ? '' : syncCallsPerIssuance >= 4 ? ' (consistent with FULL)' : syncCallsPerIssuance >= 3 ? ' (consistent with NORMAL)' : ' (fewer than NORMAL would make)';
      return {
        dataSource: sync ? `<certdb>?_sync=${sync}` : '<certdb> (no DSN parameters)',
        journalMode, headerBytes18and19: hb,
        synchronous: sync ?? 'NORMAL',
        synchronousSource: sync
          ? `BENCH_CFSSL_SQLITE_SYNC=${sync}: go-sqlite3 runs PRAGMA synchronous = ${sync} on each connection`
          : 'mattn/go-sqlite3 (the driver cfssl opens the certdb with) runs `PRAGMA synchronous = NORMAL` on each connection unless the DSN sets _sync; '
            + 'cfssl passes the DSN unchanged; the cfssl binary contains that driver ("PRAGMA synchronous = %s;")'
            + (syncCallsPerIssuance === null ? '' : `; measured: ${syncCallsPerIssuance} fdatasync/fsync per issuance${inferred}`),
        syncCallsPerIssuance, syncCallsNote: `${syncCallsNote}. Rollback journal: NORMAL syncs the journal once, its directory once (the journal is created anew each transaction) and the database once; FULL syncs the journal twice`,
        pragmaFromOtherConnection: pragma, sideFiles,
      };
    };

    const stop = async (): Promise<void> => {
      try {
        await stopChild(started, 5_000);
      } finally {
        untrack();
        if (logFd !== undefined) { try { closeSync(logFd); } catch { /* closed */ } logFd = undefined; }
        rmSync(dir, { recursive: true, force: true });
      }
    };
    return { url, signUrl, pid, version, dir, dbPath, rowCount, probe, settings, logTail, stop };
  } catch (e) {
    if (child) await stopChild(child, 2_000);
    untrack();
    if (logFd !== undefined) { try { closeSync(logFd); } catch { /* closed */ } }
    const tail = logTail();
    rmSync(dir, { recursive: true, force: true });
    if (tail && e instanceof Error && !e.message.includes(tail.slice(-200))) e.message += `\ncfssl log:\n${tail}`;
    throw e;
  }
}
