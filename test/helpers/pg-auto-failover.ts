/**
 * A PostgreSQL primary with a synchronous standby, managed by pg_auto_failover
 * (Debian package postgresql-15-auto-failover), on loopback in a temp dir:
 * one monitor and two data nodes, each run by its own `pg_autoctl run` as the
 * `postgres` OS user (PostgreSQL refuses to run as root). Failover decisions
 * are the monitor's; nothing here promotes or demotes anything. The helper
 * only starts, kills (-9, like a crashed machine) and restarts keepers.
 *
 * Used by test/db-failover.test.ts and scripts/ha-lab.ts. The process
 * handling (commands as the postgres user, killing process trees, finding a
 * live postmaster) and the fast-failover monitor settings are the
 * database-failover drill's (src/dr/pg-auto-failover.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, realpathSync, appendFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { connect } from 'node:net';
import { waitUntil } from '../../src/core/wait.js';
import { postgresOwner } from '../../src/dr/isolated-postgres.js';
import { alive, FAST_MONITOR_GUCS, killTree, livePostmaster, isPrimaryState, run } from '../../src/dr/pg-auto-failover.js';
import { requireCommand } from './debian.js';
import { freePort } from './ports.js';

export interface AutoFailoverOptions {
  /** Parent of all data directories; default a fresh temp dir (removed by stop()). */
  baseDir?: string;
  monitorPort?: number;
  /** Ports of the two data nodes. */
  ports?: [number, number];
  /** Application database and role created on the primary (trust auth from 127.0.0.1). Default `rampart`. */
  database?: string;
  user?: string;
  /** Monitor / keeper timeouts tuned for a failover in seconds rather than a minute. Default true. */
  fastFailover?: boolean;
  /** Keep the directories after stop() (logs, data) for inspection. */
  keep?: boolean;
  log?: (msg: string) => void;
  /**
   * Where each role runs (the fault lab: a network namespace per role); default all on 127.0.0.1 here.
   * Each server listens on its host's address only; `trustNetwork` (CIDR) is trusted in every pg_hba.conf.
   */
  placement?: { monitor: AfHost; nodes: [AfHost, AfHost]; trustNetwork: string };
}

/** A host a role runs on: its address, and the argv prefix that runs a command there (e.g. `ip netns exec <ns>`). */
export interface AfHost { address: string; wrap: string[] }

export interface AfNode { name: string; port: number; dataDir: string; address: string }
export interface AfNodeState { name: string; port: number; reported: string; assigned: string; health: number; lsn: string; tli: number }

export interface AutoFailover {
  baseDir: string;
  monitorPort: number;
  /** postgres://autoctl_node@<monitor address>:<port>/pg_auto_failover */
  monitorUri: string;
  nodes: AfNode[];
  database: string;
  user: string;
  /** `<address>:<port>` of every data node, for `database.hosts`. */
  hosts(): string[];
  /** libpq URI over all hosts with target_session_attrs=read-write. */
  connectionUri(): string;
  /** `pg_autoctl show state --json` against the monitor. */
  state(): Promise<AfNodeState[]>;
  /** The node the monitor holds as primary (reported = assigned) that also answers pg_is_in_recovery() = false. */
  primary(): Promise<{ name: string; port: number }>;
  /** kill -9 the primary's whole process tree: keeper, postmaster, backends. Returns when it is gone. */
  killPrimary(): Promise<{ name: string; port: number; killedAt: number }>;
  killNode(name: string): Promise<number>;
  /** Starts the node's keeper (`pg_autoctl run`) again; the monitor decides what it becomes. */
  restartNode(name: string): void;
  /** Waits until the monitor has a primary other than `exceptName`. */
  waitForPrimary(exceptName?: string, timeoutMs?: number): Promise<{ name: string; port: number }>;
  /** Waits until the node reports (and is assigned) one of `states`. */
  waitForState(name: string, states: string[], timeoutMs?: number): Promise<AfNodeState>;
  /** Runs SQL with psql (-XAtq, ON_ERROR_STOP); rejects with psql's error text. */
  psql(port: number, sql: string, opts?: { user?: string; database?: string }): Promise<string>;
  logs(name: string): string;
  stop(): Promise<void>;
}

/** pg_autoctl sizes shared_buffers to the machine (GBs); three small test instances need far less. */
const SMALL_INSTANCE = "shared_buffers = '128MB'\nmax_connections = 200\n";
/** Keepers' network_partition_timeout: below the monitor's primary_demote_timeout (FAST_MONITOR_GUCS), so an isolated primary demotes itself before the standby is promoted. */
const FAST_NETWORK_PARTITION_TIMEOUT_S = '3';

