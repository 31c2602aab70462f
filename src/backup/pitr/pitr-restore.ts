/**
 * `rampart pitr restore --to-time T`: the newest base backup complete by T,
 * decrypted into a new data directory, recovery settings (restore_command =
 * `rampart pitr wal-fetch`, recovery_target_time = T, promote at the
 * target), PostgreSQL started on the given port, and a wait until recovery
 * has ended and the server is promoted. Failures are told apart: no base
 * backup before T, WAL missing from the archive, wrong passphrase, recovery
 * errors (with the server log's last lines).
 */
import { createHash } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync, appendFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ProgressMeter, StepMeter, type OnProgress } from '../../core/progress.js';
import { BackupDecryptError, decryptObject } from '../envelope.js';
import type { BackupTarget } from '../target.js';
import { listBaseBackups, pickBaseBackup, type BaseManifest } from './base-catalog.js';
import { isRoot, type PgTools } from './pg-tools.js';
import { PitrError } from './pitr-error.js';
import { listArchivedWal } from './wal-archive.js';
import { segmentRange } from './wal-names.js';
import { firstGapAfter, parseRecoveryLog, readTimelineHistory } from './recovery-report.js';

export interface RestoreOptions {
  targets: BackupTarget[];
  secret: Uint8Array;
  toTime: Date;
  pgdata: string;
  port: number;
  tools: PgTools;
  /** restore_command up to (not including) `%f "%p"`: the shell command that runs `rampart pitr wal-fetch` with its options. */
  fetchCommand: string;
  /** recovery_target_timeline (default 'latest': follows a failover's promotion). */
  timeline?: string;
  /** Keep archive_mode from the backup (default false: a restored copy does not archive into the same targets). */
  keepArchiving?: boolean;
  timeoutMs?: number;
  log?: (msg: string) => void;
  /** Progress: 'unpack' in bytes of the base backup, then 'replay' in WAL files (of those archived since the base backup). */
  onProgress?: OnProgress;
}

export interface RestoreReport {
  baseBackup: string;
  baseFinishedAt: string;
  targetTime: string;
  pgdata: string;
  port: number;
  logFile: string;
  timeline: number | null;
  switchLsn: string | null;
  stopReason: string | null;
  lastTransactionAt: string | null;
  stoppedBefore: string | null;
  walFilesRestored: number;
  seconds: { extract: number; recovery: number; total: number };
}

export const pgTimestamp = (d: Date) => d.toISOString().replace('T', ' ').replace('Z', '+00');
const confString = (s: string) => `'${s.replace(/'/g, "''")}'`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function osIds(user: string): { uid: number; gid: number } {
  return {
    uid: Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim()),
  };
}

function preparePgdata(pgdata: string, osUser: string): (path: string) => void {
  if (existsSync(pgdata) && readdirSync(pgdata).length > 0) throw new PitrError('pgdata-not-empty', `${pgdata} exists and is not empty; restore into a new directory`);
  mkdirSync(pgdata, { recursive: true, mode: 0o700 });
  if (!isRoot()) return () => undefined;
  const { uid, gid } = osIds(osUser);
  const own = (p: string) => chownSync(p, uid, gid);
  own(pgdata);
  return own;
}

async function extract(o: RestoreOptions, m: BaseManifest, targetNames: string[]): Promise<void> {
  const targets = o.targets.filter((t) => targetNames.includes(t.name));
  const tar = o.tools.spawnAsOsUser('tar', ['-x', '-f', '-', '-C', o.pgdata]);
  let stderr = '';
  tar.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  const done = new Promise<number>((res, rej) => { tar.on('error', rej); tar.on('close', (code) => res(code ?? 1)); });
  const meter = new ProgressMeter(o.onProgress, 'unpack', m.tarBytes);
  try {
    for (const c of m.chunks) {
      let blob: Uint8Array | null = null;
      for (const t of targets) if ((blob = await t.get(c.key).catch(() => null))) break;
      if (!blob) throw new PitrError('no-base-backup', `base backup ${m.id}: chunk ${c.key} is missing on every target`);
      let data: Buffer;
      try {
        data = decryptObject(o.secret, c.key, blob);
      } catch (e) {
        throw new PitrError(e instanceof BackupDecryptError && /wrong/.test(e.message) ? 'wrong-passphrase' : 'no-base-backup', `base backup ${m.id}: ${(e as Error).message}`);
      }
      if (createHash('sha256').update(data).digest('hex') !== c.sha256) throw new PitrError('no-base-backup', `base backup ${m.id}: chunk ${c.key} does not match its manifest`);
      if (!tar.stdin!.write(data)) await new Promise((r) => tar.stdin!.once('drain', r));
      meter.add(data.length);
    }
    meter.finish();
  } finally {
    tar.stdin!.end();
  }
  const code = await done;
  if (code !== 0) throw new PitrError('recovery-failed', `tar could not unpack the base backup into ${o.pgdata}: ${stderr.trim()}`);
}

function checkBaseWal(m: BaseManifest, archived: Set<string>): void {
  const missing = segmentRange(m.startWal, m.endWal, m.walSegmentSize).filter((s) => !archived.has(s));
  if (missing.length) {
    throw new PitrError('wal-missing', `WAL missing from the archive: base backup ${m.id} needs ${missing.join(', ')} (was archive_command working when it was taken?)`);
  }
}

