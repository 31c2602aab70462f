/**
 * Replication and outages for drill databases (src/dr/isolated-postgres.ts):
 * a streaming replica of an isolated primary (pg_basebackup -R through its
 * own replication slot, its own port and cluster_name in postgresql.auto.conf,
 * which is read last), losing a server (SIGKILL of its postmaster: the disk
 * stays, as after a power cut) and starting it again on the same directory.
 * Every server is stopped by the drill environment's teardown.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DrillEnvironment } from './drill-environment.js';
import { postmasterPid } from './drill-environment.js';
import { adoptPostgres, exec, postgresBinDir, postgresOwner, type IsolatedPostgres } from './isolated-postgres.js';
import { alive } from './pg-auto-failover.js';
import { freeLoopbackPort } from '../core/free-port.js';
import { waitUntil } from '../core/wait.js';

/** postgresql.conf settings a primary needs to have a replica and to be rewound later (pg_rewind). */
export const REPLICATION_SETTINGS: Record<string, string> = {
  wal_level: 'replica', max_wal_senders: '10', max_replication_slots: '10', hot_standby: 'on', wal_log_hints: 'on', wal_keep_size: "'256MB'",
};

const pg = (b: string): string => join(postgresBinDir(), b);

/** A streaming replica of `primary` (asynchronous: the primary does not wait for it), named `name`. */
export async function startStreamingReplica(env: DrillEnvironment, primary: Pick<IsolatedPostgres, 'port' | 'psql'>, name: string): Promise<IsolatedPostgres> {
  const root = env.dir(name, { owner: await postgresOwner() });
  const dataDir = join(root, 'data');
  const port = await freeLoopbackPort();
  const slot = name.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  await exec(pg('pg_basebackup'), ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', dataDir, '-R', '-X', 'stream', '-C', '-S', slot, '-c', 'fast'], { asPostgres: true });
  appendFileSync(join(dataDir, 'postgresql.auto.conf'), `port = ${port}\ncluster_name = '${slot}'\n`);
  await startPostgresAgain(dataDir);
  const { psql, stop } = adoptPostgres(env, dataDir, port, name);
  await waitUntil(`${name} to stream from the primary`, async () =>
    (await primary.psql(`SELECT count(*) FROM pg_stat_replication WHERE application_name = '${slot}' AND state = 'streaming'`)) === '1', 60_000, 100);
  return { host: `127.0.0.1:${port}`, port, dataDir, psql, stop };
}

/** SIGKILL to the postmaster of `dataDir`; resolves once it is gone (its backends follow it). */
export async function killPostgres(dataDir: string): Promise<number> {
  const pid = postmasterPid(dataDir);
  if (pid === null || !alive(pid)) throw new Error(`no running postmaster in ${dataDir}`);
  process.kill(pid, 'SIGKILL');
  await waitUntil(`postmaster ${pid} to exit`, async () => !alive(pid), 30_000, 50);
  return pid;
}

/** pg_ctl start on an existing data directory (after a kill: crash recovery first). Log: <dataDir>.log. */
export async function startPostgresAgain(dataDir: string): Promise<void> {
  const logFile = `${dataDir}.log`;
  try {
    await exec(pg('pg_ctl'), ['start', '-w', '-t', '60', '-D', dataDir, '-l', logFile], { asPostgres: true });
  } catch (e) {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n') : '';
    throw new Error(`${(e as Error).message}\n--- postgres log ---\n${log}`);
  }
}
