/**
 * Two regions on loopback for the cross-region DR tests.
 *
 * Region A: a PostgreSQL primary with its synchronous in-region standby
 * (standby1), Rampart nodes a1..an (active-active), HAProxy. Region B: an
 * asynchronous streaming replica of A's primary (standby2), nodes b1..bn on
 * it (target_session_attrs=any), its own HAProxy. Every node gets the same
 * `regions` configuration through the environment (sites with database
 * hosts, node URLs, DNS targets; a file DNS provider in the lab directory)
 * and its own `regions.self`. The failover commands run as real CLI
 * processes with that configuration.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderHaproxyConfig } from '../../src/cluster/haproxy-config.js';
import { call } from './api-client.js';
import { clusterEnv, waitFor } from './cluster.js';
import { makeHaproxyTlsCert, startHaproxy, type HaproxyProcess } from './haproxy.js';
import { RAMPART_BIN, removeDir, startNode, tempDir, type NodeProcess } from './node-process.js';
import { freePort } from './ports.js';
import { startPostgres, type PgCluster, type PgNode } from './postgres.js';

export type RegionName = 'A' | 'B';

export interface LabSite {
  name: RegionName;
  nodeIds: string[];
  ports: Array<{ http: number; https: number }>;
  validationUrl: string;
  apiUrl: string;
  nodes: Array<NodeProcess | null>;
  haproxy: HaproxyProcess | null;
  dnsTarget: string;
}

export interface RegionLab {
  dir: string;
  pg: PgCluster;
  /** A's primary, A's in-region standby, B's replica. */
  db: { aPrimary: PgNode; aStandby: PgNode; bReplica: PgNode };
  sites: Record<RegionName, LabSite>;
  token: string;
  caPem: string;
  dnsFile: string;
  /** Environment of a node (or, with nodeId 'cli', of the operator's CLI) in `region`. */
  env(region: RegionName, nodeId: string): Record<string, string>;
  startNode(region: RegionName, i: number): Promise<NodeProcess>;
  killNode(region: RegionName, i: number): Promise<void>;
  startHaproxy(region: RegionName): Promise<void>;
  /** Runs the rampart CLI as an operator in `region` (default A). */
  cli(args: string[], timeoutMs?: number, region?: RegionName): Promise<{ code: number | null; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

export interface RegionLabOptions {
  aNodes?: number;
  bNodes?: number;
  /** regions.resumeWithoutPeerSeconds (short in tests). */
  resumeWithoutPeerSeconds?: number;
}

export async function startRegionLab(o: RegionLabOptions = {}): Promise<RegionLab> {
  const dir = tempDir('rampart-regions-');
  const pg = await startPostgres({ standbys: 2, synchronousNames: ['standby1'] });
  const [aPrimary, aStandby, bReplica] = [pg.nodes[0]!, pg.standbys[0]!, pg.standbys[1]!];
  // What docs/runbooks/cross-region-dr.md asks for: standby lag (pg_stat_replication) needs pg_monitor.
  await pg.psql('GRANT pg_monitor TO rampart');
  const dnsFile = join(dir, 'dns.json');
  const mkSite = async (name: RegionName, n: number): Promise<LabSite> => {
    const ports = [];
    for (let i = 0; i < n; i++) ports.push({ http: await freePort(), https: await freePort() });
    const v = await freePort();
    const a = await freePort();
    return {
      name, nodeIds: ports.map((_, i) => `${name.toLowerCase()}${i + 1}`), ports, validationUrl: `http://127.0.0.1:${v}`, apiUrl: `https://127.0.0.1:${a}`,
      nodes: ports.map(() => null), haproxy: null, dnsTarget: name === 'A' ? '127.0.0.10' : '127.0.0.20',
    };
  };
  const sites: Record<RegionName, LabSite> = { A: await mkSite('A', o.aNodes ?? 2), B: await mkSite('B', o.bNodes ?? 2) };
  const regionsEnv = (self: RegionName): Record<string, string> => ({
    RAMPART_REGIONS__SELF: self,
    RAMPART_REGIONS__SITES: JSON.stringify(Object.fromEntries((['A', 'B'] as const).map((r) => [r, {
      database: { hosts: r === 'A' ? [aPrimary.host, aStandby.host] : [bReplica.host] },
      nodes: sites[r].ports.map((p) => ({ http: `http://127.0.0.1:${p.http}`, https: `https://127.0.0.1:${p.https}` })),
      dnsTargets: [sites[r].dnsTarget],
    }]))),
    RAMPART_REGIONS__DNS: JSON.stringify({ provider: 'file', name: 'ca.rampart.test', path: dnsFile, ttl: 30 }),
    RAMPART_REGIONS__RESUME_WITHOUT_PEER_SECONDS: String(o.resumeWithoutPeerSeconds ?? 5),
  });
  const env = (region: RegionName, nodeId: string): Record<string, string> => ({
    ...clusterEnv({
      hosts: region === 'A' ? [aPrimary.host, aStandby.host] : [bReplica.host], mode: 'active-active', nodeId,
      publicBaseUrl: sites[region].validationUrl, takeoverSeconds: 6,
    }),
    ...(region === 'B' ? { RAMPART_DATABASE__TARGET_SESSION_ATTRS: 'any' } : {}),
    RAMPART_DATABASE__RETRY_FOR_SECONDS: '10',
    ...regionsEnv(region),
  });
  const dataDirs = new Map<string, string>();
  const lab: RegionLab = {
    dir, pg, db: { aPrimary, aStandby, bReplica }, sites, token: '', caPem: '', dnsFile, env,
    async startNode(region, i) {
      const s = sites[region];
      const id = s.nodeIds[i]!;
      const dataDir = dataDirs.get(id) ?? tempDir(`rampart-region-${id}-`);
      dataDirs.set(id, dataDir);
      const node = await startNode({ dataDir, env: env(region, id), httpPort: s.ports[i]!.http, httpsPort: s.ports[i]!.https });
      s.nodes[i] = node;
      return node;
    },
    async killNode(region, i) {
      await sites[region].nodes[i]?.stop('SIGKILL');
    },
    async startHaproxy(region) {
      const s = sites[region];
      const tls = join(dir, 'haproxy-frontend.pem');
      const caFile = join(dir, 'root.pem');
      writeFileSync(caFile, lab.caPem);
      const cfg = renderHaproxyConfig({
        nodes: s.ports.map((p, i) => ({ name: s.nodeIds[i]!, httpHost: '127.0.0.1', httpPort: p.http, httpsHost: '127.0.0.1', httpsPort: p.https })),
        bindHttp: s.validationUrl.slice('http://'.length), bindHttps: s.apiUrl.slice('https://'.length), tlsCertFile: tls, caFile,
        check: { intervalMs: 500, timeoutMs: 400, fall: 2, rise: 1 }, mode: 'active-active',
      });
      const hdir = join(dir, `haproxy-${region}`);
      mkdirSync(hdir, { recursive: true });
      s.haproxy = await startHaproxy(cfg, hdir);
    },
    async cli(args, timeoutMs = 180_000, region: RegionName = 'A') {
      const cliDir = join(dir, `cli-data-${region}`);
      return new Promise((resolve) => {
        const child = spawn(process.execPath, [RAMPART_BIN, '--data-dir', cliDir, ...args], {
          env: { ...process.env, ...env(region, 'cli'), RAMPART_LOG__LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
        child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
        const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        child.on('exit', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
      });
    },
    async stop() {
      // A node that died on its own is a bug: show how it ended.
      for (const s of Object.values(sites)) {
        for (const n of s.nodes) {
          if (n && (n.child.exitCode !== null || n.child.signalCode !== null) && n.child.signalCode !== 'SIGKILL') {
            console.log(`# node ${n.httpsUrl} exited on its own (${n.child.exitCode ?? n.child.signalCode}):\n${n.output().split('\n').slice(-40).map((l) => `#   ${l}`).join('\n')}`);
          }
        }
      }
      for (const s of Object.values(sites)) {
        await s.haproxy?.stop().catch(() => undefined);
        for (const n of s.nodes) await n?.stop('SIGKILL').catch(() => undefined);
      }
      await pg.stop();
      for (const d of dataDirs.values()) removeDir(d);
      removeDir(dir);
    },
  };
  try {
    // Region A first: its first node creates the hierarchy and the admin token.
    const a1 = await lab.startNode('A', 0);
    lab.token = a1.adminToken!;
    if (!lab.token) throw new Error(`a1 printed no admin token:\n${a1.output()}`);
    lab.caPem = String((await call(`${a1.httpUrl}/ca/bundle.pem`)).body);
    for (let i = 1; i < sites.A.ports.length; i++) await lab.startNode('A', i);
    // The HAProxy frontend certificate, issued once from region A (both regions serve the same name).
    const saved = { ...process.env };
    Object.assign(process.env, env('A', 'cli'));
    try {
      const pem = makeHaproxyTlsCert(a1.dataDir, dir);
      if (pem !== join(dir, 'haproxy-frontend.pem')) throw new Error(`unexpected certificate path ${pem}`);
    } finally {
      process.env = saved;
    }
    await lab.startHaproxy('A');
    // Region B once its replica has the hierarchy.
    await waitFor('the CA hierarchy on region B\'s replica', async () =>
      Number(await pg.psql("SELECT count(*) FROM issuers WHERE kind = 'intermediate'", bReplica.port, 'rampart')) > 0, 30_000);
    for (let i = 0; i < sites.B.ports.length; i++) await lab.startNode('B', i);
    await lab.startHaproxy('B');
    return lab;
  } catch (e) {
    await lab.stop();
    throw e;
  }
}
