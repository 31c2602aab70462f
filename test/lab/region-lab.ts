/**
 * A two-region lab with a witness, each role on its own host (network
 * namespaces on a bridge): region A = PostgreSQL primary `pga`, Rampart node
 * `a1`, etcd member `ea`; region B = streaming replica `pgb` of pga, node
 * `b1`, etcd member `eb`; the third site = etcd member `ew`. Both nodes run
 * with regions.witness (lease 6 s, renewed every second, margin 2 s) over
 * the three members. The test process (the clients) sits on the bridge and
 * reaches every host unless a fault says otherwise. `cli()` runs the rampart
 * CLI inside a host's namespace (an operator at that site).
 * close() stops everything by PID and removes the lab, also after a failure.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpCall } from '../../src/core/http-client.js';
import { waitUntil } from '../../src/core/wait.js';
import { clusterEnv } from '../helpers/cluster.js';
import { startEtcdCluster, type EtcdCluster } from '../helpers/etcd.js';
import { RAMPART_BIN, removeDir, startNode, tempDir, type NodeProcess } from '../helpers/node-process.js';
import { HTTP_PORT, HTTPS_PORT } from './cluster-lab.js';
import { createLabNetwork, type LabNetwork } from './lab-network.js';
import { iptablesBin } from './lab-network.js';
import { startLabPostgres, type LabPostgres } from './lab-postgres.js';

export const WITNESS = { leaseSeconds: 6, renewSeconds: 1, marginSeconds: 2, requestTimeoutMs: 700 } as const;
export const WITNESS_PREFIX = '/rampart/lab';

export type Region = 'A' | 'B';
const SITE = { A: { pg: 'pga', node: 'a1', etcd: 'ea' }, B: { pg: 'pgb', node: 'b1', etcd: 'eb' } } as const;

export interface RegionLab {
  net: LabNetwork;
  dir: string;
  pg: Record<Region, LabPostgres>;
  etcd: EtcdCluster;
  nodes: Record<Region, NodeProcess>;
  token: string;
  ca: string;
  /** Hosts of a region (for partitions): its database, node and etcd member. */
  hosts(r: Region): string[];
  /**
   * Cuts region `r`'s hosts from every other lab host (not from the client),
   * both ways, with one iptables-restore per host of `r` into the lab's
   * RLAB-IN / RLAB-OUT chains (lab-faults.ts's heal() flushes them): the cut
   * is in place within a second, where a rule per command takes tens of
   * seconds on a loaded machine.
   */
  cutRegion(r: Region): Promise<void>;
  cli(host: string, region: Region, args: string[], timeoutMs?: number): Promise<{ code: number | null; stdout: string; stderr: string }>;
  close(): Promise<void>;
}

