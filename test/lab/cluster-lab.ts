/**
 * Scenario roles for a cluster lab: PostgreSQL on host `pg`, Rampart nodes n1
 * and n2 (active-passive or active-active, takeover 10 s) each on its own
 * host, and HAProxy (configured by renderHaproxyConfig in the same mode,
 * checks every second) on host `haproxy`. Every server listens only on its host's
 * namespace address; clients (the test process) sit on the bridge's address.
 * close() stops everything by PID and removes the lab, also after a failure.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderHaproxyConfig } from '../../src/cluster/haproxy-config.js';
import { httpCall } from '../../src/core/http-client.js';
import { waitUntil } from '../../src/core/wait.js';
import { buildCsr } from '../../src/pki/csr-builder.js';
import { clusterEnv } from '../helpers/cluster.js';
import { startHaproxy, type HaproxyProcess } from '../helpers/haproxy.js';
import { lintPostgresErrors } from '../helpers/lint-data-dir.js';
import { removeDir, startNode, tempDir, type NodeProcess } from '../helpers/node-process.js';
import { createLabNetwork, type LabNetwork } from './lab-network.js';
import { startLabPostgres, type LabPostgres } from './lab-postgres.js';

export const HTTP_PORT = 8080;
export const HTTPS_PORT = 8443;
export const NODE_IDS = ['n1', 'n2'] as const;

export interface LabNode { id: string; host: string; httpUrl: string; proc: NodeProcess }

export interface ClusterLab {
  mode: ClusterLabMode;
  net: LabNetwork;
  dir: string;
  pg: LabPostgres;
  nodes: LabNode[];
  haproxy: HaproxyProcess;
  /** HAProxy's HTTPS API and plain HTTP validation frontends. */
  apiUrl: string;
  validationUrl: string;
  token: string;
  /** The hierarchy's CA bundle (PEM), trusted for the API. */
  ca: string;
  takeoverSeconds: number;
  close(): Promise<void>;
}

export type ClusterLabMode = 'active-passive' | 'active-active';

export interface ClusterLabOptions {
  mode?: ClusterLabMode; prefix?: string; takeoverSeconds?: number; log?: (line: string) => void;
  /** argv a node runs under inside its namespace, e.g. faketime (lab-clock.ts); none: as is. */
  nodeWrap?: (id: string) => string[];
  /** Extra environment of a node. */
  nodeEnv?: (id: string) => Record<string, string>;
  /** Where PostgreSQL's directory goes (e.g. a small disk that fills; small-disk.ts). */
  pgParent?: string;
}

