/**
 * Server-side PostgreSQL control for regional failover and failback: status,
 * start, stop and promote of a local data directory (pg_ctl), and rebuilding
 * a former primary as a streaming standby of the new primary — pg_rewind
 * when the histories can be reconciled, else (when allowed) a fresh
 * pg_basebackup with the old directory kept aside as <dataDir>.old-<stamp>.
 *
 * - Commands run as the OS owner of the data directory (`runuser -u`) when
 *   we are root: PostgreSQL refuses to run as root.
 * - The binaries are those of the data directory's major version
 *   (/usr/lib/postgresql/<PG_VERSION>/bin), else the newest installed, else
 *   PATH; `binDir` overrides.
 * - A rebuilt node keeps its own identity: its postgresql.conf, pg_hba.conf,
 *   pg_ident.conf and postgresql.auto.conf (port, cluster_name, ...) are read
 *   before the copy and put back after it (pg_rewind and pg_basebackup both
 *   bring the source's). Only primary_conninfo / primary_slot_name change.
 * - A password goes to the tools through PGPASSWORD, never on a command line;
 *   the standby's primary_conninfo carries it (as pg_basebackup -R does) in
 *   the owner-only postgresql.auto.conf.
 * - pg_rewind reads the target's WAL back to the last checkpoint before the
 *   histories diverged: keep it (wal_keep_size) or pass restoreTargetWal to
 *   fetch it with the target's restore_command.
 * - Every child process has a timeout; errors name the command and its stderr.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

export interface PgControlOptions {
  binDir?: string; // directory of pg_ctl, pg_rewind, ... (default: pgBinDir(dataDir))
  log?: (line: string) => void; // progress lines
}

/** The server to copy from / stream from; `database` (default 'postgres') is for pg_rewind and checks. */
export interface PgSource { host: string; port: number; user: string; database?: string; password?: string }

export type PgStopMode = 'smart' | 'fast' | 'immediate';
export interface RebuildStep { step: string; ms: number; detail?: string }

export interface RebuildOptions extends PgControlOptions {
  /** application_name the standby streams as (what synchronous_standby_names names). */
  appName: string;
  /** When pg_rewind fails, replace the data directory with a pg_basebackup (old one kept aside). */
  allowBaseBackup?: boolean;
  /** Physical replication slot on the source to stream from (created there when missing). */
  slot?: string;
  /** Server log (default <dataDir>.log). */
  logFile?: string;
  /** Bounds on pg_rewind / pg_basebackup each (default 3600 s) and on waiting for the standby to stream (120 s). */
  copyTimeoutSeconds?: number;
  streamTimeoutSeconds?: number;
  /** pg_rewind --restore-target-wal: fetch target WAL that is no longer in pg_wal with its restore_command. */
  restoreTargetWal?: boolean;
  /**
   * 'basebackup' skips pg_rewind (e.g. for a standby whose upstream is itself
   * a standby: pg_rewind judges timelines from the source's control file,
   * which on a standby may still name the old timeline, and wrongly finds
   * "no rewind required"). Default: rewind, base backup as the fallback.
   */
  method?: 'rewind' | 'basebackup';
}

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;
const PG_LIB = '/usr/lib/postgresql';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The PostgreSQL server binaries: /usr/lib/postgresql/<major>/bin for the
 * data directory's PG_VERSION when given and installed, else the newest
 * /usr/lib/postgresql/<major>/bin, else a PATH entry holding pg_ctl.
 */
