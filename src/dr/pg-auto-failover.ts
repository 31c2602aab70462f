/**
 * A pg_auto_failover formation for the database-failover drill: one monitor
 * and two data nodes (primary + synchronous standby), each run by its own
 * `pg_autoctl run` as the `postgres` OS user, on free loopback ports in the
 * drill's work directory, with monitor timeouts tuned for a failover in
 * seconds. Failover decisions are the monitor's: the drill only kills.
 * Everything it started dies with the drill (process trees SIGKILLed at
 * teardown). Needs pg_autoctl (Debian: postgresql-15-auto-failover).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, appendFileSync, chmodSync, closeSync, constants, existsSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DrillEnvironment } from './drill-environment.js';
import { DrillUnavailableError } from './drill-scenario.js';
import { freeLoopbackPort } from '../core/free-port.js';
import { postgresOwner } from './isolated-postgres.js';
import { waitUntil } from '../core/wait.js';

/** Monitor GUCs for a failover in seconds: a dead primary seen in ~2 s, promotion after primary_demote_timeout. */
export const FAST_MONITOR_GUCS: Record<string, string> = {
  'pgautofailover.health_check_period': '1000',
  'pgautofailover.health_check_timeout': '2000',
  'pgautofailover.health_check_max_retries': '1',
  'pgautofailover.health_check_retry_delay': '500',
  'pgautofailover.node_considered_unhealthy_timeout': '3000',
  'pgautofailover.startup_grace_period': '2000',
  // Above the keepers' network_partition_timeout: an isolated primary demotes itself before the standby is promoted.
  'pgautofailover.primary_demote_timeout': '5000',
};
const SMALL_INSTANCE = "shared_buffers = '64MB'\nmax_connections = 100\n";
const PRIMARY_STATES = ['primary', 'wait_primary', 'single'];

/** The node is the primary, settled or moving between primary states (wait_primary -> primary when its standby is back, primary -> wait_primary when it is gone). */
export function isPrimaryState(s: { reported: string; assigned: string }): boolean {
  return PRIMARY_STATES.includes(s.reported) && PRIMARY_STATES.includes(s.assigned);
}

export interface AfState { name: string; port: number; reported: string; assigned: string }

export interface Formation {
  hosts: string[];
  nodes: Array<{ name: string; port: number; dataDir: string }>;
  primary(): Promise<{ name: string; port: number }>;
  /** kill -9 the primary's keeper, postmaster and backends; returns when its port is closed. */
  killPrimary(): Promise<{ name: string; port: number }>;
  waitForPrimary(exceptName: string, timeoutMs: number): Promise<{ name: string; port: number }>;
  psql(port: number, sql: string, o?: { user?: string; database?: string }): Promise<string>;
  syncState(): Promise<string>;
}

function findOnPath(cmd: string, extra: string[] = []): string | null {
  for (const d of [...(process.env.PATH ?? '').split(':'), '/usr/bin', '/usr/local/bin', ...extra]) {
    if (!d) continue;
    const p = join(d, cmd);
    try { accessSync(p, constants.X_OK); return p; } catch { /* next */ }
  }
  return null;
}

/** The pg_autoctl binary and the PostgreSQL server binaries of its build; a DrillUnavailableError when missing. */
export function autoFailoverTools(): { autoctl: string; pgBin: string } {
  const autoctl = findOnPath('pg_autoctl');
  if (!autoctl) throw new DrillUnavailableError('not available: pg_autoctl (pg_auto_failover) is not installed; install postgresql-15-auto-failover (Debian) to run the database-failover drill');
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'pg_ctl'))).sort((a, b) => Number(b) - Number(a)) : [];
  const ext = versions.find((v) => existsSync(join('/usr/share/postgresql', v, 'extension', 'pgautofailover.control')));
  const v = ext ?? versions[0];
  const pgBin = v ? join(base, v, 'bin') : dirname(findOnPath('pg_ctl') ?? '');
  if (!pgBin || !existsSync(join(pgBin, 'pg_ctl'))) throw new DrillUnavailableError('not available: PostgreSQL server binaries (pg_ctl) not found for pg_auto_failover');
  return { autoctl, pgBin };
}

export interface RunResult { code: number | null; stdout: string; stderr: string }

/** Runs a command to completion (as `ids` when given, from /), collecting its output; SIGKILLed after timeoutMs. */
export function run(cmd: string, args: string[], o: { env: NodeJS.ProcessEnv; ids?: { uid: number; gid: number }; timeoutMs?: number }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: o.env, stdio: ['ignore', 'pipe', 'pipe'], cwd: '/', ...(o.ids ?? {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const t = setTimeout(() => { child.kill('SIGKILL'); stderr += `\n[killed after ${o.timeoutMs} ms]`; }, o.timeoutMs ?? 120_000);
    child.on('error', (e) => { clearTimeout(t); reject(e); });
    child.on('close', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
  });
}

function parentMap(): Map<number, number> {
  const m = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      m.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* exited meanwhile */ }
  }
  return m;
}

