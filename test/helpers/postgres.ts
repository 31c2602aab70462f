/**
 * Throwaway PostgreSQL clusters for tests: a primary and optional streaming
 * standbys (pg_basebackup -R, one replication slot each), in a temporary
 * directory, listening only on 127.0.0.1 with free ports, fsync on,
 * synchronous_commit on (and synchronous_standby_names='*' when asked, so an
 * acknowledged commit is on a standby too). Trust authentication for
 * 127.0.0.1 only, data checksums on (initdb -k). Server processes run as the `postgres` OS user when we are
 * root (PostgreSQL refuses to run as root). stop() kills everything
 * (`pg_ctl stop -m immediate`, then SIGKILL) and removes the directories.
 *
 * With `synchronousNames`, every node is named (cluster_name and the
 * application_name its walreceiver reports = the node's name) and the
 * primary waits for the first of those names (FIRST 1 (...)), so e.g.
 * standby1 is synchronous and standby2 an asynchronous cross-region replica.
 * Single nodes can be killed, stopped and started again (kill, stopNode,
 * start), and setPrimary() follows a promotion done outside the harness.
 *
 * Running commands as the postgres user, finding and killing postmasters
 * and waiting are the DR drills' (src/dr/isolated-postgres.ts and friends).
 */
import { lintPostgresErrors } from './lint-data-dir.js';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { waitUntil } from '../../src/core/wait.js';
import { postmasterPid } from '../../src/dr/drill-environment.js';
import { exec, postgresOwner } from '../../src/dr/isolated-postgres.js';
import { alive } from '../../src/dr/pg-auto-failover.js';
import { requireCommand } from './debian.js';
import { freePort } from './ports.js';

export interface PgNode {
  /** 'primary', 'standby1', ... (the role it was created with). */
  name: string;
  port: number;
  dataDir: string;
  logFile: string;
  /** '127.0.0.1:<port>' */
  host: string;
}

export interface PgCluster {
  /** The node currently acting as primary (the promoted standby after promote()). */
  readonly primary: PgNode;
  /** The standbys as created (promote() does not reorder them). */
  readonly standbys: PgNode[];
  /** Every node, as created: the first primary, then the standbys. */
  readonly nodes: PgNode[];
  /** '127.0.0.1:port' of every node, in creation order (the first primary first). */
  hosts(): string[];
  /** postgres:// URL for role rampart, database rampart, listing every host. */
  readonly url: string;
  /** Runs SQL with psql as the superuser; returns unaligned, tuples-only output, trimmed. */
  psql(sql: string, port?: number, database?: string): Promise<string>;
  /** Creates a database owned by rampart. */
  createDatabase(name: string): Promise<void>;
  /** Sends `signal` (default SIGKILL) to the current primary's postmaster and waits for it to die. */
  killPrimary(signal?: NodeJS.Signals): Promise<void>;
  /** Promotes standby `standbyIndex` (pg_ctl promote -w); it becomes `primary`. */
  promote(standbyIndex: number): Promise<void>;
  /** Sends `signal` (default SIGKILL) to `node`'s postmaster and waits for it to die. */
  kill(node: PgNode, signal?: NodeJS.Signals): Promise<void>;
  /** pg_ctl start on the node's existing data directory (again); stop() stops it too. */
  start(node: PgNode): Promise<void>;
  /** pg_ctl stop -m `mode` (default fast) on one node; a no-op when it is not running. */
  stopNode(node: PgNode, mode?: 'fast' | 'immediate'): Promise<void>;
  /** Records that `node` is the primary now (promoted outside the harness). */
  setPrimary(node: PgNode): void;
  /** Stops every server immediately and removes the directories. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  /** Streaming standbys to create (default 0). */
  standbys?: number;
  /** Make commits wait for a standby (synchronous_standby_names='*'); needs standbys >= 1. */
  synchronous?: boolean;
  /** Extra postgresql.conf lines for every node. */
  settings?: Record<string, string | number>;
  /**
   * Name every node (cluster_name and walreceiver application_name = node
   * name) and make the primary wait for the first of these names
   * (synchronous_standby_names = 'FIRST 1 (...)'); waits until that standby
   * is 'sync'. Not together with `synchronous`.
   */
  synchronousNames?: string[];
  /** Data checksums (initdb -k; default true). Off for a test that needs a cluster pg_rewind cannot handle. */
  checksums?: boolean;
}

const PG_DIRS = ['/usr/lib/postgresql/*/bin'];

/**
 * Safety net for a test process that exits without stop() (crash, forgotten
 * after hook): every data directory still in use gets its postmaster sent
 * SIGQUIT (immediate shutdown) and is removed, synchronously, at exit.
 */
