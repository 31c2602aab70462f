/**
 * Abuse and overload protection on a real node (src/http/limits/): rate
 * limits per address (IPv6 by /64), per API token and per address for failed
 * authentications and ACME, answered 429 with Retry-After and a problem
 * document; issuance shed with 503 + Retry-After under a flood while OCSP and
 * health keep answering; body, header and request limits; the connection cap.
 *
 * Client addresses are given with X-Forwarded-For, which the node believes
 * from loopback (as from HAProxy on the same host). Every load loop is
 * bounded by count and time; nothing asserts on speed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { setTimeout as sleep } from 'node:timers/promises';
import { call } from './helpers/api-client.js';
import { httpCall, type HttpOptions, type HttpResponse } from '../src/core/http-client.js';
import { removeDir, startNode, tempDir, type NodeProcess } from './helpers/node-process.js';
import { makeCsr, mustOpenssl } from './helpers/openssl.js';

type Res = HttpResponse<any>;

/** One request (the project's client); `agent` for keep-alive under load; `xff` as the client address HAProxy would pass on. */
function req(url: string, o: Omit<HttpOptions, 'timeoutMs'> & { xff?: string } = {}): Promise<Res> {
  const { xff, ...rest } = o;
  return httpCall(url, { ...rest, headers: { ...o.headers, ...(xff ? { 'x-forwarded-for': xff } : {}) }, timeoutMs: 20_000 });
}

function assertProblem(r: Res, status: number, code: string): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.match(String(r.headers['content-type']), /application\/problem\+json/);
  assert.equal(r.body.type, `urn:rampart:error:${code}`);
  assert.equal(r.body.status, status);
  assert.ok(Number(r.headers['retry-after']) >= 1, `Retry-After: ${r.headers['retry-after']}`);
}

const metric = async (node: NodeProcess, re: RegExp): Promise<number> => {
  const m = re.exec(String((await call(`${node.httpUrl}/metrics`)).raw));
  return m ? Number(m[1]) : 0;
};

