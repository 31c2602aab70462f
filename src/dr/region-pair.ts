/**
 * Two regions inside a drill's environment, as docs/runbooks/cross-region-dr.md
 * deploys them, on loopback: region A's PostgreSQL primary and one Rampart
 * node (a1); region B's asynchronous streaming replica of it and one node
 * (b1, read-only while B is a replica). Every node and the operator's CLI get
 * the same `regions` configuration through the environment (sites with their
 * database hosts, node URLs and DNS targets; a file DNS provider in the work
 * directory) and their own `regions.self`. The ports are chosen first so the
 * sites can name the nodes; a node restarts on the same ports and data directory.
 */
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { DrillEnvironment } from './drill-environment.js';
import { startIsolatedPostgres, type IsolatedPostgres } from './isolated-postgres.js';
import { REPLICATION_SETTINGS, startStreamingReplica } from './isolated-replica.js';
import { runRampart, servePorts, startServe, type CliResult, type ServePorts, type ServeProcess } from './rampart-process.js';
import { waitUntil } from '../core/wait.js';

export type PairRegion = 'A' | 'B';

export interface PairSite { db: IsolatedPostgres; nodeId: string; dataDir: string; ports: ServePorts; dnsTarget: string }

export interface RegionPair {
  sites: Record<PairRegion, PairSite>;
  dnsFile: string;
  /** The node of `region` (again, on its ports and data directory). */
  startNode(region: PairRegion): Promise<ServeProcess>;
  /** The rampart CLI as an operator of region `region` (default A), with `env` added (e.g. RAMPART_TOKEN). */
  cli(args: string[], o?: { region?: PairRegion; env?: Record<string, string>; timeoutMs?: number }): Promise<CliResult>;
}

export interface RegionPairOptions {
  /** regions.resumeWithoutPeerSeconds: how long an unfenced failover waits after A's last heartbeat. */
  resumeWithoutPeerSeconds: number;
  progress?: (line: string) => void;
}

/** Starts both databases (B replicating A); the nodes are started with startNode, A's first (it creates the hierarchy). */
export async function startRegionPair(env: DrillEnvironment, o: RegionPairOptions): Promise<RegionPair> {
  const aDb = await startIsolatedPostgres(env, 'region-a-pg', { settings: REPLICATION_SETTINGS });
  // Standby lag (pg_stat_replication) needs pg_monitor, as the runbook asks.
  await aDb.psql('GRANT pg_monitor TO rampart');
  o.progress?.(`    region A database 127.0.0.1:${aDb.port}`);
  const bDb = await startStreamingReplica(env, aDb, 'region-b-pg');
  o.progress?.(`    region B replica 127.0.0.1:${bDb.port}`);
  const site = async (r: PairRegion, db: IsolatedPostgres): Promise<PairSite> => ({
    db, nodeId: `${r.toLowerCase()}1`, dataDir: join(env.dir(`region-${r.toLowerCase()}-node`), 'data'), ports: await servePorts(), dnsTarget: r === 'A' ? '127.0.0.10' : '127.0.0.20',
  });
  const sites: Record<PairRegion, PairSite> = { A: await site('A', aDb), B: await site('B', bDb) };
  const dnsFile = join(env.dir('dns'), 'dns.json');
  const passphrase = randomBytes(24).toString('base64url');
  const cliDirs: Partial<Record<PairRegion, string>> = {};

  const nodeEnv = (r: PairRegion, nodeId: string): Record<string, string> => ({
    RAMPART_KEY_PASSPHRASE: passphrase,
    RAMPART_DATABASE__TYPE: 'postgres',
    RAMPART_DATABASE__HOSTS: JSON.stringify([sites[r].db.host]),
    RAMPART_DATABASE__DATABASE: 'rampart',
    RAMPART_DATABASE__USER: 'rampart',
    RAMPART_DATABASE__RETRY_FOR_SECONDS: '10',
    ...(r === 'B' ? { RAMPART_DATABASE__TARGET_SESSION_ATTRS: 'any' } : {}),
    RAMPART_CLUSTER__MODE: 'active-active',
    RAMPART_CLUSTER__NODE_ID: nodeId,
    RAMPART_CLUSTER__TAKEOVER_SECONDS: '6',
    RAMPART_CLUSTER__HEARTBEAT_SECONDS: '1',
    RAMPART_INTEGRITY__ENABLED: 'false',
    RAMPART_REGIONS__SELF: r,
    RAMPART_REGIONS__SITES: JSON.stringify(Object.fromEntries((['A', 'B'] as const).map((s) => [s, {
      database: { hosts: [sites[s].db.host] },
      nodes: [{ http: `http://127.0.0.1:${sites[s].ports.http}`, https: `https://127.0.0.1:${sites[s].ports.https}` }],
      dnsTargets: [sites[s].dnsTarget],
    }]))),
    RAMPART_REGIONS__DNS: JSON.stringify({ provider: 'file', name: 'ca.rampart.drill', path: dnsFile, ttl: 30 }),
    RAMPART_REGIONS__RESUME_WITHOUT_PEER_SECONDS: String(o.resumeWithoutPeerSeconds),
  });

  return {
    sites, dnsFile,
    async startNode(r) {
      const s = sites[r];
      if (r === 'B') {
        await waitUntil("the CA hierarchy on region B's replica", async () =>
          Number(await s.db.psql("SELECT count(*) FROM issuers WHERE kind = 'intermediate'", 'rampart').catch(() => '0')) > 0, 60_000, 200);
      }
      return startServe(env, { name: s.nodeId, dataDir: s.dataDir, ports: s.ports, env: nodeEnv(r, s.nodeId) });
    },
    cli(args, c = {}) {
      const r = c.region ?? 'A';
      cliDirs[r] ??= join(env.dir(`cli-${r.toLowerCase()}`), 'data');
      return runRampart(env, cliDirs[r]!, args, { env: { ...nodeEnv(r, 'cli'), ...c.env }, timeoutMs: c.timeoutMs ?? 300_000 });
    },
  };
}
