/**
 * Real Rampart nodes on PostgreSQL for the cluster benchmarks, built from the
 * test helpers (startPostgres, startClusterNode, startHaproxy): nodes sharing
 * one database, and HAProxy in front of them configured by
 * `rampart haproxy-config`, as an operator would. Everything started here is
 * registered to be stopped if the bench is interrupted, and stopped by the
 * owner's stop() otherwise.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call } from '../test/helpers/api-client.js';
import { clusterEnv, startClusterNode, waitFor } from '../test/helpers/cluster.js';
import { makeHaproxyTlsCert, startHaproxy, waitForServerStates, type HaproxyProcess } from '../test/helpers/haproxy.js';
import { RAMPART_BIN, removeDir, type NodeProcess } from '../test/helpers/node-process.js';
import { makeCsr } from '../test/helpers/openssl.js';
import { freePort } from '../test/helpers/ports.js';
import type { PgCluster } from '../test/helpers/postgres.js';
import { onAbort } from './bench-util.js';
import type { IssuanceTarget } from './issuance-driver.js';

/** HAProxy health checks of the generated configuration, as in test/node-loss.test.ts. */
export const FRONT_DOOR_CHECK = { interval: '1s', timeout: '500ms', fall: 3, rise: 2 } as const;

export type ClusterMode = 'active-active' | 'active-passive';

export interface ClusterNode { id: string; node: NodeProcess }

/** Nodes of one cluster (one database); stop() stops whatever is still running. */
export interface BenchCluster {
  pg: PgCluster;
  database: string;
  mode: ClusterMode;
  nodes: ClusterNode[];
  token: string;
  /** /ca/bundle.pem of the first node: trusts the nodes' and the HAProxy frontend's certificates. */
  ca: string;
  csrPem: string;
  dir: string;
  add(id: string): Promise<ClusterNode>;
  /** The HTTPS API of one node, for the issuance driver. */
  direct(id: string): IssuanceTarget;
  stop(): Promise<void>;
}

export interface FrontDoor {
  haproxy: HaproxyProcess;
  apiUrl: string;
  statsUrl: string;
  target: IssuanceTarget;
  stop(): Promise<void>;
}

async function stopNode(n: NodeProcess): Promise<void> {
  await n.stop();
  removeDir(n.dataDir);
}

/** A CSR (ECDSA P-256, CN + 1 DNS SAN) made by openssl in `dir`. */
export function benchCsr(dir: string): string {
  return readFileSync(makeCsr(dir, 'bench', { subj: '/CN=bench.example.test', san: 'DNS:bench.example.test' }).csrPath, 'utf8');
}

/**
 * The REST API's rate limits off, as on the SQLite bench node (node-setup.ts
 * BENCH_NODE_CONFIG): one load generator on one address with one token would
 * otherwise measure the per-address limit (429s stopped the c=8 runs at ~285/s).
 */
const API_RATE_LIMITS_OFF = { RAMPART_LIMITS__API__PER_IP__RATE_PER_SECOND: '0', RAMPART_LIMITS__API__PER_TOKEN__RATE_PER_SECOND: '0' };

/** Starts the first node of a cluster (it bootstraps the hierarchy and prints the admin token). */
export async function startCluster(pg: PgCluster, o: { database: string; mode: ClusterMode; firstId: string; dir: string; csrPem: string }): Promise<BenchCluster> {
  const nodes: ClusterNode[] = [];
  const untrack = onAbort(() => Promise.all(nodes.map((n) => n.node.stop('SIGKILL'))).then(() => undefined));
  let stopped = false;
  const add = async (id: string): Promise<ClusterNode> => {
    const node = await startClusterNode({ hosts: pg.hosts(), database: o.database, mode: o.mode, nodeId: id, env: API_RATE_LIMITS_OFF });
    const n = { id, node };
    nodes.push(n);
    return n;
  };
  const cluster: BenchCluster = {
    pg, database: o.database, mode: o.mode, nodes, token: '', ca: '', csrPem: o.csrPem, dir: o.dir, add,
    direct(id) {
      const n = nodes.find((x) => x.id === id);
      if (!n) throw new Error(`no node ${id}`);
      return { apiUrl: n.node.httpsUrl, ca: cluster.ca, token: cluster.token, csrPem: o.csrPem };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all(nodes.map((n) => stopNode(n.node)));
      untrack();
    },
  };
  try {
    const first = await add(o.firstId);
    if (!first.node.adminToken) throw new Error(`the first node printed no admin token:\n${first.node.output().slice(-2000)}`);
    cluster.token = first.node.adminToken;
    const bundle = await call(`${first.node.httpUrl}/ca/bundle.pem`);
    if (bundle.status !== 200) throw new Error(`GET /ca/bundle.pem: ${bundle.status}`);
    cluster.ca = String(bundle.body);
    return cluster;
  } catch (e) {
    await cluster.stop();
    throw e;
  }
}