const liveRoots = new Map<string, () => string[]>();
process.once('exit', () => {
  for (const [root, dataDirs] of liveRoots) {
    for (const dir of dataDirs()) {
      const pid = postmasterPid(dir);
      if (pid !== null) try { process.kill(pid, 'SIGQUIT'); } catch { /* gone */ }
    }
    try { rmSync(root, { recursive: true, force: true }); } catch { /* best effort */ }
  }
});
/** Directory of the PostgreSQL server binaries (installs Debian's postgresql when root and missing). */
export function postgresBinDir(): string {
  // realpath: initdb may be a symlink in /usr/local/bin while psql,
  // pg_basebackup etc. are only in the versioned directory.
  return dirname(realpathSync(requireCommand('initdb', 'postgresql', { dirs: PG_DIRS })));
}

const waitFor = (what: string, fn: () => Promise<boolean>, timeoutMs = 60_000): Promise<boolean> => waitUntil(what, fn, timeoutMs, 100);

/**
 * A standby made by pg_basebackup -R reports its node name as application_name:
 * cluster_name = name (the walreceiver's default application_name), and
 * application_name = name appended to primary_conninfo too, in case -R put
 * one there (libpq takes the last of a repeated keyword).
 */
function nameStandby(s: PgNode): void {
  const auto = join(s.dataDir, 'postgresql.auto.conf');
  const text = readFileSync(auto, 'utf8')
    .replace(/^cluster_name = .*\n/gm, '') // the primary's, copied by pg_basebackup
    .replace(/^(primary_conninfo = '.*)'$/m, `$1 application_name=${s.name}'`);
  if (!/^primary_conninfo = .*application_name=/m.test(text)) throw new Error(`${s.name}: no primary_conninfo in ${auto}`);
  writeFileSync(auto, `${text.trimEnd()}\ncluster_name = '${s.name}'\n`);
}

export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PgCluster> {
  const nStandbys = opts.standbys ?? 0;
  if (opts.synchronous && nStandbys < 1) throw new Error('synchronous replication needs at least one standby');
  const syncNames = opts.synchronousNames;
  if (syncNames) {
    if (opts.synchronous) throw new Error('synchronous and synchronousNames are exclusive');
    const known = Array.from({ length: nStandbys }, (_, i) => `standby${i + 1}`);
    const bad = syncNames.filter((n) => !known.includes(n));
    if (syncNames.length === 0 || bad.length) throw new Error(`synchronousNames must name standbys (${known.join(', ') || 'none'}): ${bad.join(', ') || 'empty'}`);
  }
  const bin = postgresBinDir();
  const pg = (name: string) => join(bin, name);
  const root = mkdtempSync(join(tmpdir(), 'rampart-pg-'));
  const owner = await postgresOwner();
  if (owner) chownSync(root, owner.uid, owner.gid);

  const nodes: PgNode[] = [];
  const started: PgNode[] = [];
  let current: PgNode;
  let stopped = false;

  const newNode = async (name: string): Promise<PgNode> => {
    const port = await freePort();
    const n = { name, port, dataDir: join(root, name), logFile: join(root, `${name}.log`), host: `127.0.0.1:${port}` };
    nodes.push(n);
    return n;
  };
  const psql = async (sql: string, port = current.port, database = 'postgres'): Promise<string> =>
    (await exec(pg('psql'), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', database, '-c', sql])).trim();
  const startNode = async (n: PgNode) => {
    if (!started.includes(n)) started.push(n);
    try {
      await exec(pg('pg_ctl'), ['start', '-w', '-t', '60', '-D', n.dataDir, '-l', n.logFile], { asPostgres: true });
    } catch (e) {
      const log = existsSync(n.logFile) ? readFileSync(n.logFile, 'utf8').split('\n').slice(-30).join('\n') : '';
      throw new Error(`${String(e)}\n--- ${n.name} log ---\n${log}`);
    }
  };
  const killNode = async (n: PgNode, signal: NodeJS.Signals) => {
    const pid = postmasterPid(n.dataDir);
    if (pid === null) throw new Error(`${n.name} has no postmaster.pid`);
    process.kill(pid, signal);
    await waitFor(`${n.name} postmaster ${pid} to exit`, async () => !alive(pid), 30_000);
  };
  const owned = (n: PgNode) => {
    if (!nodes.includes(n)) throw new Error(`${n.name} (${n.dataDir}) is not a node of this cluster`);
    return n;
  };
  const stopImmediate = async (n: PgNode) => {
    const pid = postmasterPid(n.dataDir);
    if (pid === null || !alive(pid)) return;
    const ok = await exec(pg('pg_ctl'), ['stop', '-m', 'immediate', '-w', '-t', '30', '-D', n.dataDir], { asPostgres: true }).then(() => true, () => false);
    if (!ok && alive(pid)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      await waitFor(`${n.name} to exit`, async () => !alive(pid), 30_000).catch(() => undefined);
    }
  };

  const cluster: PgCluster = {
    get primary() { return current; },
    get standbys() { return nodes.filter((n) => n.name.startsWith('standby')); },
    get nodes() { return [...nodes]; },
    hosts: () => nodes.map((n) => n.host),
    get url() { return `postgres://rampart@${nodes.map((n) => n.host).join(',')}/rampart`; },
    psql,
    async createDatabase(name: string) {
      await psql(`CREATE DATABASE "${name.replace(/"/g, '""')}" OWNER rampart`);
    },
    async killPrimary(signal: NodeJS.Signals = 'SIGKILL') {
      await killNode(current, signal);
    },
    async kill(node: PgNode, signal: NodeJS.Signals = 'SIGKILL') {
      await killNode(owned(node), signal);
    },
    async start(node: PgNode) {
      if (stopped) throw new Error('the cluster is stopped');
      await startNode(owned(node));
    },
    async stopNode(node: PgNode, mode: 'fast' | 'immediate' = 'fast') {
      const pid = postmasterPid(owned(node).dataDir);
      if (pid === null || !alive(pid)) return;
      await exec(pg('pg_ctl'), ['stop', '-m', mode, '-w', '-t', '60', '-D', node.dataDir], { asPostgres: true });
    },
    setPrimary(node: PgNode) {
      current = owned(node);
    },
    async promote(standbyIndex: number) {
      const s = cluster.standbys[standbyIndex];
      if (!s) throw new Error(`no standby ${standbyIndex}`);
      await exec(pg('pg_ctl'), ['promote', '-w', '-t', '60', '-D', s.dataDir], { asPostgres: true });
      await waitFor(`${s.name} to leave recovery`, async () => (await psql('SELECT pg_is_in_recovery()', s.port)) === 'f');
      current = s;
    },
    async stop() {
      if (stopped) return;
      // What the test's nodes stored is linted first (lint-data-dir.ts), when the primary still answers.
      let problems: string[] = [];
      try {
        problems = await lintPostgresErrors((sql, database) => psql(sql, current.port, database));
      } catch { /* the primary is down or gone: nothing to read */ }
      stopped = true;
      for (const n of [...started].reverse()) await stopImmediate(n);
      rmSync(root, { recursive: true, force: true });
      liveRoots.delete(root);
      if (problems.length) throw new Error(`what the nodes on this PostgreSQL cluster signed fails lint (src/pki/lint):\n${problems.join('\n')}`);
    },
  };

  liveRoots.set(root, () => started.map((n) => n.dataDir));
  try {
    const primary = await newNode('primary');
    current = primary;
    // -k: data checksums, so a damaged page fails when read (the integrity check counts on it).
    await exec(pg('initdb'), ['-D', primary.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-instructions', ...(opts.checksums === false ? [] : ['-k'])], { asPostgres: true });
    writeFileSync(join(primary.dataDir, 'pg_hba.conf'), [
      '# tests only: trust on loopback IPv4, nothing else',
      'host all all 127.0.0.1/32 trust',
      'host replication all 127.0.0.1/32 trust',
      '',
    ].join('\n'));
    const settings: Record<string, string | number> = {
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: "''",
      fsync: 'on',
      synchronous_commit: 'on',
      full_page_writes: 'on',
      wal_level: 'replica',
      wal_log_hints: 'on',
      max_wal_senders: 10,
      max_replication_slots: 10,
      hot_standby: 'on',
      max_connections: 300,
      shared_buffers: "'32MB'",
      log_min_messages: 'warning',
      log_connections: 'off',
      ...opts.settings,
    };
    appendFileSync(join(primary.dataDir, 'postgresql.conf'),
      `\n# rampart test cluster\n${Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`);
    // Each node's port lives in its own postgresql.auto.conf (read last), so
    // the copies pg_basebackup makes can carry a different one.
    appendFileSync(join(primary.dataDir, 'postgresql.auto.conf'), `port = ${primary.port}\n${syncNames ? "cluster_name = 'primary'\n" : ''}`);
    await startNode(primary);
    await psql('CREATE ROLE rampart LOGIN');
    await psql('CREATE DATABASE rampart OWNER rampart');

    for (let i = 1; i <= nStandbys; i++) {
      const s = await newNode(`standby${i}`);
      await exec(pg('pg_basebackup'), ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', s.dataDir,
        '-R', '-X', 'stream', '-C', '-S', `standby${i}`, '-c', 'fast'], { asPostgres: true });
      if (syncNames) nameStandby(s);
      appendFileSync(join(s.dataDir, 'postgresql.auto.conf'), `port = ${s.port}\n`);
      await startNode(s);
    }
    if (nStandbys > 0) {
      await waitFor('standbys to stream', async () =>
        Number(await psql("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")) === nStandbys);
    }
    if (opts.synchronous) {
      await psql("ALTER SYSTEM SET synchronous_standby_names = '*'");
      await psql('SELECT pg_reload_conf()');
      await waitFor('a synchronous standby', async () =>
        Number(await psql("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'")) >= 1);
    }
    if (syncNames) {
      await psql(`ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (${syncNames.map((n) => `"${n}"`).join(', ')})'`);
      await psql('SELECT pg_reload_conf()');
      const list = syncNames.map((n) => `'${n}'`).join(', ');
      await waitFor(`${syncNames[0]} to be synchronous`, async () =>
        Number(await psql(`SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync' AND application_name IN (${list})`)) === 1);
    }
    return cluster;
  } catch (e) {
    await cluster.stop();
    throw e;
  }
}
