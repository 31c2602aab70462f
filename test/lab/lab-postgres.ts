/**
 * A PostgreSQL primary on a lab host: initdb as the `postgres` user, listening
 * only on the host's namespace address (port 5432), trust for the lab's
 * subnet in pg_hba, fsync and synchronous_commit on, started inside the
 * namespace with `ip netns exec`. psql runs from the root namespace (the
 * client host) over the bridge.
 */
import { appendFileSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postmasterPid } from '../../src/dr/drill-environment.js';
import { exec, postgresOwner } from '../../src/dr/isolated-postgres.js';
import { alive } from '../../src/dr/pg-auto-failover.js';
import { waitUntil } from '../../src/core/wait.js';
import { postgresBinDir } from '../helpers/postgres.js';
import type { LabNetwork } from './lab-network.js';

export const PG_PORT = 5432;

export interface LabPostgres {
  host: string;
  /** 'ip:5432' */
  address: string;
  dataDir: string;
  logFile: string;
  psql(sql: string, database?: string): Promise<string>;
  /** postmaster PID (null when not running). */
  pid(): number | null;
  stop(): Promise<void>;
}

export interface LabPostgresOptions {
  /** Start a streaming replica of this primary (pg_basebackup -R, application_name = the host name) instead of a new cluster. */
  replicaOf?: LabPostgres;
  /** Where its directory goes (default the system's temporary directory; e.g. a small disk that fills). */
  parent?: string;
}

export async function startLabPostgres(lab: LabNetwork, host: string, o: LabPostgresOptions = {}): Promise<LabPostgres> {
  const bin = postgresBinDir();
  const h = lab.host(host);
  // Its own directory, owned by postgres (the server runs as that user).
  const root = mkdtempSync(join(o.parent ?? tmpdir(), 'rampart-lab-pg-'));
  const owner = await postgresOwner();
  if (owner) chownSync(root, owner.uid, owner.gid);
  const dataDir = join(root, 'data');
  const logFile = join(root, 'postgres.log');
  const asPg = (cmd: string, args: string[]): Promise<string> => lab.exec(host, 'runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args], 120_000);
  const psql = async (sql: string, database = 'postgres'): Promise<string> =>
    (await exec(join(bin, 'psql'), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', h.ip, '-p', String(PG_PORT), '-U', 'postgres', '-d', database, '-c', sql])).trim();
  const pid = (): number | null => {
    const p = postmasterPid(dataDir);
    return p !== null && alive(p) ? p : null;
  };
  const stop = async (): Promise<void> => {
    const p = pid();
    if (p !== null) {
      try { process.kill(p, 'SIGCONT'); process.kill(p, 'SIGQUIT'); } catch { /* gone */ }
      await waitUntil('PostgreSQL to stop', async () => pid() === null, 30_000).catch(() => {
        try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
      });
    }
    rmSync(root, { recursive: true, force: true });
  };
  const start = async (): Promise<void> => {
    if (o.replicaOf) {
      const [pHost] = o.replicaOf.address.split(':');
      await asPg('pg_basebackup', ['-D', dataDir, '-R', '-X', 'stream', '-c', 'fast', '-d', `host=${pHost} port=${PG_PORT} user=postgres application_name=${host}`]);
      // The primary's settings came along: this server listens on its own address (the later line wins).
      appendFileSync(join(dataDir, 'postgresql.conf'), `\n# rampart fault lab replica\nlisten_addresses = '${h.ip}'\n`);
      await asPg('pg_ctl', ['start', '-w', '-t', '60', '-D', dataDir, '-l', logFile]);
      await waitUntil('the replica to answer', async () => (await psql('SELECT pg_is_in_recovery()')) === 't', 30_000);
      return;
    }
    await exec(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-instructions'], { asPostgres: true });
    writeFileSync(join(dataDir, 'pg_hba.conf'), [
      `# fault lab: trust inside the lab's subnet only`,
      `host all all ${lab.subnet}.0/24 trust`,
      `host replication all ${lab.subnet}.0/24 trust`,
      '',
    ].join('\n'));
    appendFileSync(join(dataDir, 'postgresql.conf'), [
      '', '# rampart fault lab', `listen_addresses = '${h.ip}'`, `port = ${PG_PORT}`, "unix_socket_directories = ''",
      'fsync = on', 'synchronous_commit = on', 'max_connections = 200', "shared_buffers = '32MB'", 'log_min_messages = warning', '',
    ].join('\n'));
    try {
      await asPg('pg_ctl', ['start', '-w', '-t', '60', '-D', dataDir, '-l', logFile]);
    } catch (e) {
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n') : '';
      throw new Error(`${(e as Error).message}\n--- postgres log ---\n${log}`);
    }
    await waitUntil('PostgreSQL to answer', async () => (await psql('SELECT 1')) === '1', 30_000);
    await psql('CREATE ROLE rampart LOGIN');
    await psql('CREATE DATABASE rampart OWNER rampart');
  };
  try {
    await start();
  } catch (e) {
    await stop();
    throw e;
  }
  return { host, address: `${h.ip}:${PG_PORT}`, dataDir, logFile, psql, pid, stop };
}