function controlData(o: RestoreOptions): Record<string, string> {
  const out: Record<string, string> = {};
  try {
    const args = ['-D', o.pgdata];
    const [file, argv] = isRoot() ? ['runuser', ['-u', o.tools.osUser, '--', o.tools.bin('pg_controldata'), ...args]] : [o.tools.bin('pg_controldata'), args];
    for (const line of execFileSync(file, argv, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } }).split('\n')) {
      const i = line.indexOf(':');
      if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
  } catch { /* not readable yet */ }
  return out;
}

function postmasterAlive(pgdata: string): boolean | null {
  let pid: number;
  try {
    pid = Number(readFileSync(join(pgdata, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return null;
  }
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

const tail = (file: string, n = 15) => (existsSync(file) ? readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n') : '(no log)');

function failure(o: RestoreOptions, logFile: string, archived: string[], m: BaseManifest): PitrError {
  const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
  const last = tail(logFile);
  if (/recovery ended before configured recovery target was reached/.test(log)) {
    const gap = firstGapAfter(archived, m.endWal, m.walSegmentSize);
    return new PitrError('wal-missing', `WAL missing: the archive ends before ${o.toTime.toISOString()} (archived WAL on timeline ${m.timeline} continues only to ${gap}); wait for archive_command to catch up or choose an earlier time\n--- server log ---\n${last}`);
  }
  if (/wrong backup passphrase|cannot decrypt/.test(log)) return new PitrError('wrong-passphrase', `restore_command could not decrypt WAL (wrong backup passphrase?)\n--- server log ---\n${last}`);
  return new PitrError('recovery-failed', `PostgreSQL stopped during recovery (log ${logFile})\n--- server log ---\n${last}`);
}

export async function restoreToTime(o: RestoreOptions): Promise<RestoreReport> {
  const log = o.log ?? (() => undefined);
  const t0 = Date.now();
  if (Number.isNaN(o.toTime.getTime())) throw new PitrError('invalid-request', 'invalid --to-time');
  const base = pickBaseBackup(await listBaseBackups(o.targets, o.secret), o.toTime);
  const m = base.manifest;
  log(`base backup ${m.id} (complete ${m.finishedAt}, timeline ${m.timeline}, ${m.tarBytes} bytes)`);
  const archived = await listArchivedWal(o.targets);
  checkBaseWal(m, new Set(archived));

  const own = preparePgdata(o.pgdata, o.tools.osUser);
  await extract(o, m, base.targets);
  const tExtract = Date.now();
  log(`unpacked into ${o.pgdata} in ${((tExtract - t0) / 1000).toFixed(1)} s`);

  const settings: Record<string, string> = {
    restore_command: confString(`${o.fetchCommand} %f "%p"`),
    recovery_target_time: confString(pgTimestamp(o.toTime)),
    recovery_target_action: "'promote'",
    recovery_target_timeline: confString(o.timeline ?? 'latest'),
    port: String(o.port),
    ...(o.keepArchiving ? {} : { archive_mode: "'off'" }),
  };
  const auto = join(o.pgdata, 'postgresql.auto.conf');
  appendFileSync(auto, `\n# rampart pitr restore ${new Date().toISOString()}: base ${m.id}, to ${o.toTime.toISOString()}\n${Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`);
  writeFileSync(join(o.pgdata, 'recovery.signal'), '');
  own(auto);
  own(join(o.pgdata, 'recovery.signal'));

  const logFile = join(o.pgdata, 'pitr-restore.log');
  await o.tools.run('pg_ctl', ['start', '-D', o.pgdata, '-l', logFile, '-o', '-c log_min_messages=log'], { asOsUser: true, timeoutMs: 60_000 })
    .catch((e: Error) => { throw new PitrError('recovery-failed', `${e.message}\n--- server log ---\n${tail(logFile)}`); });
  log(`PostgreSQL started on port ${o.port}; replaying WAL to ${o.toTime.toISOString()}`);

  const deadline = Date.now() + (o.timeoutMs ?? 30 * 60_000);
  let sawPid = false;
  // WAL files replayed so far (from the server log), of those archived since the base backup began.
  const replay = new StepMeter(o.onProgress, 'replay', { steps: archived.filter((w) => w >= m.startWal).length });
  for (;;) {
    if (o.onProgress && existsSync(logFile)) replay.set(parseRecoveryLog(readFileSync(logFile, 'utf8')).restored, 'WAL files restored');
    const alive = postmasterAlive(o.pgdata);
    if (alive) sawPid = true;
    if (alive === false || (alive === null && sawPid)) throw failure(o, logFile, archived, m);
    if (alive && !existsSync(join(o.pgdata, 'recovery.signal')) && controlData(o)['Database cluster state'] === 'in production') break;
    if (Date.now() > deadline) throw new PitrError('timeout', `recovery did not finish in time (log ${logFile})\n${tail(logFile)}`);
    await sleep(250);
  }
  const tDone = Date.now();
  const control = controlData(o);
  const timeline = Number(control["Latest checkpoint's TimeLineID"]) || null;
  const history = timeline ? readTimelineHistory(o.pgdata, timeline) : null;
  const parsed = parseRecoveryLog(readFileSync(logFile, 'utf8'));
  replay.set(parsed.restored);
  replay.finish();
  return {
    baseBackup: m.id, baseFinishedAt: m.finishedAt, targetTime: o.toTime.toISOString(), pgdata: o.pgdata, port: o.port, logFile,
    timeline, switchLsn: history?.switchLsn ?? null, stopReason: history?.reason ?? null,
    lastTransactionAt: parsed.lastTransactionAt, stoppedBefore: parsed.stoppedBefore, walFilesRestored: parsed.restored,
    seconds: { extract: (tExtract - t0) / 1000, recovery: (tDone - tExtract) / 1000, total: (tDone - t0) / 1000 },
  };
}