/** True while the process exists and is not a zombie. */
export function alive(pid: number): boolean {
  try { return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return false; }
}

/** SIGSTOPs the process tree until it stops growing, then SIGKILLs all of it. */
export function killTree(roots: number[]): number[] {
  const seen = new Set<number>();
  for (let i = 0; i < 20; i++) {
    const parents = parentMap();
    const now = new Set([...roots, ...seen].filter((p) => parents.has(p)));
    for (let grew = true; grew;) {
      grew = false;
      for (const [pid, ppid] of parents) if (now.has(ppid) && !now.has(pid)) { now.add(pid); grew = true; }
    }
    let added = false;
    for (const p of now) if (!seen.has(p)) { seen.add(p); added = true; try { process.kill(p, 'SIGSTOP'); } catch { /* gone */ } }
    if (!added) break;
  }
  for (const p of seen) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
  return [...seen];
}

/** The running postmaster of dataDir (postmaster.pid may be stale after kill -9, its pid reused). */
export function livePostmaster(dataDir: string): number | null {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return alive(pid) && cmd.includes(dataDir) ? pid : null;
  } catch { return null; }
}

export async function startFormation(env: DrillEnvironment, o: { database: string; user: string; progress?: (s: string) => void }): Promise<Formation> {
  const { autoctl, pgBin } = autoFailoverTools();
  const owner = await postgresOwner();
  if (owner) chmodSync(env.workDir, 0o711);
  const base = env.dir('pgaf', { owner });
  const sub = (name: string) => env.dir(name, { owner });
  const cfgDir = sub('pgaf-config');
  const shareDir = sub('pgaf-share');
  const runDir = sub('pgaf-run');
  const logDir = env.dir('pgaf-logs');
  const pEnv: NodeJS.ProcessEnv = {
    PATH: `${pgBin}:/usr/local/bin:/usr/bin:/bin`, HOME: base, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', PGHOST: '127.0.0.1',
    XDG_CONFIG_HOME: cfgDir, XDG_DATA_HOME: shareDir, XDG_RUNTIME_DIR: runDir,
  };
  const ids = owner;
  const monitorPort = await freeLoopbackPort();
  const monitorUri = `postgres://autoctl_node@127.0.0.1:${monitorPort}/pg_auto_failover`;
  const monitorDir = join(base, 'monitor');
  const nodes = [1, 2].map((i) => ({ name: `node${i}`, port: 0, dataDir: join(base, `node${i}`) }));
  const keepers = new Map<string, ChildProcess>();
  const dirOf = (name: string) => (name === 'monitor' ? monitorDir : nodes.find((n) => n.name === name)!.dataDir);
  const logFile = (name: string) => join(logDir, `${name}.log`);
  const running = (k: ChildProcess | undefined): k is ChildProcess => !!k && k.exitCode === null && k.signalCode === null;

  env.defer('stop the pg_auto_failover formation', async () => {
    const roots: number[] = [];
    for (const k of keepers.values()) if (running(k) && k.pid) roots.push(k.pid);
    for (const name of ['monitor', ...nodes.map((n) => n.name)]) { const pm = livePostmaster(dirOf(name)); if (pm) roots.push(pm); }
    const killed = killTree(roots);
    await waitUntil('the formation to stop', async () => !killed.some(alive), 10_000, 100).catch(() => undefined);
  });
  for (const d of [monitorDir, ...nodes.map((n) => n.dataDir)]) env.trackPostgres(d);

  const pgautoctl = async (args: string[], timeoutMs = 120_000): Promise<string> => {
    const r = await run(autoctl, args, { env: pEnv, ids, timeoutMs });
    appendFileSync(join(logDir, 'pg_autoctl-commands.log'), `$ pg_autoctl ${args.join(' ')}\n${r.stdout}${r.stderr}\n`);
    if (r.code !== 0) throw new Error(`pg_autoctl ${args.slice(0, 2).join(' ')} failed (${r.code}): ${r.stderr.trim().split('\n').slice(-8).join(' | ')}`);
    return r.stdout;
  };
  const startKeeper = (name: string): void => {
    const fd = openSync(logFile(name), 'a');
    const child = spawn(autoctl, ['run', '--pgdata', dirOf(name)], { env: pEnv, stdio: ['ignore', fd, fd], detached: true, cwd: '/', ...(ids ?? {}) });
    closeSync(fd);
    child.on('error', () => undefined);
    if (child.pid) env.trackPid(child.pid);
    keepers.set(name, child);
  };
  const psql = async (port: number, sql: string, q: { user?: string; database?: string } = {}): Promise<string> => {
    const r = await run(join(pgBin, 'psql'), ['-XAtq', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', q.user ?? 'postgres', '-d', q.database ?? 'postgres', '-c', sql],
      { env: { ...pEnv, PGCONNECT_TIMEOUT: '3' }, timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(r.stderr.trim() || `psql exited with ${r.code}`);
    return r.stdout.trim();
  };
  const state = async (): Promise<AfState[]> => {
    const out = await pgautoctl(['show', 'state', '--monitor', monitorUri, '--json'], 15_000);
    return (JSON.parse(out) as Array<Record<string, unknown>>).map((x) => ({
      name: String(x.nodename), port: Number(x.nodeport), reported: String(x.current_group_state), assigned: String(x.assigned_group_state),
    }));
  };
  const waitForState = (name: string, states: string[], timeoutMs = 90_000) => waitUntil(`${name} in ${states.join('/')}`, async () => {
    const s = (await state()).find((x) => x.name === name);
    return s && s.reported === s.assigned && states.includes(s.reported) ? s : null;
  }, timeoutMs, 250);
  const primary = async (): Promise<{ name: string; port: number }> => {
    const p = (await state()).filter(isPrimaryState);
    if (p.length !== 1) throw new Error(`no single primary (${p.length})`);
    if ((await psql(p[0]!.port, 'select pg_is_in_recovery()')) !== 'f') throw new Error(`${p[0]!.name} is still in recovery`);
    return { name: p[0]!.name, port: p[0]!.port };
  };

  try {
    await pgautoctl(['create', 'monitor', '--pgdata', monitorDir, '--pgport', String(monitorPort), '--pgctl', join(pgBin, 'pg_ctl'), '--hostname', '127.0.0.1', '--auth', 'trust', '--no-ssl']);
    await pgautoctl(['config', 'set', '--pgdata', monitorDir, 'postgresql.listen_addresses', '127.0.0.1']);
    appendFileSync(join(monitorDir, 'postgresql.auto.conf'), SMALL_INSTANCE + Object.entries(FAST_MONITOR_GUCS).map(([k, v]) => `${k} = '${v}'\n`).join(''));
    startKeeper('monitor');
    await waitUntil('the monitor', async () => (await psql(monitorPort, 'select count(*) from pgautofailover.formation', { user: 'autoctl_node', database: 'pg_auto_failover' })) !== '', 60_000, 250);
    for (const [i, n] of nodes.entries()) {
      n.port = await freeLoopbackPort();
      await pgautoctl(['create', 'postgres', '--pgdata', n.dataDir, '--pgport', String(n.port), '--pgctl', join(pgBin, 'pg_ctl'), '--listen', '127.0.0.1',
        '--name', n.name, '--hostname', '127.0.0.1', '--auth', 'trust', '--no-ssl', '--monitor', `${monitorUri}?sslmode=disable`]);
      await pgautoctl(['config', 'set', '--pgdata', n.dataDir, 'timeout.network_partition_timeout', '3']);
      if (i === 0) appendFileSync(join(n.dataDir, 'postgresql.auto.conf'), SMALL_INSTANCE);
      startKeeper(n.name);
      o.progress?.(`    ${n.name} on 127.0.0.1:${n.port}`);
      await waitForState(n.name, i === 0 ? ['single'] : ['secondary']);
    }
    const p = await waitForState(nodes[0]!.name, ['primary']);
    await waitUntil('synchronous_standby_names on the primary', async () => (await psql(p.port, 'show synchronous_standby_names')) !== '', 60_000, 250);
    await psql(p.port, `create role "${o.user}" login`);
    await psql(p.port, `create database "${o.database}" owner "${o.user}"`);
  } catch (e) {
    const tail = [...keepers.keys()].map((k) => `--- ${k}\n${readFileSafe(logFile(k)).split('\n').slice(-10).join('\n')}`).join('\n');
    throw new Error(`${(e as Error).message}\n${tail}`);
  }

  const killNode = async (name: string, port: number): Promise<void> => {
    const k = keepers.get(name);
    const pm = livePostmaster(dirOf(name));
    const roots = [running(k) ? k.pid : undefined, pm ?? undefined].filter((x): x is number => x !== undefined);
    const killed = killTree(roots);
    await waitUntil(`${name} processes to die`, async () => !killed.some(alive), 10_000, 50);
    await waitUntil(`port ${port} to close`, async () => psql(port, 'select 1').then(() => false, () => true), 10_000, 100);
  };

  return {
    hosts: nodes.map((n) => `127.0.0.1:${n.port}`),
    nodes,
    primary,
    psql,
    async killPrimary() {
      const p = await primary();
      await killNode(p.name, p.port);
      return p;
    },
    waitForPrimary: (exceptName, timeoutMs) => waitUntil(`a primary other than ${exceptName}`, async () => {
      const p = await primary();
      return p.name === exceptName ? null : p;
    }, timeoutMs, 250),
    async syncState() {
      const p = await primary();
      return psql(p.port, 'select coalesce(string_agg(sync_state, \',\'), \'\') from pg_stat_replication');
    },
  };
}

function readFileSafe(f: string): string {
  try { return readFileSync(f, 'utf8'); } catch { return ''; }
}
