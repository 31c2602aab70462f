/**
 * A lab whose database fails over by itself: pg_auto_failover's monitor
 * (`mon`), primary (`pg1`) and synchronous standby (`pg2`), each on its own
 * host (test/helpers/pg-auto-failover.ts placed in the lab's namespaces),
 * and one Rampart node (`n1`, active-active so there is no write lease of
 * its own in the way) on another, with both data nodes in `database.hosts`
 * (target_session_attrs read-write finds the primary after a failover).
 * Clients (the test process) reach n1 directly over the bridge.
 * close() stops everything by PID and removes the lab, also after a failure.
 */
import { httpCall } from '../../src/core/http-client.js';
import { waitUntil } from '../../src/core/wait.js';
import { clusterEnv } from '../helpers/cluster.js';
import { startAutoFailover, type AutoFailover } from '../helpers/pg-auto-failover.js';
import { removeDir, startNode, tempDir, type NodeProcess } from '../helpers/node-process.js';
import { HTTP_PORT, HTTPS_PORT } from './cluster-lab.js';
import { createLabNetwork, type LabNetwork } from './lab-network.js';
import type { ScenarioTarget } from './scenario.js';
import { readPostgresSnapshot } from './store-snapshot.js';

export interface FailoverLab {
  net: LabNetwork;
  dir: string;
  db: AutoFailover;
  node: NodeProcess;
  token: string;
  ca: string;
  /** Lab host of a pg_auto_failover node name ('node1' -> 'pg1'). */
  hostOf(afName: string): string;
  /** The lab as a scenario target: n1's API, the database read on the primary of the moment. */
  target(): ScenarioTarget;
  close(): Promise<void>;
}

export async function startFailoverLab(o: { prefix?: string; log?: (l: string) => void } = {}): Promise<FailoverLab> {
  const log = o.log ?? (() => {});
  const net = await createLabNetwork({ hosts: ['mon', 'pg1', 'pg2', 'n1'], prefix: o.prefix });
  const dir = tempDir('rampart-failover-lab-');
  let db: AutoFailover | undefined;
  let node: NodeProcess | undefined;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    if (node) {
      try { node.child.kill('SIGCONT'); } catch { /* gone */ }
      await node.stop('SIGKILL').catch(() => undefined);
    }
    await db?.stop().catch(() => undefined);
    await net.destroy();
    const problems: string[] = [];
    if (node) { try { removeDir(node.dataDir); } catch (e) { problems.push((e as Error).message); } }
    removeDir(dir);
    if (problems.length) throw new Error(`what the lab's node signed fails lint:\n${problems.join('\n')}`);
  };
  const ip = (h: string): string => net.host(h).ip;
  const hostOf = (afName: string): string => `pg${afName.replace(/^node/, '')}`;
  try {
    log(`failover lab ${net.prefix}: ${net.hosts.map((h) => `${h.name}=${h.ip}`).join(' ')}`);
    const host = (h: string) => ({ address: ip(h), wrap: net.wrap(h) });
    db = await startAutoFailover({
      log,
      placement: { monitor: host('mon'), nodes: [host('pg1'), host('pg2')], trustNetwork: `${net.subnet}.0/24` },
    });
    const httpUrl = `http://${ip('n1')}:${HTTP_PORT}`;
    const env = clusterEnv({
      hosts: db.hosts(), mode: 'active-active', nodeId: 'n1', takeoverSeconds: 10, publicBaseUrl: httpUrl,
      // database.monitor: n1 asks the monitor which data node is primary (a cut-off old primary is left once the standby is promoted).
      env: { RAMPART_HTTPS__IPS: JSON.stringify([ip('n1')]), RAMPART_PROFILES__SERVER__ALLOW_IP_SANS: 'true', RAMPART_DATABASE__MONITOR__URI: db.monitorUri },
    });
    node = await startNode({ host: ip('n1'), httpPort: HTTP_PORT, httpsPort: HTTPS_PORT, wrap: net.wrap('n1'), env });
    const token = node.adminToken;
    if (!token) throw new Error(`n1 printed no admin token:\n${node.output()}`);
    await waitUntil('n1 to take writes', async () => (await httpCall(`${httpUrl}/readyz?write=1`)).status === 200, 60_000, 200);
    const ca = String((await httpCall(`${httpUrl}/ca/bundle.pem`)).body);
    log(`failover lab ${net.prefix}: monitor, ${db.nodes.map((n) => `${n.name} on ${hostOf(n.name)}`).join(', ')} and n1 are up`);
    const n = node;
    const d = db;
    return {
      net, dir, db, node, token, ca, hostOf, close,
      target: () => ({
        apiUrl: n.httpsUrl, token, ca, nodes: [{ id: 'n1', httpUrl: n.httpUrl }],
        async snapshot() {
          const p = await d.primary();
          return readPostgresSnapshot(`${d.nodes.find((x) => x.name === p.name)!.address}:${p.port}`);
        },
        async diagnose() {
          const ready = await httpCall(`${n.httpUrl}/readyz?write=1`, { timeoutMs: 3000 }).then((r) => `n1: ${r.status} ${JSON.stringify(r.body)}`.slice(0, 800), (e: Error) => `n1: ${e.message}`);
          return `${ready}\n${JSON.stringify(await d.state().catch((e: Error) => e.message))}`;
        },
      }),
    };
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }
}