export async function startClusterLab(o: ClusterLabOptions = {}): Promise<ClusterLab> {
  const log = o.log ?? (() => {});
  const mode = o.mode ?? 'active-passive';
  const takeoverSeconds = o.takeoverSeconds ?? 10;
  const net = await createLabNetwork({ hosts: ['pg', ...NODE_IDS, 'haproxy'], prefix: o.prefix });
  const dir = tempDir('rampart-fault-lab-');
  const nodes: LabNode[] = [];
  let pg: LabPostgres | undefined;
  let haproxy: HaproxyProcess | undefined;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    const problems: string[] = [];
    await haproxy?.stop().catch(() => undefined);
    for (const n of nodes) {
      try { n.proc.child.kill('SIGCONT'); } catch { /* gone */ }
      await n.proc.stop('SIGKILL').catch(() => undefined);
    }
    if (pg?.pid() != null) problems.push(...await lintPostgresErrors((sql, database) => pg!.psql(sql, database)).catch(() => []));
    await pg?.stop().catch(() => undefined);
    await net.destroy();
    for (const n of nodes) { try { removeDir(n.proc.dataDir); } catch (e) { problems.push((e as Error).message); } }
    removeDir(dir);
    if (problems.length) throw new Error(`what the lab's nodes signed fails lint:\n${problems.join('\n')}`);
  };
  try {
    const hap = net.host('haproxy').ip;
    const validationUrl = `http://${hap}:${HTTP_PORT}`;
    log(`lab ${net.prefix}: subnet ${net.subnet}.0/24, hosts ${net.hosts.map((h) => `${h.name}=${h.ip}`).join(' ')}`);
    pg = await startLabPostgres(net, 'pg', { parent: o.pgParent });
    const startLabNode = async (id: string): Promise<LabNode> => {
      const h = net.host(id);
      const env = clusterEnv({
        hosts: [pg!.address], mode, nodeId: id, takeoverSeconds, publicBaseUrl: validationUrl,
        // The node's HTTPS certificate names its lab address; IP SANs for HAProxy's frontend certificate.
        env: { RAMPART_HTTPS__IPS: JSON.stringify([h.ip]), RAMPART_PROFILES__SERVER__ALLOW_IP_SANS: 'true', ...o.nodeEnv?.(id) },
      });
      const proc = await startNode({ host: h.ip, httpPort: HTTP_PORT, httpsPort: HTTPS_PORT, wrap: [...net.wrap(id), ...o.nodeWrap?.(id) ?? []], env });
      const node = { id, host: id, httpUrl: proc.httpUrl, proc };
      nodes.push(node);
      return node;
    };
    const n1 = await startLabNode('n1');
    const token = n1.proc.adminToken;
    if (!token) throw new Error(`n1 printed no admin token:\n${n1.proc.output()}`);
    await waitUntil('n1 to take writes', async () => (await httpCall(`${n1.httpUrl}/readyz?write=1`)).status === 200, 30_000);
    await startLabNode('n2');
    const ca = String((await httpCall(`${n1.httpUrl}/ca/bundle.pem`)).body);
    const caFile = join(dir, 'ca-bundle.pem');
    writeFileSync(caFile, ca);

    // HAProxy's frontend certificate, issued by the hierarchy for its lab address.
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const csr = await buildCsr({ key: key.privateKey, publicKey: key.publicKey, algorithm: 'ecdsa-p256', cn: hap, sans: [hap] });
    const issued = await httpCall(`${n1.proc.httpsUrl}/api/v1/certificates`, { token, ca, json: { csr, profile: 'server' } });
    if (issued.status !== 201) throw new Error(`HAProxy certificate: ${issued.status} ${JSON.stringify(issued.body)}`);
    const tlsCertFile = join(dir, 'haproxy-frontend.pem');
    const keyPem = key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    writeFileSync(tlsCertFile, `${issued.body.certificatePem}${issued.body.chainPem}${keyPem}`, { mode: 0o600 });

    const cfg = renderHaproxyConfig({
      nodes: nodes.map((n) => ({ name: n.id, httpHost: net.host(n.id).ip, httpPort: HTTP_PORT, httpsHost: net.host(n.id).ip, httpsPort: HTTPS_PORT })),
      bindHttp: `${hap}:${HTTP_PORT}`, bindHttps: `${hap}:${HTTPS_PORT}`, tlsCertFile, caFile, mode,
      check: { intervalMs: 1000, timeoutMs: 500 },
    });
    const hdir = join(dir, 'haproxy');
    mkdirSync(hdir);
    haproxy = await startHaproxy(cfg, hdir, { wrap: net.wrap('haproxy') });
    const apiUrl = `https://${hap}:${HTTPS_PORT}`;
    await waitUntil('issuance through HAProxy', async () => {
      const r = await httpCall(`${apiUrl}/api/v1/certificates`, { token, ca, json: { csr, profile: 'server' } });
      return r.status === 201;
    }, 30_000, 300);
    log(`lab ${net.prefix}: PostgreSQL, n1, n2 (${mode}) and HAProxy are up`);
    return { mode, net, dir, pg, nodes, haproxy, apiUrl, validationUrl, token, ca, takeoverSeconds, close };
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }
}