export function pgBinDir(dataDir?: string): string {
  const has = (d: string) => existsSync(join(d, 'pg_ctl'));
  const version = dataDir && existsSync(join(dataDir, 'PG_VERSION')) ? readFileSync(join(dataDir, 'PG_VERSION'), 'utf8').trim() : undefined;
  if (version && has(join(PG_LIB, version, 'bin'))) return join(PG_LIB, version, 'bin');
  const newest = existsSync(PG_LIB) ? readdirSync(PG_LIB).filter((x) => has(join(PG_LIB, x, 'bin'))).sort((a, b) => Number(b) - Number(a))[0] : undefined;
  if (newest) return join(PG_LIB, newest, 'bin');
  for (const d of (process.env.PATH ?? '').split(':')) if (d && has(d)) return d;
  throw new Error('PostgreSQL server binaries (pg_ctl) not found: install postgresql or pass binDir');
}

interface Owner { uid: number; gid: number; user?: string }
interface RunOpts { as?: Owner; env?: Record<string, string>; timeoutMs: number; okCodes?: number[] }

/** Runs a command (as the data directory's owner when `as.user` is set); rejects with the command line and stderr. */
function run(cmd: string, args: string[], o: RunOpts): Promise<{ code: number; stdout: string; stderr: string }> {
  const [file, argv] = o.as?.user ? ['runuser', ['-u', o.as.user, '--', cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { encoding: 'utf8', timeout: o.timeoutMs, cwd: '/', maxBuffer: 16 * 1024 * 1024, env: { ...process.env, ...o.env } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      if (!err || (!err.killed && (o.okCodes ?? []).includes(code))) return resolve({ code, stdout, stderr });
      const why = err.killed ? `timed out after ${Math.round(o.timeoutMs / 1000)} s` : `exit ${String(err.code)}`;
      reject(new Error(`${basename(cmd)} ${args.join(' ')} failed (${why}): ${(stderr || stdout || err.message).trim()}`));
    });
  });
}

const ownerCache = new Map<number, string>();
async function ownerOf(dataDir: string): Promise<Owner> {
  const st = statSync(dataDir);
  if (!isRoot()) return { uid: st.uid, gid: st.gid };
  if (st.uid === 0) throw new Error(`${dataDir} is owned by root: PostgreSQL will not run as root`);
  const user = ownerCache.get(st.uid) ?? (await run('id', ['-nu', String(st.uid)], { timeoutMs: 10_000 })).stdout.trim();
  ownerCache.set(st.uid, user);
  return { uid: st.uid, gid: st.gid, user };
}

/** Writes a file the server must own (mode 0600). */
function writeOwned(path: string, content: string, owner: Owner): void {
  writeFileSync(path, content, { mode: 0o600 });
  if (isRoot()) chownSync(path, owner.uid, owner.gid);
}

