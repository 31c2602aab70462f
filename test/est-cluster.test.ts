/**
 * EST across a cluster: two real Rampart nodes (active-active) on one
 * PostgreSQL, behind a real HAProxy running the configuration `rampart
 * haproxy-config --bind-est` generates (TCP mode: TLS passed through, so the
 * client certificate reaches the node). A certificate enrolled on one node
 * is renewed on the other, directly and through HAProxy with the first
 * node killed; a revocation made on one node stops re-enrollment on the
 * other at once (state in the database, nothing node-local); HAProxy
 * spreads EST connections over both nodes. Clients are curl and openssl.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { call } from './helpers/api-client.js';
import { startClusterNode, stopAll } from './helpers/cluster.js';
import { estClient, serialOfPem, type EstClient } from './helpers/est-client.js';
import { haproxyBin, haproxyCheck, haproxyStats, startHaproxy, waitForServerStates, type HaproxyProcess } from './helpers/haproxy.js';
import { RAMPART_BIN, removeDir, tempDir, type NodeProcess } from './helpers/node-process.js';
import { mustOpenssl } from './helpers/openssl.js';
import { freePort } from './helpers/ports.js';
import { startPostgres, type PgCluster } from './helpers/postgres.js';

const NODE_IDS = ['n1', 'n2'] as const;

describe('EST through HAProxy (TCP passthrough) over two nodes on one PostgreSQL', { timeout: 300_000 }, () => {
  let pg: PgCluster | undefined;
  let haproxy: HaproxyProcess | undefined;
  const nodes: NodeProcess[] = [];
  const dir = tempDir('rampart-est-cluster-');
  let statsUrl: string;
  let lbEst: string;
  let token: string;
  let admin: string;
  let bundle: string;
  let c: EstClient;
  const estOf = (n: NodeProcess): string => `${n.httpsUrl}/.well-known/est`;
  const issuerRoot = (): { root: string; int: string } => {
    const certs = c.certsOf(c.get(`${estOf(nodes[1]!)}/cacerts`).body, 'cacerts');
    writeFileSync(`${dir}/int.pem`, certs[0]!);
    writeFileSync(`${dir}/root.pem`, certs[1]!);
    return { root: `${dir}/root.pem`, int: `${dir}/int.pem` };
  };

  before(async () => {
    haproxyBin();
    pg = await startPostgres();
    // One after the other: the first node creates the CA hierarchy in the database.
    for (const id of NODE_IDS) nodes.push(await startClusterNode({ hosts: pg.hosts(), mode: 'active-active', nodeId: id }));
    admin = nodes[0]!.adminToken!;
    bundle = `${dir}/bundle.pem`;
    writeFileSync(bundle, await (await fetch(`${nodes[0]!.httpUrl}/ca/bundle.pem`)).text());
    c = estClient(dir, bundle);
    const t = await call(`${nodes[0]!.httpsUrl}/api/v1/tokens`, { token: admin, ca: readFileSync(bundle, 'utf8'), json: { name: 'est-fleet', role: 'issuer' } });
    assert.equal(t.status, 201, JSON.stringify(t.body));
    token = t.body.token;

    // The API frontend needs a certificate of its own; EST does not use it (TLS is passed through).
    mustOpenssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-days', '2',
      '-keyout', `${dir}/fe.key`, '-out', `${dir}/fe.crt`]);
    writeFileSync(`${dir}/frontend.pem`, readFileSync(`${dir}/fe.crt`, 'utf8') + readFileSync(`${dir}/fe.key`, 'utf8'));
    const [httpPort, httpsPort, estPort, statsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    statsUrl = `http://127.0.0.1:${statsPort}`;
    lbEst = `https://127.0.0.1:${estPort}/.well-known/est`;
    const gen = spawnSync(process.execPath, [
      RAMPART_BIN, '--data-dir', nodes[0]!.dataDir, 'haproxy-config', '--mode', 'active-active', '--balance', 'roundrobin',
      ...nodes.map((n, i) => `--node=${NODE_IDS[i]!}=${n.httpUrl},${n.httpsUrl}`),
      '--bind-http', `127.0.0.1:${httpPort}`, '--bind-https', `127.0.0.1:${httpsPort}`, '--bind-est', `127.0.0.1:${estPort}`,
      '--stats-bind', `127.0.0.1:${statsPort}`, '--tls-cert', `${dir}/frontend.pem`, '--ca-file', bundle,
      '--interval', '1s', '--timeout', '500ms', '--rise', '1', '--out', `${dir}/rampart.cfg`,
    ], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, RAMPART_LOG__LEVEL: 'warn' } });
    assert.equal(gen.status, 0, `${gen.stdout}${gen.stderr}`);
    const cfg = readFileSync(`${dir}/rampart.cfg`, 'utf8');
    const check = haproxyCheck(cfg, dir);
    assert.ok(check.ok, check.output);
    haproxy = await startHaproxy(cfg, dir);
    await waitForServerStates(statsUrl, (s) => NODE_IDS.every((id) => s[`est/${id}`] === 'UP'), 20_000);
  });

  after(async () => {
    await haproxy?.stop();
    await stopAll(nodes);
    await pg?.stop();
    removeDir(dir);
  });

  it('enrolled on n1, renewed on n2; a revocation on n1 stops re-enrollment on n2 at once', async () => {
    const { root, int } = issuerRoot();
    const req = c.makeRequest('dev1', '/CN=dev1.cluster.test');
    const e = c.post(`${estOf(nodes[0]!)}/simpleenroll`, { dataFile: req.b64, basic: `est:${token}` });
    assert.equal(e.status, 200, e.body + e.err);
    const leaf = c.firstCertFile(e.body, 'dev1');
    const re = c.post(`${estOf(nodes[1]!)}/simplereenroll`, { dataFile: c.makeRequest('dev1-re', '/CN=dev1.cluster.test').b64, cert: { cert: leaf, key: req.key } });
    assert.equal(re.status, 200, re.body + re.err);
    const renewed = c.firstCertFile(re.body, 'dev1-re');
    assert.match(mustOpenssl(['verify', '-CAfile', root, '-untrusted', int, renewed]), /OK/);

    const v = c.makeRequest('dev2', '/CN=dev2.cluster.test');
    const ve = c.post(`${estOf(nodes[1]!)}/simpleenroll`, { dataFile: v.b64, basic: `est:${token}` });
    assert.equal(ve.status, 200, ve.body);
    const victim = c.firstCertFile(ve.body, 'dev2');
    const rv = await call(`${nodes[0]!.httpsUrl}/api/v1/certificates/${serialOfPem(victim)}/revoke`, { token: admin, ca: readFileSync(bundle, 'utf8'), json: { reason: 'keyCompromise' } });
    assert.equal(rv.status, 200, JSON.stringify(rv.body));
    const refused = c.post(`${estOf(nodes[1]!)}/simplereenroll`, { dataFile: c.makeRequest('dev2-re', '/CN=dev2.cluster.test').b64, cert: { cert: victim, key: v.key } });
    assert.equal(refused.status, 401, refused.body);
    assert.match(JSON.parse(refused.body).detail, /revoked/);
  });

  it('through HAProxy: EST connections reach both nodes; with n1 killed, its certificate is renewed by n2', async () => {
    const sessions = async (): Promise<Record<string, number>> => Object.fromEntries((await haproxyStats(statsUrl))
      .filter((r) => r.pxname === 'est' && NODE_IDS.includes(r.svname as typeof NODE_IDS[number])).map((r) => [r.svname!, Number(r.stot)]));
    const before = await sessions();
    const cacerts = c.get(`${lbEst}/cacerts`);
    assert.equal(cacerts.status, 200, cacerts.body + cacerts.err);
    // Enrolled through the balancer, then renewed through it: four connections, round-robin over two nodes.
    const req = c.makeRequest('lb1', '/CN=lb1.cluster.test');
    const e = c.post(`${lbEst}/simpleenroll`, { dataFile: req.b64, basic: `est:${token}` });
    assert.equal(e.status, 200, e.body + e.err);
    let cert = c.firstCertFile(e.body, 'lb1');
    let key = req.key;
    for (let i = 0; i < 2; i++) {
      const next = c.makeRequest(`lb1-${i}`, '/CN=lb1.cluster.test');
      const r = c.post(`${lbEst}/simplereenroll`, { dataFile: next.b64, cert: { cert, key } });
      assert.equal(r.status, 200, r.body + r.err);
      cert = c.firstCertFile(r.body, `lb1-${i}`);
      key = next.key;
    }
    const after = await sessions();
    for (const id of NODE_IDS) assert.ok(after[id]! > before[id]!, `EST connections reached ${id}: ${JSON.stringify({ before, after })}`);

    // A certificate enrolled on n1 directly; n1 dies; the balancer sends its re-enrollment to n2.
    const d = c.makeRequest('dev3', '/CN=dev3.cluster.test');
    const de = c.post(`${estOf(nodes[0]!)}/simpleenroll`, { dataFile: d.b64, basic: `est:${token}` });
    assert.equal(de.status, 200, de.body);
    const dev3 = c.firstCertFile(de.body, 'dev3');
    await nodes[0]!.stop('SIGKILL');
    await waitForServerStates(statsUrl, (s) => s['est/n1'] === 'DOWN' || s['est/n1'] === 'MAINT', 20_000);
    const n2Before = (await sessions()).n2!;
    const r = c.post(`${lbEst}/simplereenroll`, { dataFile: c.makeRequest('dev3-re', '/CN=dev3.cluster.test').b64, cert: { cert: dev3, key: d.key } });
    assert.equal(r.status, 200, r.body + r.err);
    const renewed = c.firstCertFile(r.body, 'dev3-re');
    assert.ok((await sessions()).n2! > n2Before, 'served by n2');
    const rec = await call(`${nodes[1]!.httpsUrl}/api/v1/certificates/${serialOfPem(renewed)}`, { token: admin, ca: readFileSync(bundle, 'utf8') });
    assert.equal(rec.status, 200);
    assert.equal(rec.body.profile, 'client');
    const audit = await call(`${nodes[1]!.httpsUrl}/api/v1/audit?limit=20`, { token: admin, ca: readFileSync(bundle, 'utf8') });
    assert.equal(audit.status, 200, JSON.stringify(audit.body));
    const entry = (audit.body.items as Array<{ action: string; target: string; actor: string; channel: string }>)
      .find((x) => x.action === 'certificate.issue' && x.target === `serial:${serialOfPem(renewed)}`);
    assert.ok(entry, 'the renewal is audited');
    assert.equal(entry.actor, `est-cert:${serialOfPem(dev3)}`);
    assert.equal(entry.channel, 'est');
  });
});
