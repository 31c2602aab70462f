/**
 * Several real Rampart nodes (child processes) sharing one PostgreSQL
 * database: each has its own data directory (TLS identity) and ports, the
 * same key-encryption passphrase, and the cluster settings given.
 */
import { call } from './api-client.js';
import { startNode, removeDir, type NodeProcess } from './node-process.js';

export const TEST_PASSPHRASE = 'rampart cluster test passphrase';

export interface ClusterNodeOptions {
  hosts: string[];
  database?: string;
  mode: 'active-active' | 'active-passive';
  nodeId: string;
  takeoverSeconds?: number;
  publicBaseUrl?: string;
  env?: Record<string, string>;
}

export function clusterEnv(o: ClusterNodeOptions): Record<string, string> {
  return {
    RAMPART_KEY_PASSPHRASE: TEST_PASSPHRASE,
    RAMPART_DATABASE__TYPE: 'postgres',
    RAMPART_DATABASE__HOSTS: JSON.stringify(o.hosts),
    RAMPART_DATABASE__DATABASE: o.database ?? 'rampart',
    RAMPART_DATABASE__USER: 'rampart',
    RAMPART_CLUSTER__MODE: o.mode,
    RAMPART_CLUSTER__NODE_ID: o.nodeId,
    RAMPART_CLUSTER__TAKEOVER_SECONDS: String(o.takeoverSeconds ?? 10),
    RAMPART_CLUSTER__HEARTBEAT_SECONDS: '1',
    ...(o.publicBaseUrl ? { RAMPART_PUBLIC_BASE_URL: o.publicBaseUrl } : {}),
    ...(o.env ?? {}),
  };
}

export async function startClusterNode(o: ClusterNodeOptions & { httpPort?: number; httpsPort?: number }): Promise<NodeProcess> {
  return startNode({ env: clusterEnv(o), httpPort: o.httpPort, httpsPort: o.httpsPort });
}

export async function stopAll(nodes: NodeProcess[]): Promise<void> {
  await Promise.all(nodes.map(async (n) => {
    await n.stop('SIGKILL');
    removeDir(n.dataDir);
  }));
}

export async function clusterState(node: NodeProcess, token: string, ca: string): Promise<{ leader: { holder: string | null; epoch: string } | null; nodes: Array<{ id: string; up: boolean; writable: boolean }> }> {
  const r = await call(`${node.httpsUrl}/api/v1/cluster`, { token, ca });
  if (r.status !== 200) throw new Error(`cluster status ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Polls until fn returns a truthy value (the drills' waitUntil). */
export { waitUntil as waitFor } from '../../src/core/wait.js';