export async function startRegionLab(o: { prefix?: string; log?: (l: string) => void } = {}): Promise<RegionLab> {
  const log = o.log ?? (() => {});
  const net = await createLabNetwork({ hosts: ['pga', 'a1', 'ea', 'pgb', 'b1', 'eb', 'ew'], prefix: o.prefix });
  const dir = tempDir('rampart-region-lab-');
  const pg: Partial<Record<Region, LabPostgres>> = {};
  const nodes: Partial<Record<Region, NodeProcess>> = {};
  let etcd: EtcdCluster | undefined;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const n of Object.values(nodes)) {
      try { n.child.kill('SIGCONT'); } catch { /* gone */ }
      await n.stop('SIGKILL').catch(() => undefined);
    }
    await etcd?.stop().catch(() => undefined);
    for (const p of Object.values(pg)) await p.stop().catch(() => undefined);
    await net.destroy();
    const problems: string[] = [];
    for (const n of Object.values(nodes)) { try { removeDir(n.dataDir); } catch (e) { problems.push((e as Error).message); } }
    removeDir(dir);
    if (problems.length) throw new Error(`what the lab's nodes signed fails lint:\n${problems.join('\n')}`);
  };
  const ip = (h: string): string => net.host(h).ip;
  const url = (r: Region) => ({ http: `http://${ip(SITE[r].node)}:${HTTP_PORT}`, https: `https://${ip(SITE[r].node)}:${HTTPS_PORT}` });
  const env = (r: Region, nodeId: string): Record<string, string> => ({
    ...clusterEnv({
      hosts: [`${ip(SITE[r].pg)}:5432`], mode: 'active-active', nodeId, takeoverSeconds: 6, publicBaseUrl: url(r).http,
      env: { RAMPART_HTTPS__IPS: JSON.stringify([ip(SITE[r].node)]), RAMPART_PROFILES__SERVER__ALLOW_IP_SANS: 'true' },
    }),
    ...(r === 'B' ? { RAMPART_DATABASE__TARGET_SESSION_ATTRS: 'any' } : {}),
    RAMPART_DATABASE__RETRY_FOR_SECONDS: '5',
    RAMPART_REGIONS__SELF: r,
    RAMPART_REGIONS__SITES: JSON.stringify(Object.fromEntries((['A', 'B'] as const).map((x) => [x, { database: { hosts: [`${ip(SITE[x].pg)}:5432`] }, nodes: [url(x)] }]))),
    RAMPART_REGIONS__RESUME_WITHOUT_PEER_SECONDS: '5',
    RAMPART_REGIONS__WITNESS: JSON.stringify({
      ...WITNESS, prefix: WITNESS_PREFIX,
      // Each site's own member first.
      endpoints: (r === 'A' ? ['ea', 'eb', 'ew'] : ['eb', 'ew', 'ea']).map((h) => `http://${ip(h)}:2379`),
    }),
  });
  try {
    log(`region lab ${net.prefix}: ${net.hosts.map((h) => `${h.name}=${h.ip}`).join(' ')}`);
    const members = ['ea', 'eb', 'ew'];
    etcd = await startEtcdCluster({ hosts: members.map(ip), wrap: (i) => net.wrap(members[i]!) });
    pg.A = await startLabPostgres(net, 'pga');
    // What docs/runbooks/cross-region-dr.md asks for: standby lag (pg_stat_replication) needs pg_monitor.
    await pg.A.psql('GRANT pg_monitor TO rampart');
    pg.B = await startLabPostgres(net, 'pgb', { replicaOf: pg.A });
    const start = (r: Region) => startNode({ host: ip(SITE[r].node), httpPort: HTTP_PORT, httpsPort: HTTPS_PORT, wrap: net.wrap(SITE[r].node), env: env(r, SITE[r].node) });
    nodes.A = await start('A');
    const token = nodes.A.adminToken;
    if (!token) throw new Error(`a1 printed no admin token:\n${nodes.A.output()}`);
    await waitUntil('a1 to take writes (region A holds the witness lease)', async () => (await httpCall(`${url('A').http}/readyz?write=1`)).status === 200, 60_000, 200);
    const ca = String((await httpCall(`${url('A').http}/ca/bundle.pem`)).body);
    await waitUntil('the CA hierarchy on region B\'s replica', async () =>
      Number(await pg.B!.psql("SELECT count(*) FROM issuers WHERE kind = 'intermediate'", 'rampart')) > 0, 30_000, 200);
    nodes.B = await start('B');
    log(`region lab ${net.prefix}: etcd ea/eb/ew, pga -> pgb, a1 (active, witness lease held) and b1 (replica) are up`);
    const cli = (host: string, r: Region, args: string[], timeoutMs = 150_000) => new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const [file, ...rest] = [...net.wrap(host), process.execPath, RAMPART_BIN, '--data-dir', join(dir, `cli-${host}`), ...args];
      const child = spawn(file!, rest, { env: { ...process.env, ...env(r, 'cli'), RAMPART_LOG__LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('exit', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
    });
    return {
      net, dir, pg: pg as Record<Region, LabPostgres>, etcd, nodes: nodes as Record<Region, NodeProcess>, token, ca,
      hosts: (r) => [SITE[r].pg, SITE[r].node, SITE[r].etcd], cli, close,
      async cutRegion(r) {
        const own: string[] = [SITE[r].pg, SITE[r].node, SITE[r].etcd];
        const others = net.hosts.filter((h) => !own.includes(h.name)).map((h) => h.ip);
        await Promise.all(own.map(async (h) => {
          const rules = ['*filter', ':RLAB-IN - [0:0]', ':RLAB-OUT - [0:0]', '-I INPUT 1 -j RLAB-IN', '-I OUTPUT 1 -j RLAB-OUT',
            ...others.flatMap((ip) => [`-A RLAB-IN -s ${ip}/32 -j DROP`, `-A RLAB-OUT -d ${ip}/32 -j DROP`]), 'COMMIT', ''].join('\n');
          const file = join(dir, `cut-${h}.rules`);
          writeFileSync(file, rules);
          await net.exec(h, `${iptablesBin()}-restore`, ['--noflush', file]);
        }));
      },
    };
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }
}
