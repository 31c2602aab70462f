/**
 * ACME across a cluster: three real Rampart nodes (active-active) on one
 * PostgreSQL, behind a real HAProxy running the configuration
 * `rampart haproxy-config --balance roundrobin` generates: its TLS "api"
 * frontend re-encrypts to the nodes and balances every HTTP request on its
 * own (no prefer-last-server), so a client's nonce, account, order, challenge
 * and finalize requests land on different nodes even over one kept-alive
 * connection; `acme.baseUrl` on every node is HAProxy's URL. lego (http-01,
 * tls-alpn-01, dns-01, renew, revoke) and certbot (standalone, revoke) must
 * all succeed, every certificate must pass `openssl verify`, revoked ones must
 * be revoked in OCSP on every node, and the ACME requests must have been
 * served by all three nodes (each node's rampart_acme_requests_total, and
 * HAProxy's per-server counters). Last, a raw JWS client talks to the nodes
 * directly: a nonce from n1 is accepted once by n2 and its replay on n3 is
 * badNonce; the account it signs with was created through n1.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import {
  acmeNodeEnv, certbotBin, checkCertificate, describeRun, legoBin, ocspStatus, removeAll, runCertbot, runCertbotRevoke, runLego, waitForDirectory, writeCaFiles,
  type CertCheck,
} from './helpers/acme-clients.js';
import { RawAcme, newKey, sign } from './helpers/acme-jws-client.js';
import { call } from './helpers/api-client.js';
import { clusterEnv, startClusterNode, stopAll } from './helpers/cluster.js';
import { startDnsServer, type TestDnsServer } from './helpers/dns-server.js';
import { haproxyBin, haproxyCheck, haproxyStats, makeHaproxyTlsCert, startHaproxy, waitForServerStates, type HaproxyProcess } from './helpers/haproxy.js';
import { RAMPART_BIN, tempDir, type NodeProcess } from './helpers/node-process.js';
import { freePort } from './helpers/ports.js';
import { startPostgres, type PgCluster } from './helpers/postgres.js';

const NODE_IDS = ['n1', 'n2', 'n3'] as const;
const BAD_NONCE = 'urn:ietf:params:acme:error:badNonce';

/** Sum of rampart_acme_requests_total over all label sets in a /metrics text, or null when the metric is absent. */
function acmeRequests(metricsText: string): number | null {
  const lines = metricsText.split('\n').filter((l) => /^rampart_acme_requests_total(\{|\s)/.test(l));
  if (lines.length === 0) return /^# (HELP|TYPE) rampart_acme_requests_total /m.test(metricsText) ? 0 : null;
  return lines.reduce((s, l) => s + Number(l.trim().split(/\s+/).pop()), 0);
}

describe('ACME through HAProxy over three Rampart nodes (PostgreSQL, per-request round-robin)', () => {
  let pg: PgCluster | undefined;
  let haproxy: HaproxyProcess | undefined;
  let dns: TestDnsServer | undefined;
  const nodes: NodeProcess[] = [];
  const dir = tempDir('rampart-acme-cluster-');
  let ca: { bundle: string; root: string };
  let directory: string;
  let baseUrl: string;
  let statsUrl: string;
  let httpPort: number;
  let tlsPort: number;
  let records: string;
  const baseline: Record<string, number> = {};

  before(async () => {
    legoBin();
    certbotBin();
    haproxyBin();
    records = `${dir}/txt-records.json`;
    dns = await startDnsServer({ filePath: records });
    pg = await startPostgres();
    const [lbPort, validationPort, statsPort] = [await freePort(), await freePort(), await freePort()];
    [httpPort, tlsPort] = [await freePort(), await freePort()];
    baseUrl = `https://127.0.0.1:${lbPort}`;
    directory = `${baseUrl}/acme/directory`;
    statsUrl = `http://127.0.0.1:${statsPort}`;
    const common = {
      hosts: pg.hosts(), mode: 'active-active' as const,
      env: acmeNodeEnv({ httpPort, tlsPort, dnsResolver: dns.address, baseUrl }),
    };
    // One after the other: the first node creates the CA hierarchy in the database.
    for (const id of NODE_IDS) nodes.push(await startClusterNode({ ...common, nodeId: id }));
    ca = await writeCaFiles(nodes[0]!.httpUrl, dir);

    // HAProxy's certificate, issued by the cluster's CA through the CLI (which needs the cluster settings).
    const saved = { ...process.env };
    Object.assign(process.env, clusterEnv({ ...common, nodeId: 'cli' }));
    let crt: string;
    try { crt = makeHaproxyTlsCert(nodes[0]!.dataDir, dir); } finally { process.env = saved; }
    // The configuration an operator generates: ACME goes through the "api" frontend to the
    // issuance backend, round-robin. --node and --ca-file given: the CLI opens no database.
    const gen = spawnSync(process.execPath, [
      RAMPART_BIN, '--data-dir', nodes[0]!.dataDir, 'haproxy-config', '--mode', 'active-active', '--balance', 'roundrobin',
      ...nodes.map((n, i) => `--node=${NODE_IDS[i]!}=${n.httpUrl},${n.httpsUrl}`),
      '--bind-http', `127.0.0.1:${validationPort}`, '--bind-https', `127.0.0.1:${lbPort}`, '--stats-bind', `127.0.0.1:${statsPort}`,
      '--tls-cert', crt, '--ca-file', ca.bundle, '--interval', '1s', '--timeout', '500ms', '--rise', '1', '--out', `${dir}/rampart.cfg`,
    ], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, RAMPART_LOG__LEVEL: 'warn' } });
    assert.equal(gen.status, 0, `${gen.stdout}${gen.stderr}`);
    const cfg = readFileSync(`${dir}/rampart.cfg`, 'utf8');
    assert.match(cfg, /^backend issuance\n {4}balance roundrobin$/m, cfg);
    assert.match(cfg, /^ {4}no option prefer-last-server$/m, cfg);
    const check = haproxyCheck(cfg, dir);
    assert.ok(check.ok, check.output);
    haproxy = await startHaproxy(cfg, dir);
    await waitForServerStates(statsUrl, (s) => NODE_IDS.every((id) => s[`issuance/${id}`] === 'UP' && s[`validation/${id}`] === 'UP'), 20_000);
    for (const n of nodes) await waitForDirectory(`${n.httpsUrl}/acme/directory`, ca.bundle);
    // Requests counted so far (the direct checks above) are not the balancer's doing.
    for (const [i, n] of nodes.entries()) baseline[NODE_IDS[i]!] = acmeRequests(await (await fetch(`${n.httpUrl}/metrics`)).text()) ?? 0;
    const d = await waitForDirectory(directory, ca.bundle);
    assert.equal(d.newOrder, `${baseUrl}/acme/new-order`, 'the directory names HAProxy\'s URL (acme.baseUrl)');
  });

  after(async () => {
    await haproxy?.stop();
    await stopAll(nodes);
    await pg?.stop();
    await dns?.close();
    removeAll(dir);
  });

  /** OCSP status of a certificate from every node's responder. */
  const ocspEverywhere = (certFile: string, c: CertCheck) =>
    nodes.map((n) => ocspStatus({ url: `${n.httpUrl}/ocsp`, certFile, issuerFile: c.issuerFile, rootFile: ca.root }).status);

  it('lego: http-01, tls-alpn-01 and dns-01 orders, renewal and revocation succeed through the balancer', { timeout: 300_000 }, async () => {
    for (const challenge of [
      { type: 'http' as const, port: httpPort },
      { type: 'tls' as const, port: tlsPort },
      { type: 'dns' as const, resolver: dns!.address, recordsFile: records },
    ]) {
      const domains = [`${challenge.type}.cluster.example.test`, `www.${challenge.type}.cluster.example.test`];
      const common = { server: directory, caBundle: ca.bundle, domains, challenge };
      const got = await runLego({ ...common, command: 'run', path: `${dir}/lego-${challenge.type}` });
      assert.equal(got.code, 0, describeRun(got));
      const first = checkCertificate(got.files.cert, got.files.issuer, ca.root);
      assert.deepEqual(first.dnsNames, [...domains].sort());
      if (challenge.type !== 'http') continue;

      const renewed = await runLego({ ...common, command: 'renew', path: got.path });
      assert.equal(renewed.code, 0, describeRun(renewed));
      const second = checkCertificate(renewed.files.cert, renewed.files.issuer, ca.root);
      assert.notEqual(second.serial, first.serial, 'renewal gave a new certificate');
      const revoked = await runLego({ ...common, command: 'revoke', path: got.path });
      assert.equal(revoked.code, 0, describeRun(revoked));
      assert.deepEqual(ocspEverywhere(renewed.files.cert, second), ['revoked', 'revoked', 'revoked']);
    }
  });

  it('certbot: standalone order and revocation succeed through the balancer', { timeout: 240_000 }, async () => {
    const domains = ['certbot.cluster.example.test'];
    const baseDir = `${dir}/certbot`;
    const got = await runCertbot({ server: directory, caBundle: ca.bundle, domains, httpPort, baseDir });
    assert.equal(got.code, 0, `${describeRun(got)}\n--- letsencrypt.log ---\n${got.log().slice(-8000)}`);
    const c = checkCertificate(got.files.cert, got.files.chain, ca.root);
    assert.deepEqual(c.dnsNames, domains);
    assert.deepEqual(ocspEverywhere(got.files.cert, c), ['good', 'good', 'good']);
    const rev = await runCertbotRevoke({ server: directory, caBundle: ca.bundle, certPath: got.files.cert, baseDir });
    assert.equal(rev.code, 0, `${describeRun(rev)}\n--- letsencrypt.log ---\n${rev.log().slice(-8000)}`);
    assert.deepEqual(ocspEverywhere(got.files.cert, c), ['revoked', 'revoked', 'revoked']);
  });

  it('one kept-alive client connection reaches every node in turn (each request balanced on its own)', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: readFileSync(ca.bundle, 'utf8') });
    const sockets = new Set<unknown>();
    const servedBy: string[] = [];
    try {
      for (let i = 0; i < 6; i++) {
        servedBy.push(await new Promise<string>((resolve, reject) => {
          const req = request(`${baseUrl}/acme/new-nonce`, { method: 'HEAD', agent, timeout: 10_000 }, (res) => {
            res.resume();
            res.on('end', () => (res.statusCode === 200 ? resolve(String(res.headers['x-rampart-node'])) : reject(new Error(`HEAD new-nonce: ${res.statusCode}`))));
          });
          req.on('socket', (sock) => sockets.add(sock));
          req.on('timeout', () => req.destroy(new Error('timeout')));
          req.on('error', reject);
          req.end();
        }));
      }
    } finally {
      agent.destroy();
    }
    assert.equal(sockets.size, 1, `one client connection for all requests (served by ${servedBy.join(' ')})`);
    // Round-robin: three consecutive requests go to three different nodes, twice over.
    assert.deepEqual(new Set(servedBy.slice(0, 3)), new Set(NODE_IDS), servedBy.join(' '));
    assert.deepEqual(new Set(servedBy.slice(3)), new Set(NODE_IDS), servedBy.join(' '));
  });

  it('the ACME requests were spread over all three nodes', async () => {
    const perNode: Record<string, number | null> = {};
    for (const [i, n] of nodes.entries()) {
      const total = acmeRequests(await (await fetch(`${n.httpUrl}/metrics`)).text());
      perNode[NODE_IDS[i]!] = total === null ? null : total - (baseline[NODE_IDS[i]!] ?? 0);
    }
    const stats = await haproxyStats(statsUrl);
    const perServer = Object.fromEntries(stats.filter((r) => r.pxname === 'issuance' && NODE_IDS.includes(r.svname as typeof NODE_IDS[number]))
      .map((r) => [r.svname!, Number(r.stot)]));
    const detail = `rampart_acme_requests_total per node (through HAProxy): ${JSON.stringify(perNode)}; HAProxy sessions per server: ${JSON.stringify(perServer)}`;
    console.log(detail);
    for (const id of NODE_IDS) {
      assert.notEqual(perNode[id], null, `node ${id} exports rampart_acme_requests_total (${detail})`);
      assert.ok(perNode[id]! > 0, `node ${id} answered ACME requests (${detail})`);
      assert.ok((perServer[id] ?? 0) > 0, `HAProxy sent requests to ${id} (${detail})`);
    }
    // Round-robin per request: no node took the lion's share.
    const counts = NODE_IDS.map((id) => perServer[id]!);
    assert.ok(Math.min(...counts) * 3 >= Math.max(...counts), `requests are balanced (${detail})`);
  });

  // After the spread check: these requests go to the nodes directly and count in their metrics.
  it('nonces and accounts are valid on every node: a nonce from n1 is used once on n2, its replay on n3 is badNonce', async () => {
    const caPem = readFileSync(ca.bundle, 'utf8');
    // Straight to each node's own HTTPS port, past HAProxy. Every node has acme.baseUrl =
    // HAProxy's URL and checks the JWS "url" header against baseUrl + the request path, so
    // the header (and the account URL, the kid) names HAProxy's URL although the request
    // is sent to the node: the same signed request is then valid on every node, and only
    // its nonce can make a node refuse its replay.
    const onNode = (i: number, publicUrl: string): string => {
      assert.ok(publicUrl.startsWith(`${baseUrl}/acme/`), publicUrl);
      return `${nodes[i]!.httpsUrl}${publicUrl.slice(baseUrl.length)}`;
    };
    const nonceFrom = async (i: number): Promise<string> => {
      const r = await call(onNode(i, `${baseUrl}/acme/new-nonce`), { method: 'HEAD', ca: caPem });
      assert.equal(r.status, 200);
      const nonce = r.headers['replay-nonce'];
      assert.ok(typeof nonce === 'string' && nonce.length > 0, `node ${NODE_IDS[i]} gave no Replay-Nonce`);
      return nonce;
    };
    const raw = new RawAcme(`${nodes[0]!.httpsUrl}/acme/directory`, caPem); // post() only: no directory needed
    const key = await newKey('ES256');

    // The account: created through n1 (with a nonce n1 issued).
    const newAccountUrl = `${baseUrl}/acme/new-account`;
    const created = await raw.post(onNode(0, newAccountUrl), await sign(key, { nonce: await nonceFrom(0), url: newAccountUrl, jwk: key.jwk }, { termsOfServiceAgreed: true }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const kid = String(created.headers.location);
    assert.ok(kid.startsWith(`${baseUrl}/acme/account/`), `account URL ${kid} is HAProxy's (acme.baseUrl)`);

    // A nonce from n1, in a POST-as-GET of the account sent to n2: accepted once.
    const fetchAccount = await sign(key, { nonce: await nonceFrom(0), url: kid, kid }, '');
    const onN2 = await raw.post(onNode(1, kid), fetchAccount);
    assert.equal(onN2.status, 200, `n2 accepts n1's nonce and knows the account created through n1: ${JSON.stringify(onN2.body)}`);
    assert.equal(onN2.body.status, 'valid');
    assert.equal(onN2.headers.location, kid);

    // The same request, byte for byte, replayed to n3: the nonce was used (on n2), so badNonce, never 5xx.
    const onN3 = await raw.post(onNode(2, kid), fetchAccount);
    assert.ok(onN3.status < 500, `replay on n3 answered ${onN3.status}: ${JSON.stringify(onN3.body)}`);
    assert.equal(onN3.status, 400, JSON.stringify(onN3.body));
    assert.match(String(onN3.headers['content-type']), /^application\/problem\+json/);
    assert.equal(onN3.body.type, BAD_NONCE, JSON.stringify(onN3.body));

    // The fresh nonce n3 sent with its badNonce problem is good on n1 (RFC 8555 §6.5: retry with it).
    const retryNonce = onN3.headers['replay-nonce'];
    assert.ok(typeof retryNonce === 'string' && retryNonce.length > 0, 'the badNonce answer carries a fresh Replay-Nonce');
    const retried = await raw.post(onNode(0, kid), await sign(key, { nonce: retryNonce, url: kid, kid }, ''));
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal(retried.body.status, 'valid');
  });
});