/** Quoting of a libpq conninfo value, and of a string in a configuration file (as ALTER SYSTEM writes it). */
const connValue = (v: string): string => (/^[^\s'\\]+$/.test(v) ? v : `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`);
const confString = (v: string): string => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
const conninfo = (kv: Record<string, string | number | undefined>): string =>
  Object.entries(kv).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${connValue(String(v))}`).join(' ');

/** The last value of `key` in postgresql.conf then postgresql.auto.conf (read last, so it wins). */
export function pgConfValue(dataDir: string, key: string): string | undefined {
  let value: string | undefined;
  for (const p of ['postgresql.conf', 'postgresql.auto.conf'].map((f) => join(dataDir, f)).filter(existsSync)) {
    for (const line of readFileSync(p, 'utf8').split('\n')) {
      const m = /^\s*([A-Za-z_.]+)\s*=?\s*('(?:[^'\\]|''|\\.)*'|[^\s#]+)/.exec(line);
      if (m && m[1]!.toLowerCase() === key.toLowerCase()) value = m[2]!.startsWith("'") ? m[2]!.slice(1, -1).replace(/''/g, "'").replace(/\\(.)/g, '$1') : m[2]!;
    }
  }
  return value;
}

/** The port the data directory's server listens on (default 5432). */
export function pgPort(dataDir: string): number {
  const p = Number(pgConfValue(dataDir, 'port') ?? 5432);
  if (Number.isInteger(p) && p > 0) return p;
  throw new Error(`${dataDir}: bad port setting`);
}

/** Where to reach the running server of a data directory: its postmaster.pid's listen address, or its socket directory. */
function localHost(dataDir: string): string {
  const lines = existsSync(join(dataDir, 'postmaster.pid')) ? readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n') : [];
  const listen = (lines[5] ?? '').trim();
  if (listen === '' && lines[4]?.trim()) return lines[4].trim();
  return listen === '::' ? '::1' : ['', '*', '0.0.0.0'].includes(listen) ? '127.0.0.1' : listen;
}

const tail = (file: string, n = 30): string =>
  existsSync(file) ? `\n--- last lines of ${file} ---\n${readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n')}` : '';

const ctx = async (dataDir: string, o: PgControlOptions = {}) =>
  ({ bin: (b: string) => join(o.binDir ?? pgBinDir(dataDir), b), owner: await ownerOf(dataDir), log: o.log ?? (() => undefined) });

async function psql(bin: string, to: PgSource, sql: string, as?: Owner, timeoutMs = 15_000): Promise<string> {
  const args = ['-X', '-q', '-A', '-t', '-w', '-v', 'ON_ERROR_STOP=1', '-h', to.host, '-p', String(to.port), '-U', to.user, '-d', to.database ?? 'postgres', '-c', sql];
  return (await run(bin, args, { as, timeoutMs, env: to.password ? { PGPASSWORD: to.password } : {} })).stdout.trim();
}

/** The PID on the first line of the data directory's postmaster.pid, or 0 when there is none (or it is unreadable). */
function postmasterPid(dataDir: string): number {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]!.trim());
    return Number.isInteger(pid) && pid > 0 ? pid : 0;
  } catch {
    return 0;
  }
}

/** True when the postmaster.pid's process has died but is not reaped yet (pg_ctl and postgres still see it). */
function postmasterZombie(dataDir: string): boolean {
  const pid = postmasterPid(dataDir);
  try {
    return pid > 0 && /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false; // gone meanwhile
  }
}

/** Whether a process with this PID exists (EPERM: it exists, owned by someone else). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether a server answers for the data directory: pg_isready on the socket
 * directory / listen address and port its postmaster.pid names (a server
 * starting up or shutting down answers too, with exit 1). Unknown (no
 * pg_isready) counts as answering, so nothing is removed on a guess.
 */
