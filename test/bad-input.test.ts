/**
 * Every input from outside gets a clear 4xx (or an OCSP error status) and
 * changes nothing: malformed and badly signed CSRs, disallowed names, weak
 * keys, oversized bodies, garbage OCSP over GET and POST, unknown serials,
 * missing or bad tokens. Never a 5xx.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { call } from './helpers/api-client.js';
import { makeCsr, mustOpenssl } from './helpers/openssl.js';
import { startTestNode, type TestNode } from './helpers/running-node.js';

describe('bad input never changes state and never gets a 5xx', () => {
  let node: TestNode;
  let dir: string;
  let ca: string;
  let token: string;

  before(async () => {
    node = await startTestNode({ prefix: 'rampart-bad-' });
    ({ dir, ca } = node);
    token = node.adminToken!;
  });
  after(async () => {
    await node?.close();
  });

  async function count(): Promise<{ total: number; audit: number }> {
    const r = await call(`${node.httpsUrl}/api/v1/certificates?limit=1`, { token, ca });
    assert.equal(r.status, 200);
    return { total: r.body.total, audit: 0 };
  }

  function csr(name: string, subj: string, san?: string, key?: string[]): string {
    return readFileSync(makeCsr(dir, name, { subj, san, key }).csrPath, 'utf8');
  }

  async function expectProblem(body: unknown, status: number, match: RegExp, rule?: string, headers?: Record<string, string>) {
    const before = await count();
    const r = await call(`${node.httpsUrl}/api/v1/certificates`, { token, ca, json: body, headers });
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.match(String(r.headers['content-type']), /application\/problem\+json/);
    assert.match(r.body.detail, match);
    if (rule) assert.equal(r.body.rule, rule);
    assert.deepEqual(await count(), before, 'nothing was issued');
    return r;
  }

  it('refuses malformed, truncated and badly signed CSRs', async () => {
    const good = csr('good', '/CN=good.example.test', 'DNS:good.example.test');
    await expectProblem({ csr: 'not a csr', profile: 'server' }, 400, /./);
    await expectProblem({ csr: good.slice(0, 200) + '\n-----END CERTIFICATE REQUEST-----\n', profile: 'server' }, 400, /./);
    const der = Buffer.from(good.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 3]! ^= 0x55; // inside the signature
    const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await expectProblem({ csr: pem, profile: 'server' }, 400, /signature/i);
  });

  it('refuses names, IP SANs, weak keys and validity the profile does not allow, naming the rule', async () => {
    const ip = csr('ip', '/CN=ip.example.test', 'DNS:ip.example.test,IP:127.0.0.1');
    await expectProblem({ csr: ip, profile: 'server' }, 403, /IP/i, 'ipSans');
    const weak = csr('weak', '/CN=weak.example.test', 'DNS:weak.example.test', ['-newkey', 'rsa:1024']);
    await expectProblem({ csr: weak, profile: 'server' }, 403, /RSA|bits/i, 'rsaMinBits');
    const bad = csr('bad', '/CN=bad_name.example.test', 'DNS:bad_name.example.test');
    await expectProblem({ csr: bad, profile: 'server' }, 403, /./, 'dnsSyntax');
    const ok = csr('long', '/CN=long.example.test', 'DNS:long.example.test');
    await expectProblem({ csr: ok, profile: 'server', validityDays: 400 }, 403, /valid/i, 'maxValidityDays');
    await expectProblem({ csr: ok, profile: 'nope' }, 400, /unknown profile/);
    const p521 = csr('p521', '/CN=p521.example.test', 'DNS:p521.example.test', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521']);
    await expectProblem({ csr: p521, profile: 'server' }, 403, /curve|P-521/i, 'ecdsaCurve');
  });

  it('refuses schema violations and oversized bodies with 4xx', async () => {
    const ok = csr('schema', '/CN=schema.example.test', 'DNS:schema.example.test');
    await expectProblem({ csr: ok }, 400, /profile/);
    await expectProblem({ csr: ok, profile: 'server', extra: 1 }, 400, /./);
    await expectProblem({ csr: ok, profile: 'server', validityDays: 'ten' }, 400, /./);
    const big = await call(`${node.httpsUrl}/api/v1/certificates`, { token, ca, json: { csr: 'A'.repeat(200_000), profile: 'server' } });
    assert.equal(big.status, 413);
    const notJson = await call(`${node.httpsUrl}/api/v1/certificates`, { token, ca, body: '{"csr": ', headers: { 'content-type': 'application/json' } });
    assert.equal(notJson.status, 400);
  });

  it('needs a valid token for every mutating endpoint', async () => {
    const ok = csr('auth', '/CN=auth.example.test', 'DNS:auth.example.test');
    const before = await count();
    for (const t of [undefined, 'rmp_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'garbage']) {
      const r = await call(`${node.httpsUrl}/api/v1/certificates`, { token: t, ca, json: { csr: ok, profile: 'server' } });
      assert.equal(r.status, 401);
      const rv = await call(`${node.httpsUrl}/api/v1/certificates/01/revoke`, { token: t, ca, json: {} });
      assert.equal(rv.status, 401);
      const tk = await call(`${node.httpsUrl}/api/v1/tokens`, { token: t, ca, json: { name: 'x', role: 'admin' } });
      assert.equal(tk.status, 401);
    }
    // An auditor may read but not issue.
    const aud = await call(`${node.httpsUrl}/api/v1/tokens`, { token, ca, json: { name: 'aud', role: 'auditor' } });
    assert.equal(aud.status, 201);
    const denied = await call(`${node.httpsUrl}/api/v1/certificates`, { token: aud.body.token, ca, json: { csr: ok, profile: 'server' } });
    assert.equal(denied.status, 403);
    assert.deepEqual(await count(), before);
  });

  it('unknown and malformed serials: 404 / 400, nothing revoked', async () => {
    const unknown = await call(`${node.httpsUrl}/api/v1/certificates/7fffffffffffffff/revoke`, { token, ca, json: { reason: 'keyCompromise' } });
    assert.equal(unknown.status, 404);
    const bad = await call(`${node.httpsUrl}/api/v1/certificates/xyz/revoke`, { token, ca, json: { reason: 'keyCompromise' } });
    assert.equal(bad.status, 400);
    const badReason = await call(`${node.httpsUrl}/api/v1/certificates/01/revoke`, { token, ca, json: { reason: 'becauseISaidSo' } });
    assert.equal(badReason.status, 400);
    const get = await call(`${node.httpsUrl}/api/v1/certificates/7fffffffffffffff`, { token, ca });
    assert.equal(get.status, 404);
    const revoked = await call(`${node.httpsUrl}/api/v1/certificates?status=revoked`, { token, ca });
    assert.equal(revoked.body.total, 0);
  });

  it('garbage OCSP over POST and GET gets malformedRequest, never a 5xx', async () => {
    const malformed = Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x01]);
    const bodies = [Buffer.alloc(0), Buffer.from('hello'), Buffer.from([0x30, 0x82, 0xff, 0xff]), Buffer.alloc(300, 0x30)];
    for (const body of bodies) {
      const r = await call(`${node.httpUrl}/ocsp`, { method: 'POST', body, headers: { 'content-type': 'application/ocsp-request' } });
      assert.equal(r.status, 200);
      assert.deepEqual(r.raw, malformed);
    }
    for (const path of ['/ocsp/', '/ocsp/%%%', '/ocsp/!!!!', '/ocsp/aGVsbG8=', '/ocsp/MAA=', '/ocsp//', `/ocsp/${'A'.repeat(5000)}`]) {
      const r = await call(`${node.httpUrl}${path}`);
      assert.ok(r.status < 500, `${path}: ${r.status}`);
      if (r.status === 200) assert.deepEqual(r.raw, malformed, path);
    }
    const huge = await call(`${node.httpUrl}/ocsp`, { method: 'POST', body: Buffer.alloc(100_000, 1), headers: { 'content-type': 'application/ocsp-request' } });
    assert.ok(huge.status >= 400 && huge.status < 500);
    // An OCSP request for an issuer we do not know: unauthorized (status 6).
    const other = mustOpenssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${dir}/other.key`, '-subj', '/CN=Other CA', '-out', `${dir}/other.pem`, '-days', '2']);
    void other;
    mustOpenssl(['ocsp', '-issuer', `${dir}/other.pem`, '-serial', '0x1234', '-reqout', `${dir}/foreign.req`]);
    const foreign = await call(`${node.httpUrl}/ocsp`, { method: 'POST', body: readFileSync(`${dir}/foreign.req`), headers: { 'content-type': 'application/ocsp-request' } });
    assert.equal(foreign.status, 200);
    assert.deepEqual(foreign.raw, Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x06]));
  });
});
