/**
 * A throwaway PostgreSQL server for a drill: initdb in the drill's work
 * directory, listening on 127.0.0.1 only on a free port (no Unix socket),
 * trust authentication for loopback, a `rampart` role owning a `rampart`
 * database. The server runs as the `postgres` OS user when we are root
 * (PostgreSQL refuses to run as root). The binaries come from
 * RAMPART_DRILL_PG_BIN, else /usr/lib/postgresql/<newest>/bin, else PATH.
 * It is stopped (immediate) by the environment's teardown.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DrillEnvironment } from './drill-environment.js';
import { postmasterPid } from './drill-environment.js';
import { freeLoopbackPort } from '../core/free-port.js';
import { sleep } from '../core/wait.js';

export interface IsolatedPostgres {
  host: string;
  port: number;
  dataDir: string;
  psql(sql: string, database?: string): Promise<string>;
  stop(): Promise<void>;
}

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

export function postgresBinDir(): string {
  const fromEnv = process.env.RAMPART_DRILL_PG_BIN;
  if (fromEnv) return fromEnv;
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(base, versions[0], 'bin');
  }
  for (const d of (process.env.PATH ?? '').split(':')) if (d && existsSync(join(d, 'initdb'))) return d;
  throw new Error('PostgreSQL server binaries (initdb, pg_ctl) not found: install postgresql or set RAMPART_DRILL_PG_BIN');
}

/** Runs a command (as the `postgres` OS user with asPostgres when we are root); resolves with its stdout, rejects with the start of its stderr. */
export function exec(cmd: string, args: string[], opts: { asPostgres?: boolean; timeoutMs?: number } = {}): Promise<string> {
  const [file, argv] = opts.asPostgres && isRoot() ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000, cwd: '/', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd.split('/').pop()} ${args.slice(0, 3).join(' ')}… failed (${err.killed ? 'timed out' : `exit ${String(err.code)}`}): ${(stderr || stdout).trim().split('\n').slice(0, 5).join(' | ')}`));
      else resolve(stdout);
    });
  });
}

export async function postgresOwner(): Promise<{ uid: number; gid: number } | undefined> {
  if (!isRoot()) return undefined;
  try {
    return { uid: Number(await exec('id', ['-u', 'postgres'])), gid: Number(await exec('id', ['-g', 'postgres'])) };
  } catch {
    throw new Error('running as root, but there is no `postgres` OS user to run the drill database as');
  }
}

/** Extra postgresql.conf settings (values written as given: quote strings yourself). */
export interface IsolatedPostgresOptions {
  settings?: Record<string, string>;
  /** Data checksums (initdb -k): a damaged page fails when it is read. */
  checksums?: boolean;
}

export async function startIsolatedPostgres(env: DrillEnvironment, name = 'pg', opts: IsolatedPostgresOptions = {}): Promise<IsolatedPostgres> {
  const bin = postgresBinDir();
  const pg = (b: string) => join(bin, b);
  const owner = await postgresOwner();
  // The postgres user must be able to reach its directory: let it traverse (not list) the work directory.
  if (owner) chmodSync(env.workDir, 0o711);
  const root = env.dir(name, { owner });
  const dataDir = join(root, 'data');
  const logFile = join(root, 'postgres.log');
  const port = await freeLoopbackPort();
  const psql = async (sql: string, database = 'postgres'): Promise<string> =>
    (await exec(pg('psql'), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', database, '-c', sql])).trim();
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const pid = postmasterPid(dataDir);
    if (pid === null) return;
    const ok = await exec(pg('pg_ctl'), ['stop', '-m', 'immediate', '-w', '-t', '30', '-D', dataDir], { asPostgres: true }).then(() => true, () => false);
    if (!ok) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  };
  env.defer(`stop PostgreSQL ${name}`, stop);
  await exec(pg('initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-instructions', ...(opts.checksums ? ['-k'] : [])], { asPostgres: true });
  writeFileSync(join(dataDir, 'pg_hba.conf'), '# rampart drill: loopback only\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n');
  appendFileSync(join(dataDir, 'postgresql.conf'), [
    '', '# rampart drill', "listen_addresses = '127.0.0.1'", `port = ${port}`, "unix_socket_directories = ''",
    'fsync = on', 'synchronous_commit = on', 'max_connections = 100', "shared_buffers = '32MB'", 'log_min_messages = warning',
    ...Object.entries(opts.settings ?? {}).map(([k, v]) => `${k} = ${v}`), '',
  ].join('\n'));
  env.trackPostgres(dataDir);
  try {
    await exec(pg('pg_ctl'), ['start', '-w', '-t', '60', '-D', dataDir, '-l', logFile], { asPostgres: true });
  } catch (e) {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n') : '';
    throw new Error(`${(e as Error).message}\n--- postgres log ---\n${log}`);
  }
  for (let i = 0; ; i++) {
    try { await psql('SELECT 1'); break; } catch (e) { if (i > 50) throw e; await sleep(100); }
  }
  await psql('CREATE ROLE rampart LOGIN');
  await psql('CREATE DATABASE rampart OWNER rampart');
  return { host: `127.0.0.1:${port}`, port, dataDir, psql, stop };
}

/**
 * A PostgreSQL server the drill did not start itself (e.g. restored by
 * `rampart pitr restore`): its postmaster dies with the drill, and a psql
 * client for it (as the postgres superuser, over 127.0.0.1).
 */
export function adoptPostgres(env: DrillEnvironment, dataDir: string, port: number, label: string): Pick<IsolatedPostgres, 'psql' | 'stop'> {
  const pg = (b: string) => join(postgresBinDir(), b);
  env.trackPostgres(dataDir);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const pid = postmasterPid(dataDir);
    if (pid === null) return;
    const ok = await exec(pg('pg_ctl'), ['stop', '-m', 'immediate', '-w', '-t', '30', '-D', dataDir], { asPostgres: true }).then(() => true, () => false);
    if (!ok) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  };
  env.defer(`stop PostgreSQL ${label}`, stop);
  const psql = async (sql: string, database = 'postgres'): Promise<string> =>
    (await exec(pg('psql'), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', database, '-c', sql])).trim();
  return { psql, stop };
}