/** Waits until `count` nodes of the cluster are registered and up. */
export async function waitForMembers(c: BenchCluster, count: number): Promise<void> {
  const first = c.nodes[0]!.node;
  await waitFor(`${count} registered nodes`, async () => {
    const r = await call(`${first.httpsUrl}/api/v1/cluster`, { token: c.token, ca: c.ca });
    if (r.status !== 200) throw new Error(`GET /api/v1/cluster: ${r.status} ${JSON.stringify(r.body)}`);
    return (r.body.nodes as Array<{ up: boolean }>).filter((n) => n.up).length >= count;
  }, 20_000);
}

/**
 * HAProxy in front of the cluster's running nodes: its frontend certificate
 * issued by the cluster CA (`rampart issue`), its configuration written by
 * `rampart haproxy-config --mode <cluster mode>`; returns once the stats page
 * shows `ready(states)`.
 */
export async function startFrontDoor(c: BenchCluster, ready: (states: Record<string, string>) => boolean): Promise<FrontDoor> {
  const [httpPort, httpsPort, statsPort] = [await freePort(), await freePort(), await freePort()];
  const env = { ...clusterEnv({ hosts: c.pg.hosts(), database: c.database, mode: c.mode, nodeId: 'bench-cli' }), RAMPART_CLUSTER__MODE: 'single' };
  const saved = { ...process.env };
  let tlsCert: string;
  Object.assign(process.env, env); // makeHaproxyTlsCert runs the CLI with this process's environment
  try { tlsCert = makeHaproxyTlsCert(c.nodes[0]!.node.dataDir, c.dir); } finally { process.env = saved; }
  const caFile = join(c.dir, 'cluster-ca.pem');
  writeFileSync(caFile, c.ca);
  const cfgFile = join(c.dir, `haproxy-${c.mode}.cfg`);
  const gen = spawnSync(process.execPath, [RAMPART_BIN, 'haproxy-config', ...c.nodes.map((n) => `--node=${n.id}=${n.node.httpUrl},${n.node.httpsUrl}`),
    '--mode', c.mode, '--bind-http', `127.0.0.1:${httpPort}`, '--bind-https', `127.0.0.1:${httpsPort}`, '--stats-bind', `127.0.0.1:${statsPort}`,
    '--tls-cert', tlsCert, '--ca-file', caFile, '--interval', FRONT_DOOR_CHECK.interval, '--timeout', FRONT_DOOR_CHECK.timeout,
    '--fall', String(FRONT_DOOR_CHECK.fall), '--rise', String(FRONT_DOOR_CHECK.rise), '--out', cfgFile,
  ], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, RAMPART_LOG__LEVEL: 'warn' } });
  if (gen.status !== 0) throw new Error(`rampart haproxy-config failed (${gen.status ?? gen.signal}):\n${gen.stdout}${gen.stderr}`);
  const haproxy = await startHaproxy(readFileSync(cfgFile, 'utf8'), c.dir);
  const untrack = onAbort(() => haproxy.stop());
  const stop = async (): Promise<void> => { await haproxy.stop(); untrack(); };
  const statsUrl = `http://127.0.0.1:${statsPort}`;
  try {
    await waitForServerStates(statsUrl, ready, 30_000);
  } catch (e) {
    await stop();
    throw e;
  }
  const apiUrl = `https://127.0.0.1:${httpsPort}`;
  return { haproxy, apiUrl, statsUrl, target: { apiUrl, ca: c.ca, token: c.token, csrPem: c.csrPem }, stop };
}

/** Stats-page predicate: every listed server of `backend` is UP. */
export const allUp = (backend: string, ids: string[]) => (s: Record<string, string>): boolean => ids.every((id) => s[`${backend}/${id}`] === 'UP');
