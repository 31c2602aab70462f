/**
 * A node that sheds load must stay in HAProxy's rotation: a node under an
 * issuance flood answers 503 + Retry-After for what it cannot take (its
 * in-flight cap), and HAProxy must pass those answers on, not take the node
 * out for them (the generated configuration observes failed connections,
 * not 5xx answers). Real HAProxy on the configuration `renderHaproxyConfig`
 * generates, one real node with a low issuance cap; the flood is bounded by
 * count and time, and nothing asserts on speed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request as httpsRequest } from 'node:https';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { renderHaproxyConfig } from '../src/cluster/haproxy-config.js';
import { call } from './helpers/api-client.js';
import { haproxyServerStates, makeHaproxyTlsCert, startHaproxy, waitForServerStates, type HaproxyProcess } from './helpers/haproxy.js';
import { makeCsr } from './helpers/openssl.js';
import { freePort } from './helpers/ports.js';
import { startTestNode, type TestNode } from './helpers/running-node.js';

interface Res { status: number; retryAfter: string | undefined; body: string }

function post(url: string, o: { token: string; agent: Agent; json: unknown }): Promise<Res> {
  const payload = Buffer.from(JSON.stringify(o.json));
  return new Promise((resolve, reject) => {
    const r = httpsRequest(new URL(url), {
      method: 'POST', agent: o.agent, timeout: 20_000,
      headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json', 'content-length': String(payload.length), 'idempotency-key': randomUUID() },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    r.on('timeout', () => r.destroy(new Error(`timeout: ${url}`)));
    r.on('error', reject);
    r.end(payload);
  });
}

describe('HAProxy in front of a node that sheds load', { timeout: 180_000 }, () => {
  let dir: string;
  let node: TestNode;
  let haproxy: HaproxyProcess | undefined;
  let apiUrl: string;
  let validationUrl: string;
  let statsUrl: string;
  let ca: string;
  let csr: string;

  before(async () => {
    node = await startTestNode({ prefix: 'rampart-haproxy-overload-', env: {
      RAMPART_LIMITS__OVERLOAD__MAX_IN_FLIGHT__ISSUANCE: '2',
      RAMPART_LIMITS__API__PER_IP__RATE_PER_SECOND: '100000', RAMPART_LIMITS__API__PER_IP__BURST: '100000',
      RAMPART_LIMITS__API__PER_TOKEN__RATE_PER_SECOND: '100000', RAMPART_LIMITS__API__PER_TOKEN__BURST: '100000',
    } });
    ({ dir, ca } = node);
    const caFile = join(dir, 'root.pem');
    writeFileSync(caFile, ca);
    const tls = makeHaproxyTlsCert(node.dataDir, dir);
    const [http, https, stats] = [await freePort(), await freePort(), await freePort()];
    const nodeHttp = new URL(node.httpUrl);
    const nodeHttps = new URL(node.httpsUrl);
    const cfg = renderHaproxyConfig({
      nodes: [{ name: 'n1', httpHost: nodeHttp.hostname, httpPort: Number(nodeHttp.port), httpsHost: nodeHttps.hostname, httpsPort: Number(nodeHttps.port) }],
      bindHttp: `127.0.0.1:${http}`, bindHttps: `127.0.0.1:${https}`, statsBind: `127.0.0.1:${stats}`,
      tlsCertFile: tls, caFile, check: { intervalMs: 1000, timeoutMs: 500, fall: 3, rise: 2 },
    });
    haproxy = await startHaproxy(cfg, dir);
    apiUrl = `https://127.0.0.1:${https}`;
    validationUrl = `http://127.0.0.1:${http}`;
    statsUrl = `http://127.0.0.1:${stats}`;
    const servers = ['validation/n1', 'validation_fallback/n1', 'issuance/n1', 'reads/n1'];
    await waitForServerStates(statsUrl, (s) => Object.keys(s).length === servers.length && servers.every((k) => s[k] === 'UP'), 20_000);
    csr = readFileSync(makeCsr(dir, 'flood', { subj: '/CN=flood.example.test', san: 'DNS:flood.example.test' }).csrPath, 'utf8');
  });
  after(async () => {
    await haproxy?.stop();
    await node?.close();
  });

  it('sheds 503 + Retry-After through HAProxy, stays UP in both backends, validation answers, issuance resumes', async () => {
    const token = node.adminToken!;
    const agent = new Agent({ keepAlive: true, maxSockets: 32, ca });
    const issued = { created: 0, shed: 0, noRetryAfter: 0, other: [] as string[] };
    const validation = { ok: 0, failed: [] as string[] };
    const states: Array<Record<string, string>> = [];
    let stop = false;
    const deadline = Date.now() + 8000;
    let budget = 3000;
    const issuer = async (): Promise<void> => {
      while (!stop && Date.now() < deadline && budget-- > 0) {
        try {
          const r = await post(`${apiUrl}/api/v1/certificates`, { token, agent, json: { csr, profile: 'server' } });
          if (r.status === 201) issued.created++;
          else if (r.status === 503) { issued.shed++; if (!(Number(r.retryAfter) >= 1)) issued.noRetryAfter++; }
          else issued.other.push(`${r.status} ${r.body.slice(0, 200)}`);
        } catch (e) { issued.other.push((e as Error).message); }
      }
    };
    const validator = async (): Promise<void> => {
      while (!stop && Date.now() < deadline) {
        const r = await call(`${validationUrl}/ca/bundle.pem`).catch((e: Error) => ({ status: 0, body: e.message }));
        if (r.status === 200) validation.ok++;
        else validation.failed.push(`${r.status}`);
        await sleep(50);
      }
    };
    const watcher = async (): Promise<void> => {
      while (!stop && Date.now() < deadline) {
        states.push(await haproxyServerStates(statsUrl));
        await sleep(250);
      }
    };
    const load = [...Array.from({ length: 24 }, issuer), validator(), watcher()];
    // Long enough for HAProxy to have acted on the 503s (10 in a row would mark a layer7 observer down).
    while (Date.now() < deadline && !(issued.shed >= 200 && states.length >= 12)) await sleep(100);
    stop = true;
    await Promise.all(load);
    agent.destroy();
    states.push(await haproxyServerStates(statsUrl));

    console.log(`# through HAProxy: ${issued.created} issued, ${issued.shed} shed (503), ${issued.other.length} other; validation ${validation.ok} ok; ${states.length} state samples`);
    // HAProxy's log lines of requests that did not end normally (termination state other than ----), to say why.
    const abnormal = (haproxy?.output() ?? '').split('\n').filter((l) => /\s[A-Za-z-]{4}\s+\d+\/\d+\/\d+\/\d+\/\d+/.test(l) && !/\s----\s/.test(l));
    assert.deepEqual(issued.other, [], `answers are 201 or 503 only; HAProxy's abnormal terminations:\n${abnormal.slice(-20).join('\n')}`);
    assert.ok(issued.shed > 20, `the node shed load through HAProxy (${issued.shed})`);
    assert.equal(issued.noRetryAfter, 0, 'every 503 carried Retry-After');
    assert.ok(issued.created > 0);
    assert.deepEqual(validation.failed, [], 'validation through HAProxy never failed');
    const notUp = states.filter((s) => Object.values(s).some((v) => v !== 'UP'));
    assert.deepEqual(notUp, [], 'the node stayed UP in every backend while it shed load');
    // After the flood: issuance through HAProxy at once.
    const again = await post(`${apiUrl}/api/v1/certificates`, { token, agent: new Agent({ ca }), json: { csr, profile: 'server' } });
    assert.equal(again.status, 201, again.body);
  });
});
