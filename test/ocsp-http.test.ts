/**
 * OCSP over HTTP details (RFC 6960 appendix A, RFC 5019): GET with the
 * request base64 in the path, URL-encoded or not, with '/' and '//' inside;
 * caching headers and ETag; nonce echo (RFC 8954) with the real openssl client.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { call } from './helpers/api-client.js';
import { makeCsr, mustOpenssl } from './helpers/openssl.js';
import { startTestNode, type TestNode } from './helpers/running-node.js';

describe('OCSP over HTTP', () => {
  let node: TestNode;
  let dir: string;
  let ca: string;
  let serial: string;

  before(async () => {
    node = await startTestNode({ prefix: 'rampart-ocsp-http-' });
    ({ dir, ca } = node);
    const issuers = (await call(`${node.httpsUrl}/api/v1/issuers`, { token: node.adminToken!, ca })).body.items as Array<{ kind: string; active: boolean; certificatePem: string }>;
    writeFileSync(`${dir}/int.pem`, issuers.find((i) => i.kind === 'intermediate' && i.active)!.certificatePem);
    writeFileSync(`${dir}/root.pem`, issuers.find((i) => i.kind === 'root')!.certificatePem);
    const { csrPath } = makeCsr(dir, 'leaf', { subj: '/CN=get.example.test', san: 'DNS:get.example.test' });
    const r = await call(`${node.httpsUrl}/api/v1/certificates`, { token: node.adminToken!, ca, json: { csr: readFileSync(csrPath, 'utf8'), profile: 'server' } });
    assert.equal(r.status, 201);
    serial = r.body.serial;
    writeFileSync(`${dir}/leaf.pem`, r.body.certificatePem);
  });
  after(async () => {
    await node?.close();
  });

  function request(args: string[]): Buffer {
    mustOpenssl(['ocsp', '-issuer', `${dir}/int.pem`, ...args, '-no_nonce', '-reqout', `${dir}/req.der`]);
    return readFileSync(`${dir}/req.der`);
  }

  function status(resp: Buffer): string {
    writeFileSync(`${dir}/resp.der`, resp);
    return mustOpenssl(['ocsp', '-respin', `${dir}/resp.der`, '-issuer', `${dir}/int.pem`, '-CAfile', `${dir}/root.pem`, '-resp_text']);
  }

  it('GET answers with the base64 request in the path, plain and URL-encoded, with cache headers', async () => {
    const der = request(['-cert', `${dir}/leaf.pem`]);
    const b64 = der.toString('base64');
    for (const path of [b64, encodeURIComponent(b64)]) {
      const r = await call(`${node.httpUrl}/ocsp/${path}`);
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], 'application/ocsp-response');
      assert.match(String(r.headers['cache-control']), /max-age=\d+, public, no-transform, must-revalidate/);
      assert.ok(r.headers.etag && r.headers['last-modified'] && r.headers.expires);
      const text = status(r.raw);
      assert.match(text, /Response verify OK/);
      assert.match(text, /Cert Status: good/);
      const again = await call(`${node.httpUrl}/ocsp/${path}`, { headers: { 'if-none-match': String(r.headers.etag) } });
      assert.equal(again.status, 304);
    }
  });

  it('caches by CertID: GET (plain and URL-encoded) and POST of one certificate get the same signed response, and a revocation reaches all of them', async () => {
    const der = request(['-cert', `${dir}/leaf.pem`]);
    const b64 = der.toString('base64');
    const post = () => call(`${node.httpUrl}/ocsp`, { body: der, headers: { 'content-type': 'application/ocsp-request' } });
    const answers = [await call(`${node.httpUrl}/ocsp/${b64}`), await call(`${node.httpUrl}/ocsp/${encodeURIComponent(b64)}`), await post()];
    for (const a of answers) assert.ok(a.raw.equals(answers[0]!.raw), 'one cached response per CertID, whatever the request encoding');
    assert.match(status(answers[0]!.raw), /Cert Status: good/);
    // A second certificate, revoked: every encoding of its request sees it at once.
    const { csrPath } = makeCsr(dir, 'gone', { subj: '/CN=gone.example.test', san: 'DNS:gone.example.test' });
    const r = await call(`${node.httpsUrl}/api/v1/certificates`, { token: node.adminToken!, ca, json: { csr: readFileSync(csrPath, 'utf8'), profile: 'server' } });
    assert.equal(r.status, 201);
    writeFileSync(`${dir}/gone.pem`, r.body.certificatePem);
    const goneDer = request(['-cert', `${dir}/gone.pem`]);
    const goneB64 = goneDer.toString('base64');
    assert.match(status((await call(`${node.httpUrl}/ocsp/${goneB64}`)).raw), /Cert Status: good/);
    const rev = await call(`${node.httpsUrl}/api/v1/certificates/${r.body.serial}/revoke`, { method: 'POST', token: node.adminToken!, ca, json: { reason: 'keyCompromise' } });
    assert.equal(rev.status, 200, JSON.stringify(rev.body));
    for (const a of [await call(`${node.httpUrl}/ocsp/${goneB64}`), await call(`${node.httpUrl}/ocsp/${encodeURIComponent(goneB64)}`),
      await call(`${node.httpUrl}/ocsp`, { body: goneDer, headers: { 'content-type': 'application/ocsp-request' } })]) {
      assert.match(status(a.raw), /Cert Status: revoked/);
    }
  });

  it("GET works when the base64 holds '/' and '//' (kept in the path, not collapsed)", async () => {
    let found: Buffer | null = null;
    for (let i = 0; i < 3000 && !found; i++) {
      const der = request(['-serial', `0x${randomBytes(16).toString('hex')}`]);
      if (der.toString('base64').includes('//')) found = der;
    }
    assert.ok(found, "a request whose base64 contains '//'");
    const b64 = found.toString('base64');
    for (const path of [b64, encodeURIComponent(b64)]) {
      const r = await call(`${node.httpUrl}/ocsp/${path}`);
      assert.equal(r.status, 200);
      const text = status(r.raw);
      assert.match(text, /Response verify OK/);
      assert.match(text, /Cert Status: unknown/);
    }
  });

  it('echoes the nonce (openssl checks it) and answers POST too', async () => {
    const out = mustOpenssl(['ocsp', '-issuer', `${dir}/int.pem`, '-CAfile', `${dir}/root.pem`, '-cert', `${dir}/leaf.pem`, '-url', `${node.httpUrl}/ocsp`, '-resp_text']);
    assert.match(out, /Response verify OK/);
    assert.match(out, /OCSP Nonce/);
    assert.doesNotMatch(out, /WARNING: no nonce in response|nonce verify error/i);
    const der = request(['-cert', `${dir}/leaf.pem`]);
    const r = await call(`${node.httpUrl}/ocsp`, { method: 'POST', body: der, headers: { 'content-type': 'application/ocsp-request' } });
    assert.equal(r.status, 200);
    assert.match(status(r.raw), /Cert Status: good/);
    assert.ok(serial);
  });
});
