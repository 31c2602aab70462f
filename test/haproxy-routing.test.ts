/**
 * HAProxy in front of two real Rampart nodes (one SQLite data dir, two
 * processes): the configuration comes from `rampart haproxy-config`, OCSP and
 * CRLs round-robin over both nodes through the plain HTTP frontend, issuance
 * goes through the TLS frontend, and after `kill -9` of a node every request
 * still succeeds (HAProxy retries elsewhere) while the node is marked DOWN
 * within fall × interval plus a margin.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { call } from './helpers/api-client.js';
import { haproxyBin, haproxyStats, makeHaproxyTlsCert, startHaproxy, waitForServerStates, type HaproxyProcess } from './helpers/haproxy.js';
import { RAMPART_BIN, removeDir, startNode, tempDir, type NodeProcess } from './helpers/node-process.js';
import { makeCsr, mustOpenssl } from './helpers/openssl.js';
import { freePort } from './helpers/ports.js';

const CHECK = { intervalMs: 1000, timeoutMs: 500, fall: 3, rise: 2 };
/** When the killed node must be DOWN: fall × interval, plus a margin for the first check's phase and scheduling. */
const DOWN_WITHIN_MS = CHECK.fall * CHECK.intervalMs + 2500;

function rampart(args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [RAMPART_BIN, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, RAMPART_LOG__LEVEL: 'warn' } });
  return { code: r.status ?? -1, out: r.stdout ?? '', err: r.stderr ?? '' };
}

interface Front { haproxy: HaproxyProcess; validationUrl: string; apiUrl: string; statsUrl: string; ca: string; cfg: string }

/** `rampart haproxy-config` (with `args`: --node, --mode ...) on free loopback ports, then HAProxy on its output. */
async function generateAndStart(dataDir: string, dir: string, args: string[]): Promise<Front> {
  const tlsCert = makeHaproxyTlsCert(dataDir, dir);
  const [httpPort, httpsPort, statsPort] = [await freePort(), await freePort(), await freePort()];
  const gen = rampart([
    '--data-dir', dataDir, 'haproxy-config', ...args,
    '--bind-http', `127.0.0.1:${httpPort}`, '--bind-https', `127.0.0.1:${httpsPort}`, '--stats-bind', `127.0.0.1:${statsPort}`,
    '--tls-cert', tlsCert, '--interval', `${CHECK.intervalMs}ms`, '--timeout', `${CHECK.timeoutMs}ms`,
    '--fall', String(CHECK.fall), '--rise', String(CHECK.rise), '--out', `${dir}/rampart.cfg`,
  ]);
  assert.equal(gen.code, 0, gen.err);
  // Without --ca-file the data dir's root CA is written next to the configuration.
  assert.ok(existsSync(`${dir}/rampart-root-ca.pem`), gen.out);
  const cfg = readFileSync(`${dir}/rampart.cfg`, 'utf8');
  return {
    haproxy: await startHaproxy(cfg, dir), cfg, ca: readFileSync(`${dir}/rampart-root-ca.pem`, 'utf8'),
    validationUrl: `http://127.0.0.1:${httpPort}`, apiUrl: `https://127.0.0.1:${httpsPort}`, statsUrl: `http://127.0.0.1:${statsPort}`,
  };
}

