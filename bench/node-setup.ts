/**
 * Brings up a real Rampart node (a child process, via test/helpers) and
 * prepares what the load phases need: the CA certificates, one certificate
 * issued over REST, an OCSP request made by openssl, and the warmed OCSP cache.
 * The node runs with the API rate limits off (BENCH_NODE_CONFIG).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call } from '../test/helpers/api-client.js';
import { removeDir, startNode, tempDir, type NodeProcess } from '../test/helpers/node-process.js';
import { makeCsr, mustOpenssl } from '../test/helpers/openssl.js';
import { onAbort } from './bench-util.js';

export interface NodeContext {
  node: NodeProcess;
  workDir: string;
  token: string;
  /** PEM bundle from /ca/bundle.pem (root first); trusted for the HTTPS API. */
  caBundle: string;
  csrPem: string;
  leafPem: string;
  reqDer: Buffer;
  respDer: Buffer;
  respHeaders: Record<string, string>;
  /** Unregisters the stop-on-abort hook. */
  untrack: () => void;
}

/** Headers node:http adds by itself; everything else is mirrored by the ceiling server. */
const TRANSPORT_HEADERS = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding', 'content-type']);

/**
 * The node's rampart.yaml (read from its data directory): the per-address and
 * per-token REST API rate limits off, so one load generator on 127.0.0.1 with
 * one token measures the node's capacity, not a fairness limit. Overload
 * shedding (in-flight caps, event-loop delay: 503) stays at its defaults.
 */
export const BENCH_NODE_CONFIG = `# Written by bench/node-setup.ts: API rate limits off for the benchmarks.
limits:
  api:
    perIp: { ratePerSecond: 0 }
    perToken: { ratePerSecond: 0 }
`;

/** Starts the node; on any setup failure it is stopped again before the error propagates. */
export async function setUpNode(): Promise<NodeContext> {
  const workDir = tempDir('rampart-bench-');
  const dataDir = tempDir('rampart-bench-node-');
  let node: NodeProcess | undefined;
  let untrack = (): void => undefined;
  try {
    writeFileSync(join(dataDir, 'rampart.yaml'), BENCH_NODE_CONFIG);
    node = await startNode({ dataDir });
    const started = node;
    untrack = onAbort(() => started.stop());
    if (!node.adminToken) throw new Error('the node printed no admin token');
    const token = node.adminToken;
    const bundle = await call(`${node.httpUrl}/ca/bundle.pem`);
    if (bundle.status !== 200) throw new Error(`GET /ca/bundle.pem: ${bundle.status}`);
    const caBundle = String(bundle.body);
    const issuers = await call(`${node.httpsUrl}/api/v1/issuers`, { token, ca: caBundle });
    if (issuers.status !== 200) throw new Error(`GET /api/v1/issuers: ${issuers.status} ${JSON.stringify(issuers.body)}`);
    const items = issuers.body.items as Array<{ kind: string; active: boolean; certificatePem: string }>;
    const root = items.find((i) => i.kind === 'root');
    const int = items.find((i) => i.kind === 'intermediate' && i.active);
    if (!root || !int) throw new Error('no root or active intermediate in /api/v1/issuers');
    writeFileSync(join(workDir, 'root.pem'), root.certificatePem);
    writeFileSync(join(workDir, 'int.pem'), int.certificatePem);

    const { csrPath } = makeCsr(workDir, 'bench', { subj: '/CN=bench.example.test', san: 'DNS:bench.example.test' });
    const csrPem = readFileSync(csrPath, 'utf8');
    const issued = await call(`${node.httpsUrl}/api/v1/certificates`, { token, ca: caBundle, json: { csr: csrPem, profile: 'server' } });
    if (issued.status !== 201) throw new Error(`issuing the bench certificate: ${issued.status} ${JSON.stringify(issued.body)}`);
    const leafPem = String(issued.body.certificatePem);
    writeFileSync(join(workDir, 'leaf.pem'), leafPem);

    const reqPath = join(workDir, 'req.der');
    mustOpenssl(['ocsp', '-issuer', join(workDir, 'int.pem'), '-cert', join(workDir, 'leaf.pem'), '-no_nonce', '-reqout', reqPath]);
    const reqDer = readFileSync(reqPath);

    // Warm the cache with one request, then check the response with openssl.
    const warm = await call(`${node.httpUrl}/ocsp`, { body: reqDer, headers: { 'content-type': 'application/ocsp-request' } });
    if (warm.status !== 200) throw new Error(`warm-up OCSP POST: ${warm.status}`);
    const respPath = join(workDir, 'resp.der');
    writeFileSync(respPath, warm.raw);
    const text = mustOpenssl(['ocsp', '-respin', respPath, '-issuer', join(workDir, 'int.pem'), '-CAfile', join(workDir, 'root.pem'), '-cert', join(workDir, 'leaf.pem')]);
    if (!/Response verify OK/.test(text) || !/: good/.test(text)) throw new Error(`the warm-up OCSP response does not verify as good:\n${text}`);
    // The second answer must come from the cache: byte-identical.
    const again = await call(`${node.httpUrl}/ocsp`, { body: reqDer, headers: { 'content-type': 'application/ocsp-request' } });
    if (!again.raw.equals(warm.raw)) throw new Error('the second OCSP response differs from the first: not served from the cache');

    const respHeaders: Record<string, string> = {};
    for (const [k, v] of Object.entries(warm.headers)) if (!TRANSPORT_HEADERS.has(k) && typeof v === 'string') respHeaders[k] = v;
    return { node, workDir, token, caBundle, csrPem, leafPem, reqDer, respDer: warm.raw, respHeaders, untrack };
  } catch (e) {
    await node?.stop();
    untrack();
    removeDir(dataDir);
    removeDir(workDir);
    throw e;
  }
}

export async function tearDownNode(ctx: NodeContext): Promise<void> {
  try {
    await ctx.node.stop();
  } finally {
    ctx.untrack();
    removeDir(ctx.node.dataDir);
    removeDir(ctx.workDir);
  }
}
