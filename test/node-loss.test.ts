/**
 * Node loss, active-active: three real nodes on one PostgreSQL behind a real
 * HAProxy configured by `rampart haproxy-config`. Under continuous issuance
 * and OCSP load through HAProxy, one node is killed with SIGKILL. No client
 * request fails, and every issuance that returned 2xx is in the database.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { call } from './helpers/api-client.js';
import { clusterEnv, startClusterNode, stopAll, waitFor } from './helpers/cluster.js';
import { makeHaproxyTlsCert, startHaproxy, waitForServerStates, type HaproxyProcess } from './helpers/haproxy.js';
import { RAMPART_BIN, removeDir, tempDir, type NodeProcess } from './helpers/node-process.js';
import { makeCsr, mustOpenssl } from './helpers/openssl.js';
import { freePort } from './helpers/ports.js';
import { startPostgres, type PgCluster } from './helpers/postgres.js';

describe('node loss behind HAProxy (3 nodes, PostgreSQL)', () => {
  let pg: PgCluster;
  let haproxy: HaproxyProcess | undefined;
  const nodes: NodeProcess[] = [];
  const dir = tempDir('rampart-node-loss-');

  before(async () => { pg = await startPostgres(); });
  after(async () => {
    await haproxy?.stop();
    await stopAll(nodes);
    await pg?.stop();
    removeDir(dir);
  });

  it('kill -9 of one node under load: zero failed requests, every acknowledged issuance stored', async () => {
    const [vPort, aPort, sPort] = [await freePort(), await freePort(), await freePort()];
    const validationUrl = `http://127.0.0.1:${vPort}`;
    const common = { hosts: pg.hosts(), mode: 'active-active' as const, publicBaseUrl: validationUrl };
    for (const id of ['n1', 'n2', 'n3']) nodes.push(await startClusterNode({ ...common, nodeId: id }));
    const token = nodes[0]!.adminToken!;
    assert.ok(token);

    // HAProxy configuration from the cluster registry, as an operator would generate it.
    const env = { ...process.env, ...clusterEnv({ ...common, nodeId: 'cli' }), RAMPART_LOG__LEVEL: 'warn' };
    const saved = { ...process.env };
    Object.assign(process.env, env);
    let tlsCert: string;
    try { tlsCert = makeHaproxyTlsCert(nodes[0]!.dataDir, dir); } finally { process.env = saved; }
    await waitFor('three registered nodes', async () => {
      const r = await call(`${nodes[0]!.httpsUrl}/api/v1/cluster`, { token, ca: String((await call(`${nodes[0]!.httpUrl}/ca/bundle.pem`)).body) });
      if (r.status !== 200) throw new Error(`cluster ${r.status} ${JSON.stringify(r.body)}`);
      return (r.body.nodes as Array<{ up: boolean }>).filter((n) => n.up).length === 3;
    }, 15_000);
    const gen = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', nodes[0]!.dataDir, 'haproxy-config',
      '--bind-http', `127.0.0.1:${vPort}`, '--bind-https', `127.0.0.1:${aPort}`, '--stats-bind', `127.0.0.1:${sPort}`,
      '--tls-cert', tlsCert, '--interval', '1s', '--timeout', '500ms', '--out', `${dir}/haproxy.cfg`], { encoding: 'utf8', env, timeout: 60_000 });
    assert.equal(gen.status, 0, gen.stderr);
    const cfg = readFileSync(`${dir}/haproxy.cfg`, 'utf8');
    for (const id of ['n1', 'n2', 'n3']) assert.match(cfg, new RegExp(`server ${id} `), `${id} is in the generated configuration`);
    haproxy = await startHaproxy(cfg, dir);
    const apiUrl = `https://127.0.0.1:${aPort}`;
    const statsUrl = `http://127.0.0.1:${sPort}`;
    const ca = readFileSync(`${dir}/rampart-root-ca.pem`, 'utf8');
    await waitForServerStates(statsUrl, (s) => Object.values(s).filter((v) => v === 'UP').length >= 6, 20_000);

    // An OCSP request for a certificate issued through the front door.
    const csr = readFileSync(makeCsr(dir, 'load', { subj: '/CN=load.example.test', san: 'DNS:load.example.test' }).csrPath, 'utf8');
    const first = await call(`${apiUrl}/api/v1/certificates`, { token, ca, json: { csr, profile: 'server' }, headers: { 'idempotency-key': randomUUID() } });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    writeFileSync(`${dir}/leaf.pem`, first.body.certificatePem);
    writeFileSync(`${dir}/int.pem`, first.body.chainPem);
    mustOpenssl(['ocsp', '-issuer', `${dir}/int.pem`, '-cert', `${dir}/leaf.pem`, '-no_nonce', '-reqout', `${dir}/req.der`]);
    const ocspReq = readFileSync(`${dir}/req.der`);

    const acked: string[] = [];
    const failures: string[] = [];
    let ocspOk = 0;
    let stop = false;
    const deadline = Date.now() + 60_000; // hard bound on the load loops
    const issuer = async () => {
      while (!stop && Date.now() < deadline) {
        const r = await call(`${apiUrl}/api/v1/certificates`, { token, ca, json: { csr, profile: 'server' }, headers: { 'idempotency-key': randomUUID() } }).catch((e: Error) => ({ status: 0, body: e.message }));
        if (r.status === 201 || r.status === 200) acked.push((r.body as { serial: string }).serial);
        else failures.push(`issue ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      }
    };
    const validator = async () => {
      while (!stop && Date.now() < deadline) {
        const r = await call(`${validationUrl}/ocsp`, { method: 'POST', body: ocspReq, headers: { 'content-type': 'application/ocsp-request' } }).catch((e: Error) => ({ status: 0, raw: Buffer.from(e.message) }));
        if (r.status === 200 && r.raw.length > 100) ocspOk++;
        else failures.push(`ocsp ${r.status}`);
      }
    };
    const load = [issuer(), issuer(), issuer(), validator(), validator()];
    await new Promise((r) => setTimeout(r, 2500));
    const killedAcked = acked.length;
    nodes[1]!.child.kill('SIGKILL');
    await waitForServerStates(statsUrl, (s) => Object.entries(s).some(([k, v]) => k.includes('n2') && v !== 'UP'), 10_000);
    await new Promise((r) => setTimeout(r, 4000));
    stop = true;
    await Promise.all(load);

    console.log(`node loss: ${acked.length} issuances (${acked.length - killedAcked} after the kill), ${ocspOk} OCSP answers, ${failures.length} failures`);
    assert.deepEqual(failures, [], 'no client request failed');
    assert.ok(acked.length - killedAcked > 5, 'issuance went on after the kill');
    assert.ok(ocspOk > 50);
    const serials = acked.map((s) => `'${s}'`).join(',');
    const stored = Number(await pg.psql(`SELECT count(*) FROM certificates WHERE serial IN (${serials})`, undefined, 'rampart'));
    assert.equal(stored, new Set(acked).size, 'every acknowledged certificate is in the database');
  });
});