describe('HAProxy in front of two Rampart nodes', () => {
  let dir: string;
  let dataDir: string;
  const nodes: NodeProcess[] = [];
  let haproxy: HaproxyProcess | undefined;
  let token: string;
  let ca: string;
  let validationUrl: string;
  let apiUrl: string;
  let statsUrl: string;
  let csr: string;
  let ocspRequest: Buffer;
  let crlPath: string;
  let firstSerial: string;

  const issue = (key: string) => call(`${apiUrl}/api/v1/certificates`, {
    token, ca, json: { csr, profile: 'server' }, headers: { 'idempotency-key': key },
  });
  const ocsp = () => call(`${validationUrl}/ocsp`, { body: ocspRequest, headers: { 'content-type': 'application/ocsp-request' } });

  before(async () => {
    haproxyBin(); // installs haproxy on a fresh machine, or fails naming the package
    dir = tempDir('rampart-haproxy-');
    dataDir = tempDir('rampart-haproxy-data-');
    // Two processes on one SQLite database (WAL): one CA, two nodes. Sequential: the first creates the hierarchy.
    nodes.push(await startNode({ dataDir }));
    nodes.push(await startNode({ dataDir }));
    token = nodes[0]!.adminToken!;
    const front = await generateAndStart(dataDir, dir, nodes.map((n, i) => `--node=n${i + 1}=${n.httpUrl},${n.httpsUrl}`));
    ({ haproxy, ca, validationUrl, apiUrl, statsUrl } = front);
    await waitForServerStates(statsUrl, (s) => ['validation/n1', 'validation/n2', 'issuance/n1', 'issuance/n2'].every((k) => s[k] === 'UP'), 10_000);

    csr = readFileSync(makeCsr(dir, 'leaf', { subj: '/CN=lb.example.test', san: 'DNS:lb.example.test' }).csrPath, 'utf8');
    const first = await issue('before-failover');
    assert.equal(first.status, 201, JSON.stringify(first.body));
    writeFileSync(`${dir}/leaf.pem`, first.body.certificatePem);
    firstSerial = first.body.serial;
    const issuers = (await call(`${apiUrl}/api/v1/issuers`, { token, ca })).body.items as Array<{ id: string; kind: string; active: boolean; certificatePem: string }>;
    const int = issuers.find((i) => i.kind === 'intermediate' && i.active)!;
    writeFileSync(`${dir}/int.pem`, int.certificatePem);
    crlPath = `/crl/${int.id}.crl`;
    mustOpenssl(['ocsp', '-issuer', `${dir}/int.pem`, '-cert', `${dir}/leaf.pem`, '-no_nonce', '-reqout', `${dir}/req.der`]);
    ocspRequest = readFileSync(`${dir}/req.der`);
  });

  after(async () => {
    await haproxy?.stop();
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
    if (dir) removeDir(dir);
    if (dataDir) removeDir(dataDir);
  });

  it('rampart haproxy-config refuses bad options with clear errors', () => {
    const base = ['--data-dir', dataDir, 'haproxy-config', '--tls-cert', `${dir}/haproxy-frontend.pem`];
    const cases: Array<[string[], RegExp]> = [
      [['--data-dir', dataDir, 'haproxy-config', '--node', 'n1=http://127.0.0.1:1,https://127.0.0.1:2'], /--tls-cert FILE is required/],
      [[...base, '--node', 'n1=http://127.0.0.1:1'], /--node "n1=http:\/\/127\.0\.0\.1:1": expected name=http:\/\/host:port,https:\/\/host:port/],
      [[...base, '--node', 'n1=http://127.0.0.1:1,https://127.0.0.1:2', '--interval', 'often'], /--interval must be a duration/],
      [[...base, '--node', 'n1=http://127.0.0.1:1,https://127.0.0.1:2', '--timeout', '3s'], /check timeout \(3000 ms\) must not exceed the check interval/],
      [[...base, '--node', 'n1=http://127.0.0.1:1,https://127.0.0.1:2', '--mode', 'hot'], /--mode must be active-active or active-passive/],
      [[...base, '--node', 'n1=http://127.0.0.1:1,https://127.0.0.1:2', '--bind-http', 'nowhere'], /bindHttp: expected host:port/],
      [[...base, '--node', 'n1=http://127.0.0.1:1,https://127.0.0.1:2', '--ca-file', `${dir}/missing.pem`], /--ca-file .*missing\.pem does not exist/],
      [['--data-dir', dataDir, 'haproxy-config', '--tls-cert', `${dir}/leaf.pem`, '--node', 'n1=http://127.0.0.1:1,https://127.0.0.1:2'], /holds no private key/],
      [[...base], /no nodes are registered in the database .*--node/],
    ];
    for (const [args, msg] of cases) {
      const r = rampart(args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.err, msg, `${args.join(' ')}\n${r.err}`);
    }
  });

  it('issues through the TLS frontend (client trusts the root CA), idempotently', async () => {
    const again = await issue('before-failover');
    assert.equal(again.status, 200);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(again.body.serial, firstSerial);
    const list = await call(`${apiUrl}/api/v1/certificates?name=lb.example.test`, { token, ca });
    assert.equal(list.status, 200);
    assert.equal(list.body.total, 1, 'the replay with the same Idempotency-Key issued nothing new');
    assert.match(String(again.headers['x-rampart-node']), /^n[12]$/);
  });

  it('round-robins OCSP and CRL requests over both nodes', async () => {
    const seen = new Map<string, number>();
    for (let i = 0; i < 8; i++) {
      const r = i % 2 === 0 ? await ocsp() : await call(`${validationUrl}${crlPath}`);
      assert.equal(r.status, 200, `request ${i}`);
      assert.equal(r.headers['content-type'], i % 2 === 0 ? 'application/ocsp-response' : 'application/pkix-crl');
      const node = String(r.headers['x-rampart-node']);
      seen.set(node, (seen.get(node) ?? 0) + 1);
    }
    assert.deepEqual([...seen.keys()].sort(), ['n1', 'n2']);
    assert.equal(seen.get('n1'), 4, JSON.stringify([...seen]));
    writeFileSync(`${dir}/resp.der`, (await ocsp()).raw);
    const text = mustOpenssl(['ocsp', '-respin', `${dir}/resp.der`, '-issuer', `${dir}/int.pem`, '-CAfile', `${dir}/rampart-root-ca.pem`, '-resp_text']);
    assert.match(text, /Response verify OK/);
    assert.match(text, /Cert Status: good/);
  });

  it('after kill -9 of a node every request still succeeds, and the node is marked DOWN in time', async (t) => {
    const killed = nodes[1]!;
    const killedAt = Date.now();
    killed.child.kill('SIGKILL');
    // Watched while the requests run: when HAProxy marks n2 DOWN in both backends.
    let downAfterMs = -1;
    const down = waitForServerStates(statsUrl, (s) => s['validation/n2'] === 'DOWN' && s['issuance/n2'] === 'DOWN', DOWN_WITHIN_MS)
      .then((s) => { downAfterMs = Date.now() - killedAt; return s; });
    down.catch(() => { /* awaited below */ });
    const failures: string[] = [];
    const servedBy = new Set<string>();
    let issueKeys = 0;
    // Bounded by count and by time: requests spread over the detection window and a little after.
    const until = killedAt + DOWN_WITHIN_MS + 1000;
    for (let i = 0; i < 200 && Date.now() < until; i++) {
      const kind = i % 3;
      try {
        if (kind === 2) issueKeys++;
        const r = kind === 0 ? await ocsp() : kind === 1 ? await call(`${validationUrl}${crlPath}`) : await issue(`failover-${i}`);
        // An issuance HAProxy retried after the dead node had committed it is replayed (200).
        const ok = kind === 2 ? r.status === 201 || (r.status === 200 && r.headers['idempotent-replayed'] === 'true') : r.status === 200;
        if (!ok) failures.push(`#${i} ${['ocsp', 'crl', 'issue'][kind]}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
        servedBy.add(String(r.headers['x-rampart-node']));
      } catch (e) {
        failures.push(`#${i}: ${(e as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(failures, [], `failed requests after the kill:\n${failures.join('\n')}\n${haproxy!.output().slice(-3000)}`);
    const states = await down;
    t.diagnostic(`n2 marked DOWN ${downAfterMs} ms after the kill (bound ${DOWN_WITHIN_MS} ms)`);
    assert.ok(downAfterMs >= 0 && downAfterMs <= DOWN_WITHIN_MS);
    assert.equal(states['validation/n1'], 'UP');
    assert.equal(states['issuance/n1'], 'UP');
    assert.ok(servedBy.has('n1'));
    // The requests that went to the dead node were retried on another one, not answered by luck.
    const backends = (await haproxyStats(statsUrl)).filter((r) => r.svname === 'BACKEND');
    const retried = backends.reduce((n, r) => n + Number(r.wretr || 0) + Number(r.wredis || 0), 0);
    t.diagnostic(`retries/redispatches: ${backends.map((r) => `${r.pxname} ${r.wretr}/${r.wredis}`).join(', ')}`);
    assert.ok(retried > 0, JSON.stringify(backends.map((r) => [r.pxname, r.wretr, r.wredis])));

    // Now only n1 answers; an issuance first served before the kill replays from the shared database.
    for (let i = 0; i < 4; i++) {
      const r = await ocsp();
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-rampart-node'], 'n1');
    }
    const replay = await issue('before-failover');
    assert.equal(replay.status, 200);
    assert.equal(replay.body.serial, firstSerial);
    assert.equal(replay.headers['x-rampart-node'], 'n1');
    // One certificate per Idempotency-Key: requests HAProxy retried were not issued twice.
    const total = (await call(`${apiUrl}/api/v1/certificates?name=lb.example.test`, { token, ca })).body.total;
    assert.equal(total, 1 + issueKeys);
  });
});

describe('HAProxy in front of an active-passive pair (nodes from the registry)', () => {
  const TAKEOVER_S = 3;
  const env = { RAMPART_CLUSTER__MODE: 'active-passive', RAMPART_CLUSTER__TAKEOVER_SECONDS: String(TAKEOVER_S) };
  let dir: string;
  let dataDir: string;
  const nodes: NodeProcess[] = [];
  let front: Front | undefined;
  let token: string;
  let csr: string;
  /** HAProxy server name (the registered node id) by node. */
  const names = new Map<NodeProcess, string>();
  const issue = (key: string) => call(`${front!.apiUrl}/api/v1/certificates`, {
    token, ca: front!.ca, json: { csr, profile: 'server' }, headers: { 'idempotency-key': key },
  });

  before(async () => {
    haproxyBin();
    dir = tempDir('rampart-haproxy-ap-');
    dataDir = tempDir('rampart-haproxy-ap-data-');
    nodes.push(await startNode({ dataDir, env }));
    nodes.push(await startNode({ dataDir, env }));
    token = nodes[0]!.adminToken!;
    csr = readFileSync(makeCsr(dir, 'ap', { subj: '/CN=ap.example.test', san: 'DNS:ap.example.test' }).csrPath, 'utf8');
    // No --node: the nodes registered in the database (both register when they start).
    front = await generateAndStart(dataDir, dir, ['--mode', 'active-passive']);
    for (const n of nodes) {
      const m = new RegExp(`^ {4}server (\\S+) 127\\.0\\.0\\.1:${new URL(n.httpUrl).port}$`, 'm').exec(front.cfg);
      assert.ok(m, `node ${n.httpUrl} is not in the configuration:\n${front.cfg}`);
      names.set(n, m[1]!);
    }
    assert.match(front.cfg, /on-marked-down shutdown-sessions/);
  });

  after(async () => {
    await front?.haproxy.stop();
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
    if (dir) removeDir(dir);
    if (dataDir) removeDir(dataDir);
  });

  it('sends issuance to the active node alone and validation to both', async () => {
    const [a, b] = nodes.map((n) => names.get(n)!);
    // The first node holds the active lease: only it passes /readyz?write=1.
    await waitForServerStates(front!.statsUrl, (s) => s[`issuance/${a}`] === 'UP' && s[`issuance/${b}`] === 'DOWN'
      && s[`validation/${a}`] === 'UP' && s[`validation/${b}`] === 'UP', 10_000);
    for (let i = 0; i < 4; i++) {
      const r = await issue(`ap-${i}`);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.headers['x-rampart-node'], a);
    }
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const r = await call(`${front!.validationUrl}/ca/bundle.pem`);
      assert.equal(r.status, 200);
      seen.add(String(r.headers['x-rampart-node']));
    }
    assert.deepEqual([...seen].sort(), [a, b].sort());
  });

  it('when the active node dies, the standby takes over and issuance resumes through the same frontend', async (t) => {
    const [active, standby] = nodes;
    const b = names.get(standby!)!;
    const killedAt = Date.now();
    active!.child.kill('SIGKILL');
    // Lease takeover, then `rise` passed checks of the new active node, plus a margin.
    const bound = TAKEOVER_S * 1000 + CHECK.rise * CHECK.intervalMs + 3000;
    const states = await waitForServerStates(front!.statsUrl, (s) => s[`issuance/${b}`] === 'UP' && s[`issuance/${names.get(active!)!}`] === 'DOWN', bound);
    t.diagnostic(`standby took issuance ${Date.now() - killedAt} ms after the kill (bound ${bound} ms)`);
    assert.equal(states[`validation/${names.get(active!)!}`], 'DOWN');
    // Issuance works again, on the former standby; bounded retries cover the last health check.
    let r = await issue('after-takeover');
    for (let i = 0; i < 20 && r.status !== 201; i++) {
      await new Promise((res) => setTimeout(res, 250));
      r = await issue('after-takeover');
    }
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.headers['x-rampart-node'], b);
  });
});