/** PostgreSQL server binaries matching pg_autoctl's build (15), else the newest installed. */
export function pgBinDir(): string {
  return dirname(realpathSync(requireCommand('pg_ctl', 'postgresql-15', { dirs: ['/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/*/bin'] })));
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.setTimeout(1000, () => { s.destroy(); resolve(false); });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

const running = (k: ChildProcess | undefined): k is ChildProcess => !!k && k.exitCode === null && k.signalCode === null;

// ------------------------------------------------------------ the formation

export async function startAutoFailover(opts: AutoFailoverOptions = {}): Promise<AutoFailover> {
  requireCommand('pg_autoctl', 'postgresql-15-auto-failover');
  const bin = pgBinDir();
  requireCommand(join(bin, 'psql'), 'postgresql-client-15');
  const ids = await postgresOwner();
  const log = opts.log ?? (() => {});
  const fast = opts.fastFailover ?? true;
  const database = opts.database ?? 'rampart';
  const user = opts.user ?? 'rampart';
  const baseDir = opts.baseDir ?? mkdtempSync(join(tmpdir(), 'rampart-pgaf-'));
  for (const d of [baseDir, ...['config', 'share', 'run'].map((s) => join(baseDir, s))]) {
    mkdirSync(d, { recursive: true });
    if (ids) chownSync(d, ids.uid, ids.gid);
  }
  mkdirSync(join(baseDir, 'logs'), { recursive: true });
  const monitorPort = opts.monitorPort ?? await freePort();
  const here: AfHost = { address: '127.0.0.1', wrap: [] };
  const place = opts.placement;
  const monitorHost = place?.monitor ?? here;
  const monitorUri = `postgres://autoctl_node@${monitorHost.address}:${monitorPort}/pg_auto_failover`;
  const monitorDir = join(baseDir, 'monitor');
  // Ports are picked right before each server first binds them (0 = not picked yet), to keep the race with other processes short.
  const nodes: AfNode[] = [1, 2].map((i) => ({ name: `node${i}`, port: opts.ports?.[i - 1] ?? 0, dataDir: join(baseDir, `node${i}`), address: place?.nodes[i - 1]!.address ?? here.address }));
  const hostOf = (name: string): AfHost => (name === 'monitor' ? monitorHost : place?.nodes[nodes.findIndex((n) => n.name === name)] ?? here);
  const addressOfPort = (port: number): string => (port === monitorPort ? monitorHost.address : nodes.find((n) => n.port === port)?.address ?? here.address);
  const env: NodeJS.ProcessEnv = {
    PATH: `${bin}:/usr/local/bin:/usr/bin:/bin`, HOME: baseDir, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', PGHOST: '127.0.0.1',
    XDG_CONFIG_HOME: join(baseDir, 'config'), XDG_DATA_HOME: join(baseDir, 'share'), XDG_RUNTIME_DIR: join(baseDir, 'run'),
  };
  const keepers = new Map<string, ChildProcess>();
  const dataDirOf = (name: string) => (name === 'monitor' ? monitorDir : nodes.find((n) => n.name === name)?.dataDir);
  const logFile = (name: string) => join(baseDir, 'logs', `${name}.log`);
  const onExit = () => { for (const k of keepers.values()) if (running(k) && k.pid) killTree([k.pid]); };
  process.once('exit', onExit);

  /** Where a server listens: its host's address, and (placed in a namespace) that namespace's own loopback, which pg_autoctl uses for local connections. */
  const listenOn = (h: AfHost): string => (h.address === here.address ? h.address : `${h.address},${here.address}`);
  /** pg_autoctl as the postgres user on the host of `role`; inside a namespace through setpriv (ip netns exec needs root). */
  const onHost = (role: string, args: string[]): { cmd: string; args: string[]; env: NodeJS.ProcessEnv; ids?: { uid: number; gid: number } } => {
    const h = hostOf(role);
    const e = env;
    if (h.wrap.length === 0) return { cmd: 'pg_autoctl', args, env: e, ids: ids ?? undefined };
    const asPg = ids ? ['setpriv', `--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--clear-groups'] : [];
    return { cmd: h.wrap[0]!, args: [...h.wrap.slice(1), ...asPg, 'pg_autoctl', ...args], env: e };
  };

  async function autoctl(args: string[], timeoutMs = 120_000, role = 'monitor'): Promise<string> {
    const c = onHost(role, args);
    const r = await run(c.cmd, c.args, { env: c.env, ids: c.ids, timeoutMs });
    appendFileSync(join(baseDir, 'logs', 'pg_autoctl-commands.log'), `$ pg_autoctl ${args.join(' ')}\n${r.stdout}${r.stderr}\n`);
    if (r.code !== 0) throw new Error(`pg_autoctl ${args.join(' ')} failed (${r.code}):\n${r.stderr.split('\n').slice(-25).join('\n')}`);
    return r.stdout;
  }

  function startKeeper(name: string): void {
    const dir = dataDirOf(name);
    if (!dir) throw new Error(`unknown node ${name}`);
    if (running(keepers.get(name))) throw new Error(`keeper of ${name} is still running`);
    const fd = openSync(logFile(name), 'a');
    const c = onHost(name, ['run', '--pgdata', dir]);
    const child = spawn(c.cmd, c.args, { env: c.env, stdio: ['ignore', fd, fd], detached: true, ...(c.ids ?? {}) });
    closeSync(fd);
    child.on('error', (e) => log(`pg_autoctl run ${name}: ${e.message}`));
    keepers.set(name, child);
    log(`started keeper of ${name} (pid ${child.pid})`);
  }

  async function psql(port: number, sql: string, o: { user?: string; database?: string } = {}): Promise<string> {
    const r = await run(join(bin, 'psql'), ['-XAtq', '-v', 'ON_ERROR_STOP=1', '-h', addressOfPort(port), '-p', String(port), '-U', o.user ?? 'postgres', '-d', o.database ?? 'postgres', '-c', sql],
      { env: { ...env, PGCONNECT_TIMEOUT: '3' }, timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(r.stderr.trim() || `psql exited with ${r.code}`);
    return r.stdout.trim();
  }

  async function state(): Promise<AfNodeState[]> {
    const r = await run('pg_autoctl', ['show', 'state', '--monitor', monitorUri, '--json'], { env, timeoutMs: 15_000 });
    if (r.code !== 0) throw new Error(`pg_autoctl show state: ${r.stderr.trim()}`);
    const rows = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    return rows.map((x) => ({
      name: String(x.nodename), port: Number(x.nodeport), reported: String(x.current_group_state), assigned: String(x.assigned_group_state),
      health: Number(x.health), lsn: String(x.reported_lsn), tli: Number(x.reported_tli),
    }));
  }

  async function primary(): Promise<{ name: string; port: number }> {
    const st = await state();
    const p = st.filter(isPrimaryState);
    if (p.length !== 1) throw new Error(`no single primary: ${JSON.stringify(st)}`);
    if (await psql(p[0]!.port, 'select pg_is_in_recovery()') !== 'f') throw new Error(`${p[0]!.name} is still in recovery`);
    return { name: p[0]!.name, port: p[0]!.port };
  }

  const waitFor = <T>(what: string, timeoutMs: number, probe: () => Promise<T | null>): Promise<T> => waitUntil(what, probe, timeoutMs, 250);

  const waitForState = (name: string, states: string[], timeoutMs = 90_000) => waitFor(`${name} in ${states.join('/')}`, timeoutMs, async () => {
    const s = (await state()).find((x) => x.name === name);
    return s && s.reported === s.assigned && states.includes(s.reported) ? s : null;
  });

  async function killNode(name: string): Promise<number> {
    const k = keepers.get(name);
    const pm = livePostmaster(dataDirOf(name)!);
    const roots = [running(k) ? k.pid : undefined, pm ?? undefined].filter((p): p is number => p !== undefined);
    const killedAt = Date.now();
    const killed = killTree(roots);
    log(`kill -9 ${name}: ${killed.length} processes`);
    await waitFor(`${name} processes to die`, 10_000, async () => (killed.some(alive) ? null : true));
    const port = nodes.find((n) => n.name === name)?.port ?? monitorPort;
    await waitFor(`port ${port} to close`, 10_000, async () => (await portOpen(addressOfPort(port), port) ? null : true));
    return killedAt;
  }

  async function stopKeeper(name: string): Promise<void> {
    const k = keepers.get(name);
    if (running(k)) {
      const done = new Promise<void>((r) => k.once('exit', () => r()));
      try { process.kill(k.pid!, 'SIGTERM'); } catch { /* gone */ }
      const t = setTimeout(() => killTree([k.pid!]), 30_000);
      await done;
      clearTimeout(t);
    }
    const pm = livePostmaster(dataDirOf(name)!);
    if (pm !== null) { // keeper gone but postgres left behind
      killTree([pm]);
      await waitFor(`postgres of ${name} to die`, 10_000, async () => (alive(pm) ? null : true)).catch(() => {});
    }
  }

  /** Placed on lab hosts: the lab's network is trusted (clients, replication, the monitor), read when the keeper (re)starts the server. */
  function trustNetwork(dataDir: string): void {
    if (!place) return;
    appendFileSync(join(dataDir, 'pg_hba.conf'), `\n# fault lab\nhost all all ${place.trustNetwork} trust\nhost replication all ${place.trustNetwork} trust\n`);
  }

  let stopped = false;
  async function stop(): Promise<void> {
    if (stopped) return;
    stopped = true;
    for (const n of nodes) await stopKeeper(n.name).catch((e) => log(`stopping ${n.name}: ${(e as Error).message}`));
    await stopKeeper('monitor').catch((e) => log(`stopping monitor: ${(e as Error).message}`));
    process.removeListener('exit', onExit);
    if (!opts.keep && !opts.baseDir) rmSync(baseDir, { recursive: true, force: true });
  }

  try {
    // Monitor.
    await autoctl(['create', 'monitor', '--pgdata', monitorDir, '--pgport', String(monitorPort), '--pgctl', join(bin, 'pg_ctl'),
      '--hostname', monitorHost.address, '--auth', 'trust', '--no-ssl']);
    await autoctl(['config', 'set', '--pgdata', monitorDir, 'postgresql.listen_addresses', listenOn(monitorHost)]);
    trustNetwork(monitorDir);
    const gucs = fast ? Object.entries(FAST_MONITOR_GUCS).map(([k, v]) => `${k} = '${v}'\n`).join('') : '';
    appendFileSync(join(monitorDir, 'postgresql.auto.conf'), SMALL_INSTANCE + gucs);
    startKeeper('monitor');
    await waitFor('the monitor', 60_000, async () => (await psql(monitorPort, 'select count(*) from pgautofailover.formation', { user: 'autoctl_node', database: 'pg_auto_failover' })) ? true : null);

    // Data nodes: the first becomes primary ("single"), the second is cloned from it and follows.
    for (const [i, n] of nodes.entries()) {
      if (n.port === 0) n.port = await freePort();
      await autoctl(['create', 'postgres', '--pgdata', n.dataDir, '--pgport', String(n.port), '--pgctl', join(bin, 'pg_ctl'), '--listen', listenOn(hostOf(n.name)),
        '--name', n.name, '--hostname', n.address, '--auth', 'trust', '--no-ssl', '--monitor', `${monitorUri}?sslmode=disable`], 120_000, n.name);
      if (fast) await autoctl(['config', 'set', '--pgdata', n.dataDir, 'timeout.network_partition_timeout', FAST_NETWORK_PARTITION_TIMEOUT_S], 120_000, n.name);
      trustNetwork(n.dataDir);
      if (i === 0) appendFileSync(join(n.dataDir, 'postgresql.auto.conf'), SMALL_INSTANCE); // the standby's clone copies it
      startKeeper(n.name);
      await waitForState(n.name, i === 0 ? ['single'] : ['secondary']);
    }
    const p = await waitForState(nodes[0]!.name, ['primary']);

    // Synchronous replication: pg_auto_failover sets synchronous_standby_names once the
    // standby is caught up (replication-quorum true, number-sync-standbys 0 → ANY 1).
    await waitFor('synchronous_standby_names on the primary', 60_000, async () => ((await psql(p.port, 'show synchronous_standby_names')) ? true : null));
    const syncCommit = await psql(p.port, 'show synchronous_commit');
    if (syncCommit !== 'on' && syncCommit !== 'remote_apply') throw new Error(`synchronous_commit is ${syncCommit}`);

    // Application role and database (initdb --auth trust already trusts 127.0.0.1; replicated to the standby).
    await psql(p.port, `create role "${user}" login`);
    await psql(p.port, `create database "${database}" owner "${user}"`);
    log(`pg_auto_failover formation ready: monitor ${monitorPort}, ${nodes.map((n) => `${n.name} ${n.port}`).join(', ')}`);
  } catch (e) {
    const tail = [...keepers.keys()].map((k) => `--- ${k}\n${readTail(logFile(k))}`).join('\n');
    await stop().catch(() => {});
    throw new Error(`${(e as Error).message}\n${tail}`);
  }

  return {
    baseDir, monitorPort, monitorUri, nodes, database, user,
    hosts: () => nodes.map((n) => `${n.address}:${n.port}`),
    connectionUri: () => `postgres://${user}@${nodes.map((n) => `${n.address}:${n.port}`).join(',')}/${database}?target_session_attrs=read-write&connect_timeout=2`,
    state, primary, psql, killNode, waitForState,
    async killPrimary() {
      const p = await primary();
      const killedAt = await killNode(p.name);
      return { ...p, killedAt };
    },
    restartNode: startKeeper,
    waitForPrimary: (exceptName?: string, timeoutMs = 60_000) => waitFor(`a primary other than ${exceptName ?? '-'}`, timeoutMs, async () => {
      const p = await primary();
      return p.name === exceptName ? null : p;
    }),
    logs: (name: string) => readTail(logFile(name), 1 << 20),
    stop,
  };
}

function readTail(file: string, max = 4000): string {
  try { const s = readFileSync(file, 'utf8'); return s.slice(-max); } catch { return ''; }
}