describe('abuse and overload protection', { timeout: 240_000 }, () => {
  let dir: string;
  let limited: NodeProcess; // low rate limits
  let flooded: NodeProcess; // low issuance in-flight cap
  let guarded: NodeProcess; // low transport limits
  let untrusting: NodeProcess; // low per-address limit, loopback not a trusted proxy
  let ca: string;
  let csr: string;

  before(async () => {
    dir = tempDir('rampart-overload-');
    [limited, flooded, guarded, untrusting] = await Promise.all([
      startNode({ env: {
        RAMPART_LIMITS__API__PER_IP__RATE_PER_SECOND: '2', RAMPART_LIMITS__API__PER_IP__BURST: '6',
        RAMPART_LIMITS__API__PER_TOKEN__RATE_PER_SECOND: '1', RAMPART_LIMITS__API__PER_TOKEN__BURST: '20',
        RAMPART_LIMITS__API__AUTH_FAILURES_PER_IP__RATE_PER_SECOND: '0.2', RAMPART_LIMITS__API__AUTH_FAILURES_PER_IP__BURST: '3',
        RAMPART_LIMITS__API__ACME_PER_IP__RATE_PER_SECOND: '1', RAMPART_LIMITS__API__ACME_PER_IP__BURST: '3',
      } }),
      startNode({ env: {
        RAMPART_LIMITS__OVERLOAD__MAX_IN_FLIGHT__ISSUANCE: '2',
        // Only the in-flight cap may refuse here: rate limits out of the way.
        RAMPART_LIMITS__API__PER_IP__RATE_PER_SECOND: '100000', RAMPART_LIMITS__API__PER_IP__BURST: '100000',
        RAMPART_LIMITS__API__PER_TOKEN__RATE_PER_SECOND: '100000', RAMPART_LIMITS__API__PER_TOKEN__BURST: '100000',
      } }),
      startNode({ env: {
        RAMPART_LIMITS__HTTPS__MAX_CONNECTIONS: '6',
        RAMPART_LIMITS__HTTP__HEADERS_TIMEOUT_MS: '1000', RAMPART_LIMITS__HTTP__REQUEST_TIMEOUT_MS: '2000',
        RAMPART_LIMITS__TIMEOUT_CHECK_INTERVAL_MS: '200',
        RAMPART_API__BODY_LIMIT_BYTES: '2048',
      } }),
      startNode({ env: {
        RAMPART_HTTP__TRUSTED_PROXIES: '10.9.0.0/16',
        RAMPART_LIMITS__API__PER_IP__RATE_PER_SECOND: '0.5', RAMPART_LIMITS__API__PER_IP__BURST: '4',
      } }),
    ]);
    ca = String((await call(`${limited.httpUrl}/ca/bundle.pem`)).body);
    csr = readFileSync(makeCsr(dir, 'load', { subj: '/CN=load.example.test', san: 'DNS:load.example.test' }).csrPath, 'utf8');
  });
  after(async () => {
    await Promise.all([limited, flooded, guarded, untrusting].map((n) => n?.stop()));
    for (const n of [limited, flooded, guarded, untrusting]) if (n) removeDir(n.dataDir);
    if (dir) removeDir(dir);
  });

  const newToken = async (node: NodeProcess, name: string, xff: string): Promise<string> => {
    const caOf = String((await call(`${node.httpUrl}/ca/bundle.pem`)).body);
    const r = await req(`${node.httpsUrl}/api/v1/tokens`, { token: node.adminToken!, ca: caOf, json: { name, role: 'issuer' }, xff });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.token as string;
  };

  it('per address: a burst beyond the bucket gets 429 + Retry-After, other addresses and health go on, the bucket refills', async () => {
    const token = await newToken(limited, 'per-ip', '198.18.0.1');
    const url = `${limited.httpsUrl}/api/v1/issuers`;
    const statuses: number[] = [];
    let refused: Res | null = null;
    for (let i = 0; i < 12 && !refused; i++) {
      const r = await req(url, { token, ca, xff: '203.0.113.10' });
      statuses.push(r.status);
      if (r.status === 429) refused = r;
    }
    assert.ok(refused, `no 429 in ${statuses.join(',')}`);
    assert.ok(statuses.filter((s) => s === 200).length >= 6, `the burst was allowed: ${statuses.join(',')}`);
    assertProblem(refused, 429, 'rateLimited');
    assert.equal(refused.body.limit, 'perIp');
    // Another address, and the health routes for the limited one, are not affected.
    assert.equal((await req(url, { token, ca, xff: '203.0.113.11' })).status, 200);
    for (const p of ['/healthz', '/readyz', '/metrics']) assert.equal((await req(`${limited.httpsUrl}${p}`, { ca, xff: '203.0.113.10' })).status, 200, p);
    // The bucket refills: after Retry-After the address is served again.
    await sleep(Number(refused.headers['retry-after']) * 1000 + 200);
    assert.equal((await req(url, { token, ca, xff: '203.0.113.10' })).status, 200);
    // IPv6 is limited by /64: another address in the same /64 shares the bucket, another /64 does not.
    const token6 = await newToken(limited, 'per-ip-v6', '198.18.0.4'); // a token of its own: its bucket stays far from empty
    let v6: Res | null = null;
    for (let i = 0; i < 12 && !v6; i++) {
      const r = await req(url, { token: token6, ca, xff: `2001:db8:1::${i + 1}` });
      if (r.status === 429) v6 = r;
    }
    assert.ok(v6, 'one /64 was limited as one address');
    assert.equal(v6.body.limit, 'perIp');
    assert.equal((await req(url, { token: token6, ca, xff: '2001:db8:2::1' })).status, 200);
    assert.ok(await metric(limited, /rampart_http_rate_limited_total\{listener="https",key="ip"\} (\d+)/) >= 2);
  });

  it('per token: limited across addresses, independently of other tokens on the same address', async () => {
    const a = await newToken(limited, 'token-a', '198.18.0.2');
    const b = await newToken(limited, 'token-b', '198.18.0.3');
    const url = `${limited.httpsUrl}/api/v1/issuers`;
    let refused: Res | null = null;
    let i = 0;
    for (; i < 30 && !refused; i++) {
      // A fresh address each time: the per-address limit is never reached.
      const r = await req(url, { token: a, ca, xff: `198.51.100.${i + 1}` });
      if (r.status === 429) refused = r;
      else assert.equal(r.status, 200);
    }
    assert.ok(refused, 'token A was never limited');
    assert.ok(i > 20, `token A got its burst (${i - 1} before the 429)`);
    assertProblem(refused, 429, 'rateLimited');
    assert.equal(refused.body.limit, 'perToken');
    // The same address with another token is served.
    assert.equal((await req(url, { token: b, ca, xff: `198.51.100.${i}` })).status, 200);
    assert.ok(await metric(limited, /rampart_http_rate_limited_total\{listener="https",key="token"\} (\d+)/) >= 1);
  });

  it('failed authentications and ACME requests have their own per-address limits', async () => {
    const url = `${limited.httpsUrl}/api/v1/certificates`;
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push((await req(url, { token: `rmp_00000000000${i}_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`, ca, json: { csr, profile: 'server' }, xff: '192.0.2.50' })).status);
    }
    assert.deepEqual(statuses.slice(0, 3), [401, 401, 401]);
    assert.equal(statuses[4], 429, statuses.join(','));
    const blocked = await req(url, { ca, json: { csr, profile: 'server' }, xff: '192.0.2.50' });
    assertProblem(blocked, 429, 'rateLimited');
    assert.equal(blocked.body.limit, 'authFailuresPerIp');
    assert.equal((await req(url, { ca, json: { csr, profile: 'server' }, xff: '192.0.2.51' })).status, 401, 'other addresses still reach authentication');

    // ACME: an ACME problem document (RFC 8555 rateLimited) with Retry-After and a fresh nonce.
    let acme: Res | null = null;
    for (let n = 0; n < 8 && !acme; n++) {
      const r = await req(`${limited.httpsUrl}/acme/new-nonce`, { method: 'HEAD', ca, xff: '192.0.2.77' });
      if (r.status === 429) acme = r;
      else assert.equal(r.status, 200);
    }
    assert.ok(acme, 'ACME requests were never limited');
    assert.ok(Number(acme.headers['retry-after']) >= 1);
    assert.ok(acme.headers['replay-nonce']);
    const body = await req(`${limited.httpsUrl}/acme/directory`, { ca, xff: '192.0.2.77' });
    assert.equal(body.status, 429);
    assert.equal(body.body.type, 'urn:ietf:params:acme:error:rateLimited');
  });

  it('rate-limit refusals are audited: once per limit and key a minute, with source, channel and target', async () => {
    // The refusals of the three tests above. Audit writes follow the 429 asynchronously.
    type Row = { actor: string; source: string; channel: string; target: string; outcome: string; limit: string; n: number };
    let rows: Row[] = [];
    for (let i = 0; i < 50; i++) {
      const db = new Database(join(limited.dataDir, 'rampart.db'), { readonly: true, fileMustExist: true });
      try {
        rows = db.prepare(`SELECT actor, source, channel, target, outcome, json_extract(details, '$.limit') AS "limit", count(*) AS n
          FROM audit_log WHERE action = 'ratelimit.denied' GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY source, target`).all() as Row[];
      } finally {
        db.close();
      }
      if (rows.some((r) => r.source === '192.0.2.77')) break;
      await sleep(100);
    }
    const find = (source: string, limit: string): Row[] => rows.filter((r) => r.source === source && r.limit === limit);
    const perIp = find('203.0.113.10', 'perIp');
    assert.equal(perIp.length, 1, JSON.stringify(rows));
    assert.deepEqual({ ...perIp[0] }, { actor: 'anonymous', source: '203.0.113.10', channel: 'api', target: 'GET /api/v1/issuers', outcome: 'denied', limit: 'perIp', n: 1 });
    // Several refusals of the failed-authentication limit from one address: one entry in the minute.
    const auth = find('192.0.2.50', 'authFailuresPerIp');
    assert.equal(auth.reduce((a, r) => a + r.n, 0), 1, JSON.stringify(rows));
    assert.equal(auth[0]!.target, 'POST /api/v1/certificates');
    const acme = find('192.0.2.77', 'acmePerIp');
    assert.equal(acme.reduce((a, r) => a + r.n, 0), 1, JSON.stringify(rows));
    assert.equal(acme[0]!.channel, 'acme');
    // The per-token limit is keyed by a digest of the token, whatever the address.
    assert.ok(rows.some((r) => r.limit === 'perToken' && r.actor === 'anonymous' && r.source.startsWith('198.51.100.')), JSON.stringify(rows));
    // Every refusal is still counted.
    assert.ok(await metric(limited, /rampart_http_rate_limited_total\{listener="https",key="auth_failures"\} (\d+)/) >= 2);
  });

  it('X-Forwarded-For only from http.trustedProxies: from anyone else a forged header changes nothing', async () => {
    // The per-address test above showed XFF believed from loopback (the default). This node trusts only
    // 10.9.0.0/16, so the client is 127.0.0.1 whatever the header says, and forging addresses does not
    // get around the per-address limit.
    const uca = String((await call(`${untrusting.httpUrl}/ca/bundle.pem`)).body);
    const url = `${untrusting.httpsUrl}/api/v1/issuers`;
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await req(url, { token: untrusting.adminToken!, ca: uca, xff: `203.0.113.${100 + i}` })).status);
    assert.ok(statuses.slice(0, 3).every((s) => s === 200), statuses.join(','));
    assert.ok(statuses.includes(429), `forged addresses shared one bucket: ${statuses.join(',')}`);
    // Denials are audited with the real source.
    let sources: string[] = [];
    for (let i = 0; i < 30 && !sources.length; i++) {
      const db = new Database(join(untrusting.dataDir, 'rampart.db'), { readonly: true, fileMustExist: true });
      try {
        sources = (db.prepare("SELECT source FROM audit_log WHERE action = 'ratelimit.denied'").all() as Array<{ source: string }>).map((r) => r.source);
      } finally {
        db.close();
      }
      if (!sources.length) await sleep(100);
    }
    assert.deepEqual(sources, ['127.0.0.1']);
  });

  it('an issuance flood is shed with 503 + Retry-After while OCSP and health answer every request', async () => {
    const node = flooded;
    const fca = String((await call(`${node.httpUrl}/ca/bundle.pem`)).body);
    const token = node.adminToken!;
    const first = await req(`${node.httpsUrl}/api/v1/certificates`, { token, ca: fca, json: { csr, profile: 'server' } });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    writeFileSync(`${dir}/leaf.pem`, first.body.certificatePem);
    writeFileSync(`${dir}/int.pem`, first.body.chainPem);
    mustOpenssl(['ocsp', '-issuer', `${dir}/int.pem`, '-cert', `${dir}/leaf.pem`, '-no_nonce', '-reqout', `${dir}/req.der`]);
    const ocspReq = readFileSync(`${dir}/req.der`);

    const agent = new Agent({ keepAlive: true, maxSockets: 32, ca: fca });
    const issued = { created: 0, shed: 0, other: [] as string[], retryAfter: [] as number[] };
    let shedProblem: Res | null = null;
    const validation = { ok: 0, failed: [] as string[] };
    const health = { ok: 0, failed: [] as string[] };
    let stop = false;
    const deadline = Date.now() + 8000;
    let budget = 4000; // requests, all workers together
    const issuer = async () => {
      while (!stop && Date.now() < deadline && budget-- > 0) {
        try {
          const r = await req(`${node.httpsUrl}/api/v1/certificates`, { token, agent, json: { csr, profile: 'server' }, headers: { 'idempotency-key': randomUUID() } });
          if (r.status === 201) issued.created++;
          else if (r.status === 503) { issued.shed++; issued.retryAfter.push(Number(r.headers['retry-after'])); shedProblem ??= r; }
          else issued.other.push(`${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
        } catch (e) { issued.other.push((e as Error).message); }
      }
    };
    const validator = async () => {
      while (!stop && Date.now() < deadline) {
        try {
          const r = await req(`${node.httpUrl}/ocsp`, { body: ocspReq, headers: { 'content-type': 'application/ocsp-request' } });
          if (r.status === 200 && r.raw.length > 100) validation.ok++;
          else validation.failed.push(`${r.status} (${r.raw.length} bytes)`);
        } catch (e) { validation.failed.push((e as Error).message); }
      }
    };
    const checker = async () => {
      while (!stop && Date.now() < deadline) {
        for (const u of [`${node.httpUrl}/readyz`, `${node.httpsUrl}/healthz`, `${node.httpUrl}/ca/bundle.pem`]) {
          try {
            const r = await req(u, { ca: fca });
            if (r.status === 200) health.ok++;
            else health.failed.push(`${u} ${r.status}`);
          } catch (e) { health.failed.push(`${u} ${(e as Error).message}`); }
        }
        await sleep(100);
      }
    };
    const load = [...Array.from({ length: 24 }, issuer), validator(), validator(), checker()];
    // Stop once the flood has been shed enough to judge (or at the deadline).
    while (Date.now() < deadline && !(issued.shed >= 20 && issued.created >= 5 && validation.ok >= 50)) await sleep(100);
    await sleep(500);
    stop = true;
    await Promise.all(load);
    agent.destroy();

    console.log(`flood: ${issued.created} issued, ${issued.shed} shed (503), ${issued.other.length} other; OCSP ${validation.ok} ok, ${validation.failed.length} failed; health ${health.ok} ok`);
    assert.deepEqual(issued.other, [], 'issuance answers are 201 or 503, nothing else');
    assert.ok(issued.shed > 0, 'some issuance requests were shed');
    assert.ok(issued.created > 0, 'issuance went on within the cap');
    assert.ok(issued.retryAfter.every((s) => s >= 1), 'every 503 carries Retry-After');
    assertProblem(shedProblem!, 503, 'unavailable');
    assert.deepEqual(validation.failed, [], 'no OCSP request failed during the flood');
    assert.ok(validation.ok > 0);
    assert.deepEqual(health.failed, [], 'health and CA certificate routes answered throughout');
    assert.ok(health.ok > 0);
    assert.ok(await metric(node, /rampart_http_shed_total\{class="issuance",reason="[a-z_]+"\} (\d+)/) > 0);
    // After the flood, issuance is served again.
    assert.equal((await req(`${node.httpsUrl}/api/v1/certificates`, { token, ca: fca, json: { csr, profile: 'server' } })).status, 201);
  });

  it('oversized bodies get 413, slow headers and slow bodies are cut off, extra connections are refused', async () => {
    const node = guarded;
    const gca = String((await call(`${node.httpUrl}/ca/bundle.pem`)).body);
    const big = await req(`${node.httpsUrl}/api/v1/certificates`, { token: node.adminToken!, ca: gca, json: { csr: 'A'.repeat(4096), profile: 'server' } });
    assert.equal(big.status, 413);
    assert.equal(big.body.type, 'urn:rampart:error:payloadTooLarge');

    // Slow headers (slowloris): one header line every 300 ms, never finished. Bounded at 10 s.
    const slow = (lines: string[], everyMs: number) => new Promise<{ closedAfterMs: number; answer: string }>((resolve, reject) => {
      const started = Date.now();
      const s = netConnect({ host: '127.0.0.1', port: Number(new URL(node.httpUrl).port) });
      let answer = '';
      let n = 0;
      const timer = setInterval(() => { if (!s.destroyed && n < lines.length) s.write(lines[n++]!); }, everyMs);
      const bound = setTimeout(() => { s.destroy(); reject(new Error('the slow client was never cut off')); }, 10_000);
      s.on('data', (d: Buffer) => { answer += d.toString('latin1'); });
      s.on('error', () => { /* reset after the 408: fine */ });
      s.on('close', () => { clearInterval(timer); clearTimeout(bound); resolve({ closedAfterMs: Date.now() - started, answer }); });
    });
    const headerLines = ['GET /ca/bundle.pem HTTP/1.1\r\n', 'Host: 127.0.0.1\r\n', ...Array.from({ length: 40 }, (_, i) => `X-Slow-${i}: x\r\n`)];
    const h = await slow(headerLines, 300);
    assert.match(h.answer, /^HTTP\/1\.1 408/, `answer: ${JSON.stringify(h.answer.slice(0, 80))}`);
    // Slow body: complete headers, then the declared body never arrives in full.
    const bodyLines = ['POST /ocsp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/ocsp-request\r\nContent-Length: 200\r\n\r\n', ...Array.from({ length: 40 }, () => '0')];
    const b = await slow(bodyLines, 300);
    assert.match(b.answer, /^HTTP\/1\.1 408/, `answer: ${JSON.stringify(b.answer.slice(0, 80))}`);

    // Connection cap (6 on the HTTPS listener): hold 6 TLS connections, the next ones are closed at once.
    const port = Number(new URL(node.httpsUrl).port);
    const open = (): Promise<TLSSocket | null> => new Promise((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port, ca: gca, servername: 'localhost' });
      const bound = setTimeout(() => { s.destroy(); resolve(null); }, 5000);
      s.once('secureConnect', () => { clearTimeout(bound); resolve(s); });
      s.once('error', () => { clearTimeout(bound); s.destroy(); resolve(null); });
      s.once('close', () => { clearTimeout(bound); resolve(null); });
    });
    const held: TLSSocket[] = [];
    try {
      for (let i = 0; i < 6; i++) {
        // Retried briefly: the server may still count the connection of the request above.
        let s: TLSSocket | null = null;
        for (let attempt = 0; attempt < 20 && !s; attempt++) {
          s = await open();
          if (!s) await sleep(100);
        }
        assert.ok(s, `connection ${i + 1} of 6 was accepted`);
        held.push(s);
      }
      const extra = await Promise.all([open(), open(), open()]);
      for (const s of extra) s?.destroy();
      assert.equal(extra.filter(Boolean).length, 0, 'connections beyond maxConnections are refused');
      // The node stays healthy meanwhile (the HTTP listener has its own cap).
      assert.equal((await call(`${node.httpUrl}/readyz`)).status, 200);
      assert.ok(await metric(node, /rampart_http_connections_dropped_total\{listener="https"\} (\d+)/) >= 3);
    } finally {
      for (const s of held) s.destroy();
    }
    // Once they are gone, the API takes connections again.
    let ok = false;
    for (let i = 0; i < 20 && !ok; i++) {
      ok = (await req(`${node.httpsUrl}/healthz`, { ca: gca }).catch(() => ({ status: 0 }))).status === 200;
      if (!ok) await sleep(100);
    }
    assert.ok(ok, 'the HTTPS listener accepts connections again');
  });
});
