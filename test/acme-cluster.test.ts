/**
 * ACME across a cluster: three real Rampart nodes (active-active) on one
 * PostgreSQL, behind a real HAProxy that terminates TLS and balances every
 * HTTP request round-robin over the nodes (`option http-server-close`), so a
 * client's nonce, account, order, challenge and finalize requests land on
 * different nodes; `acme.baseUrl` on every node is HAProxy's URL. lego
 * (http-01, tls-alpn-01, dns-01, renew, revoke) and certbot (standalone,
 * revoke) must all succeed, every certificate must pass `openssl verify`,
 * revoked ones must be revoked in OCSP on every node, and the ACME requests
 * must have been served by all three nodes (each node's
 * rampart_acme_requests_total, and HAProxy's per-server counters).
 *
 * The configuration `rampart haproxy-config` generates has no ACME frontend
 * (its TLS frontend balances with leastconn over the issuance backend), so
 * this test writes its own, HTTP mode with `ssl` on the bind.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  acmeNodeEnv, certbotBin, checkCertificate, describeRun, legoBin, ocspStatus, removeAll, runCertbot, runCertbotRevoke, runLego, waitForDirectory, writeCaFiles,
  type CertCheck,
} from './helpers/acme-clients.js';
import { clusterEnv, startClusterNode, stopAll } from './helpers/cluster.js';
import { startDnsServer, type TestDnsServer } from './helpers/dns-server.js';
import { haproxyBin, haproxyCheck, haproxyStats, makeHaproxyTlsCert, startHaproxy, waitForServerStates, type HaproxyProcess } from './helpers/haproxy.js';
import { tempDir, type NodeProcess } from './helpers/node-process.js';
import { freePort } from './helpers/ports.js';
import { startPostgres, type PgCluster } from './helpers/postgres.js';

const NODE_IDS = ['n1', 'n2', 'n3'] as const;

/** Sum of rampart_acme_requests_total over all label sets in a /metrics text, or null when the metric is absent. */
function acmeRequests(metricsText: string): number | null {
  const lines = metricsText.split('\n').filter((l) => /^rampart_acme_requests_total(\{|\s)/.test(l));
  if (lines.length === 0) return /^# (HELP|TYPE) rampart_acme_requests_total /m.test(metricsText) ? 0 : null;
  return lines.reduce((s, l) => s + Number(l.trim().split(/\s+/).pop()), 0);
}

function acmeHaproxyConfig(o: { bind: number; stats: number; crt: string; caFile: string; nodes: Array<{ name: string; httpsPort: number; httpPort: number }> }): string {
  return [
    'global',
    '    log stdout format raw local0 info',
    '    maxconn 1024',
    '',
    'defaults',
    '    mode http',
    '    log global',
    '    option httplog',
    '    option dontlognull',
    '    option forwardfor',
    // Every request is balanced on its own: the server side is closed after each response,
    // so a client that keeps its connection alive still reaches every node in turn.
    '    option http-server-close',
    '    timeout connect 2s',
    '    timeout client 60s',
    '    timeout server 60s',
    '    timeout http-request 10s',
    '    timeout http-keep-alive 10s',
    '    timeout check 1s',
    '',
    'frontend acme',
    `    bind 127.0.0.1:${o.bind} ssl crt ${o.crt} alpn http/1.1`,
    '    http-request set-header X-Forwarded-Proto https',
    '    default_backend acme',
    '',
    'backend acme',
    '    balance roundrobin',
    '    option httpchk GET /readyz',
    '    http-check expect status 200',
    '    http-response set-header X-Rampart-Node %[srv_name]',
    `    default-server ssl verify required ca-file ${o.caFile} alpn http/1.1 no-check-ssl check inter 1s fall 3 rise 1`,
    ...o.nodes.map((n) => `    server ${n.name} 127.0.0.1:${n.httpsPort} port ${n.httpPort}`),
    '',
    'listen stats',
    `    bind 127.0.0.1:${o.stats}`,
    '    stats enable',
    '    stats uri /',
    '',
  ].join('\n');
}

describe('ACME through HAProxy over three Rampart nodes (PostgreSQL, per-request round-robin)', () => {
  let pg: PgCluster | undefined;
  let haproxy: HaproxyProcess | undefined;
  let dns: TestDnsServer | undefined;
  const nodes: NodeProcess[] = [];
  const dir = tempDir('rampart-acme-cluster-');
  let ca: { bundle: string; root: string };
  let directory: string;
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
    const [lbPort, statsPort] = [await freePort(), await freePort()];
    [httpPort, tlsPort] = [await freePort(), await freePort()];
    const baseUrl = `https://127.0.0.1:${lbPort}`;
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
    const cfg = acmeHaproxyConfig({
      bind: lbPort, stats: statsPort, crt, caFile: ca.bundle,
      nodes: nodes.map((n, i) => ({ name: NODE_IDS[i]!, httpsPort: Number(new URL(n.httpsUrl).port), httpPort: Number(new URL(n.httpUrl).port) })),
    });
    const check = haproxyCheck(cfg, dir);
    assert.ok(check.ok, check.output);
    haproxy = await startHaproxy(cfg, dir);
    await waitForServerStates(statsUrl, (s) => NODE_IDS.every((id) => s[`acme/${id}`] === 'UP'), 20_000);
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

  it('the ACME requests were spread over all three nodes', async () => {
    const perNode: Record<string, number | null> = {};
    for (const [i, n] of nodes.entries()) {
      const total = acmeRequests(await (await fetch(`${n.httpUrl}/metrics`)).text());
      perNode[NODE_IDS[i]!] = total === null ? null : total - (baseline[NODE_IDS[i]!] ?? 0);
    }
    const stats = await haproxyStats(statsUrl);
    const perServer = Object.fromEntries(stats.filter((r) => r.pxname === 'acme' && NODE_IDS.includes(r.svname as typeof NODE_IDS[number]))
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
});