async function serverAnswers(dataDir: string, c: { bin: (b: string) => string; owner: Owner }): Promise<boolean> {
  let lines: string[];
  try { lines = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n'); } catch { return false; }
  const port = Number(lines[3]?.trim()) || pgPort(dataDir);
  const hosts = [...new Set([lines[4]?.trim(), localHost(dataDir)].filter((h): h is string => !!h))];
  for (const host of hosts) {
    try {
      const r = await run(c.bin('pg_isready'), ['-q', '-t', '3', '-h', host, '-p', String(port)], { as: c.owner, timeoutMs: 15_000, okCodes: [1, 2, 3] });
      if (r.code === 0 || r.code === 1) return true;
    } catch {
      return true;
    }
  }
  return false;
}

/**
 * A postmaster.pid left behind by a server that is gone (the normal case
 * after a crash or a SIGKILL): its PID no longer exists, or is a zombie, or
 * now belongs to another process than a postmaster of this directory, and no
 * server answers on its socket or port. Only then is it stale.
 */
async function stalePostmasterPid(dataDir: string, c: { bin: (b: string) => string; owner: Owner }): Promise<number> {
  const pid = postmasterPid(dataDir);
  if (pid === 0) return 0;
  if (processExists(pid) && !postmasterZombie(dataDir) && isPostmasterOf(pid, dataDir)) return 0;
  return (await serverAnswers(dataDir, c)) ? 0 : pid;
}

/**
 * Whether `pid` is a postmaster of this data directory: its working
 * directory (a postmaster chdirs into its data directory) is the directory.
 * When that cannot be read it is assumed to be one (never call a live server stale).
 */
function isPostmasterOf(pid: number, dataDir: string): boolean {
  try {
    return realpathSync(readlinkSync(`/proc/${pid}/cwd`)) === realpathSync(dataDir);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ENOENT' || existsSync(`/proc/${pid}`);
  }
}

/** Removes a stale postmaster.pid (see stalePostmasterPid); true when it did. */
async function removeStalePid(dataDir: string, c: { bin: (b: string) => string; owner: Owner; log: (l: string) => void }): Promise<boolean> {
  const pid = await stalePostmasterPid(dataDir, c);
  if (!pid || postmasterPid(dataDir) !== pid) return false;
  rmSync(join(dataDir, 'postmaster.pid'), { force: true });
  c.log(`${dataDir}: removed a stale postmaster.pid (PID ${pid} is not a running server of it)`);
  return true;
}

/**
 * pg_ctl status: 'running' or 'stopped' (a stale postmaster.pid counts as
 * stopped). A killed postmaster not yet reaped by its parent is waited for
 * (up to 10 s): until then no server can start on the directory.
 */
export async function pgStatus(dataDir: string, o: PgControlOptions = {}): Promise<'running' | 'stopped'> {
  const c = await ctx(dataDir, o);
  for (let i = 0; ; i++) {
    const r = await run(c.bin('pg_ctl'), ['status', '-D', dataDir], { as: c.owner, timeoutMs: 30_000, okCodes: [3] });
    if (r.code !== 0) return 'stopped';
    if (!postmasterZombie(dataDir)) {
      // pg_ctl only asks whether the PID exists: after a crash it may belong to another process by now.
      if (postmasterPid(dataDir) && (await stalePostmasterPid(dataDir, c))) return 'stopped';
      return 'running';
    }
    if (i >= 50) return 'stopped';
    await sleep(200);
  }
}

/** pg_ctl start -w; a no-op when it is running already. The log defaults to <dataDir>.log. */
export async function pgStart(dataDir: string, o: PgControlOptions & { logFile?: string; timeoutSeconds?: number } = {}): Promise<void> {
  const c = await ctx(dataDir, o);
  if ((await pgStatus(dataDir, o)) === 'running') return c.log(`${dataDir}: already running`);
  // postgres itself overwrites a lock file whose PID is gone, but not one whose PID now belongs to another process.
  await removeStalePid(dataDir, c);
  const logFile = o.logFile ?? `${dataDir}.log`;
  appendFileSync(logFile, '');
  if (isRoot()) chownSync(logFile, c.owner.uid, c.owner.gid);
  try {
    await pgCtlWait('start', dataDir, o, ['-l', logFile]);
  } catch (e) {
    throw new Error(`${(e as Error).message}${tail(logFile)}`);
  }
}

/** pg_ctl <action> -w -t <timeoutSeconds, default 60> -D dataDir ... as the owner. */
async function pgCtlWait(action: string, dataDir: string, o: PgControlOptions & { timeoutSeconds?: number }, extra: string[] = []): Promise<void> {
  const c = await ctx(dataDir, o);
  const t = o.timeoutSeconds ?? 60;
  c.log(`${dataDir}: ${action} ${extra.join(' ')}`.trimEnd());
  await run(c.bin('pg_ctl'), [action, '-w', '-t', String(t), '-D', dataDir, ...extra], { as: c.owner, timeoutMs: (t + 15) * 1000 });
}

/**
 * pg_ctl stop -w (default mode fast); a no-op when it is stopped. A stale
 * postmaster.pid (the server crashed or was killed: its PID is gone, or is
 * another process now, and no server answers) counts as stopped and is
 * removed, also when the server dies between the status check and the stop
 * signal ("could not send stop signal ... No such process").
 */
export async function pgStop(dataDir: string, o: PgControlOptions & { mode?: PgStopMode; timeoutSeconds?: number } = {}): Promise<void> {
  const c = await ctx(dataDir, o);
  if ((await pgStatus(dataDir, o)) === 'stopped') {
    await removeStalePid(dataDir, c);
    return c.log(`${dataDir}: already stopped`);
  }
  try {
    await pgCtlWait('stop', dataDir, o, ['-m', o.mode ?? 'fast']);
  } catch (e) {
    // The postmaster went away by itself meanwhile (pg_ctl: "could not send stop signal", "No such process").
    if (!existsSync(join(dataDir, 'postmaster.pid')) || (await removeStalePid(dataDir, c))) return c.log(`${dataDir}: stopped (the server was already gone)`);
    throw e;
  }
}

/** pg_ctl promote -w: the standby leaves recovery and becomes a primary. */
export async function pgPromote(dataDir: string, o: PgControlOptions & { timeoutSeconds?: number } = {}): Promise<void> {
  await pgCtlWait('promote', dataDir, o);
}

/**
 * Makes the data directory a standby of `source`: `autoConf` (its postgresql.auto.conf)
 * with new primary_conninfo and primary_slot_name lines, standby.signal.
 */
function configureStandby(dataDir: string, autoConf: string, source: PgSource, o: { appName: string; slot?: string }, owner: Owner): void {
  const kept = autoConf.split('\n').filter((l) => !/^\s*(primary_conninfo|primary_slot_name)\s*=/i.test(l)).join('\n').trimEnd();
  const info = conninfo({ host: source.host, port: source.port, user: source.user, password: source.password, application_name: o.appName });
  const text = `${kept}\nprimary_conninfo = ${confString(info)}\n${o.slot ? `primary_slot_name = ${confString(o.slot)}\n` : ''}`;
  writeOwned(join(dataDir, 'postgresql.auto.conf'), text, owner);
  writeOwned(join(dataDir, 'standby.signal'), '', owner);
  rmSync(join(dataDir, 'recovery.signal'), { force: true });
}

/** The timeline `source` writes (a primary) or receives (a standby). */
const sourceTimeline = (bin: string, source: PgSource): Promise<string> => psql(bin, source, `SELECT CASE WHEN pg_is_in_recovery()
  THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver), (SELECT timeline_id FROM pg_control_checkpoint()))
  ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END`);

/**
 * Waits until the local server is in recovery and its walreceiver streams
 * from `source` on the source's timeline (a standby that forked off before
 * its own recovery point streams the old timeline for a moment, again and again).
 */
async function waitStreaming(dataDir: string, source: PgSource, c: { bin: (b: string) => string; owner: Owner }, timeoutS: number, logFile: string): Promise<void> {
  const me: PgSource = { ...source, host: localHost(dataDir), port: pgPort(dataDir) };
  const want = `true,streaming,${source.port},${await sourceTimeline(c.bin('psql'), source)}`;
  const sql = `SELECT pg_is_in_recovery()::text || ',' || coalesce((SELECT concat_ws(',', status, sender_port, received_tli) FROM pg_stat_wal_receiver), 'none')`;
  const deadline = Date.now() + timeoutS * 1000;
  let last = '';
  for (;;) {
    last = await psql(c.bin('psql'), me, sql, c.owner).catch((e: Error) => e.message);
    if (last === want) return;
    if (Date.now() > deadline) throw new Error(`${dataDir} is not streaming from ${source.host}:${source.port} after ${timeoutS} s (last: ${last})${tail(logFile)}`);
    await sleep(250);
  }
}

/** The configuration files a node keeps across a rewind or base backup (those that live in the data directory). */
const OWN_CONFIG = ['postgresql.conf', 'pg_hba.conf', 'pg_ident.conf'];

/**
 * Rebuilds `dataDir` (a former primary) as a streaming standby of `source`:
 * stops it (fast), runs pg_rewind (which first runs crash recovery in
 * single-user mode when the server was killed), removes its now stale
 * replication slots, restores its own configuration, writes standby.signal
 * and primary_conninfo (application_name = appName) and starts it; waits
 * until it streams. When pg_rewind fails and allowBaseBackup is set, the
 * directory is moved to <dataDir>.old-<stamp> and replaced with
 * pg_basebackup -R -X stream (moved back if that fails too).
 */
export async function rebuildAsStandby(dataDir: string, source: PgSource, o: RebuildOptions): Promise<{ method: 'rewind' | 'basebackup'; steps: RebuildStep[] }> {
  const c = await ctx(dataDir, o);
  const steps: RebuildStep[] = [];
  const step = async <T>(name: string, fn: () => Promise<T>, detail?: (r: T) => string | undefined): Promise<void> => {
    const t0 = Date.now();
    c.log(`${name}…`);
    const r = await fn(); // (not inside detail?.(…): that would skip fn when there is no detail)
    const d = detail?.(r);
    steps.push({ step: name, ms: Date.now() - t0, ...(d ? { detail: d } : {}) });
  };
  const copyMs = (o.copyTimeoutSeconds ?? 3600) * 1000;
  const env = source.password ? { PGPASSWORD: source.password } : undefined;
  const logFile = o.logFile ?? `${dataDir}.log`;
  const src = { ...source, database: source.database ?? 'postgres' };
  if (o.slot !== undefined && !/^[a-z0-9_]{1,63}$/.test(o.slot)) throw new Error(`bad replication slot name ${JSON.stringify(o.slot)}`);
  if (['127.0.0.1', 'localhost', '::1'].includes(source.host) && source.port === pgPort(dataDir)) throw new Error(`the source ${source.host}:${source.port} is ${dataDir} itself`);

  // Before touching anything: the source answers (and keeps WAL for our slot). A just
  // promoted primary's pg_control shows its new timeline only after a checkpoint:
  // before, pg_rewind would find "the same timeline" and nothing to rewind.
  await step('check-source', async () => {
    const q = (sql: string) => psql(c.bin('psql'), src, sql, undefined, copyMs);
    const checkpoint = () => q('CHECKPOINT').catch((e: Error) => { throw new Error(`CHECKPOINT on the source (pg_rewind needs its pg_control current; the user needs pg_checkpoint): ${e.message}`); });
    const notes = [(await q('SELECT pg_is_in_recovery()')) === 't' ? 'source is a standby (cascading)' : (await checkpoint(), 'checkpoint')];
    if (o.slot && (await q(`SELECT count(*) FROM pg_replication_slots WHERE slot_name = '${o.slot}'`)) === '0') {
      await q(`SELECT pg_create_physical_replication_slot('${o.slot}', true)`);
      notes.push(`created slot ${o.slot}`);
    }
    return notes.join('; ');
  }, (r) => r);
  await step('stop', async () => pgStop(dataDir, { ...o, mode: 'fast' }));

  const saved = new Map<string, string>();
  for (const f of [...OWN_CONFIG, 'postgresql.auto.conf']) if (existsSync(join(dataDir, f))) saved.set(f, readFileSync(join(dataDir, f), 'utf8'));

  let method: 'rewind' | 'basebackup' = 'rewind';
  const rewindStart = Date.now();
  try {
    if (o.method === 'basebackup') throw new BaseBackupRequested();
    const info = conninfo({ host: source.host, port: source.port, user: source.user, dbname: src.database });
    const args = ['-D', dataDir, `--source-server=${info}`, ...(o.restoreTargetWal ? ['--restore-target-wal'] : [])];
    const r = await run(c.bin('pg_rewind'), args, { as: c.owner, env, timeoutMs: copyMs });
    const slotDir = join(dataDir, 'pg_replslot');
    const stale = existsSync(slotDir) ? readdirSync(slotDir) : [];
    for (const s of stale) rmSync(join(slotDir, s), { recursive: true, force: true });
    const what = /no rewind required/i.test(r.stdout + r.stderr) ? 'no rewind required' : 'rewound';
    steps.push({ step: 'rewind', ms: Date.now() - rewindStart, detail: stale.length ? `${what}; removed stale slots ${stale.join(', ')}` : what });
  } catch (e) {
    const why = (e as Error).message;
    const requested = e instanceof BaseBackupRequested;
    steps.push({ step: 'rewind', ms: Date.now() - rewindStart, detail: requested ? 'skipped: base backup requested' : `failed: ${why}` });
    if (!o.allowBaseBackup && !requested) throw new Error(`pg_rewind failed and a base backup is not allowed; ${dataDir} is left stopped: ${why}`);
    if (!requested) c.log(`pg_rewind failed, taking a base backup instead: ${why}`);
    method = 'basebackup';
    const aside = `${dataDir}.old-${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
    await step('move-aside', async () => {
      renameSync(dataDir, aside);
      mkdirSync(dataDir, { mode: 0o700 });
      if (isRoot()) chownSync(dataDir, c.owner.uid, c.owner.gid);
    }, () => aside);
    try {
      await step('basebackup', () => run(c.bin('pg_basebackup'), ['-h', source.host, '-p', String(source.port), '-U', source.user, '-w', '-D', dataDir,
        '-R', '-X', 'stream', '-c', 'fast', ...(o.slot ? ['-S', o.slot] : [])], { as: c.owner, env, timeoutMs: copyMs }));
    } catch (e2) {
      rmSync(dataDir, { recursive: true, force: true });
      renameSync(aside, dataDir);
      throw new Error(`pg_basebackup failed; the old data directory is back in ${dataDir} (stopped): ${(e2 as Error).message}`);
    }
  }
  await step('configure', async () => {
    for (const f of OWN_CONFIG) if (saved.has(f)) writeOwned(join(dataDir, f), saved.get(f)!, c.owner);
    configureStandby(dataDir, saved.get('postgresql.auto.conf') ?? '', source, o, c.owner);
  }, () => `standby of ${source.host}:${source.port} as ${o.appName}${o.slot ? ` (slot ${o.slot})` : ''}`);
  await step('start', async () => pgStart(dataDir, { ...o, logFile }));
  await step('wait-streaming', async () => waitStreaming(dataDir, source, c, o.streamTimeoutSeconds ?? 120, logFile));
  return { method, steps };
}

/**
 * Points an existing standby at another primary: rewrites primary_conninfo
 * (and primary_slot_name) in postgresql.auto.conf, then reloads it when it
 * runs (PG13+ reconnects its walreceiver) or starts it; waits until it
 * streams from `source`. The new primary must be on this standby's history
 * (e.g. a promoted sibling; recovery_target_timeline 'latest' follows it).
 */
export async function retargetStandby(dataDir: string, source: PgSource, o: PgControlOptions & { appName: string; slot?: string; logFile?: string; timeoutSeconds?: number }): Promise<void> {
  const c = await ctx(dataDir, o);
  if (!existsSync(join(dataDir, 'standby.signal'))) throw new Error(`${dataDir} is not a standby (no standby.signal)`);
  const autoPath = join(dataDir, 'postgresql.auto.conf');
  configureStandby(dataDir, existsSync(autoPath) ? readFileSync(autoPath, 'utf8') : '', source, o, c.owner);
  c.log(`${dataDir}: following ${source.host}:${source.port}`);
  if ((await pgStatus(dataDir, o)) === 'running') await run(c.bin('pg_ctl'), ['reload', '-D', dataDir], { as: c.owner, timeoutMs: 30_000 });
  else await pgStart(dataDir, o);
  await waitStreaming(dataDir, source, c, o.timeoutSeconds ?? 120, o.logFile ?? `${dataDir}.log`);
}

class BaseBackupRequested extends Error {
  constructor() { super('base backup requested'); }
}
