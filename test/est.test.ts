/**
 * EST (RFC 7030) against a real node with curl and openssl as the client:
 * cacerts (certs-only CMS whose chain `openssl verify` accepts), csrattrs
 * (`openssl asn1parse`), simpleenroll with an API token over basic auth
 * (a base64 PKCS#10 made by `openssl req`), simplereenroll with the issued
 * certificate over mutual TLS (curl --cert/--key), a label mapped to
 * another profile; then bad input, each a 4xx with nothing stored (the
 * inventory is counted before and after) and the refusal audited.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call } from './helpers/api-client.js';
import { CERTS_ONLY, estClient, serialOfPem, type EstClient } from './helpers/est-client.js';
import { mustOpenssl } from './helpers/openssl.js';
import { startTestNode, type TestNode } from './helpers/running-node.js';

describe('EST (RFC 7030) with curl and openssl', { timeout: 180_000 }, () => {
  let node: TestNode;
  let token: string;
  let auditorToken: string;
  let caFile: string;
  let est: string;
  const f = (name: string): string => node.file(name);

  let c: EstClient;
  const makeRequest = (name: string, subj: string, san?: string) => c.makeRequest(name, subj, san);
  const post = (path: string, o: Parameters<EstClient['post']>[1]) => c.post(`${est}${path}`, o);
  const get = (path: string) => c.get(`${est}${path}`);
  const certsOf = (body: string, name: string) => c.certsOf(body, name);
  const inventory = async (): Promise<number> => {
    const r = await call(`${node.httpsUrl}/api/v1/certificates?limit=1`, { token: node.adminToken!, ca: node.ca });
    assert.equal(r.status, 200);
    return r.body.total as number;
  };
  const subjectOf = (pemFile: string): string => mustOpenssl(['x509', '-in', pemFile, '-noout', '-subject', '-nameopt', 'RFC2253']).trim();
  const serialOf = serialOfPem;
  const ocsp = (pemFile: string): string => mustOpenssl(['ocsp', '-issuer', intermediate, '-CAfile', root, '-cert', pemFile, '-url', `${node.httpUrl}/ocsp`]);

  let root: string;
  let intermediate: string;
  let leaf: { pem: string; key: string };

  before(async () => {
    node = await startTestNode({ prefix: 'rampart-est-', env: { RAMPART_EST__LABELS: JSON.stringify({ servers: 'server' }) } });
    caFile = f('bundle.pem');
    writeFileSync(caFile, node.ca);
    est = `${node.httpsUrl}/.well-known/est`;
    c = estClient(node.dir, caFile);
    const mk = async (role: string) => {
      const r = await call(`${node.httpsUrl}/api/v1/tokens`, { token: node.adminToken!, ca: node.ca, json: { name: `est-${role}`, role } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.token as string;
    };
    token = await mk('issuer');
    auditorToken = await mk('auditor');
  });
  after(async () => {
    await node?.close();
  });

  it('cacerts: certs-only CMS in base64; its chain verifies with openssl verify', () => {
    const r = get('/cacerts');
    assert.equal(r.status, 200, r.body + r.err);
    assert.equal(r.headers['content-type'], CERTS_ONLY);
    assert.equal(r.headers['content-transfer-encoding'], 'base64');
    const certs = certsOf(r.body, 'cacerts');
    assert.equal(certs.length, 2, 'issuing CA and root');
    writeFileSync(f('int.pem'), certs[0]!);
    writeFileSync(f('root.pem'), certs[1]!);
    root = f('root.pem');
    intermediate = f('int.pem');
    assert.match(mustOpenssl(['verify', '-CAfile', root, intermediate]), /int\.pem: OK/);
    assert.equal(mustOpenssl(['x509', '-in', root, '-noout', '-fingerprint', '-sha256']),
      mustOpenssl(['x509', '-noout', '-fingerprint', '-sha256'], node.ca.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/)![0]), 'the root is the node\'s root');
  });

  it('csrattrs: base64 DER CsrAttrs that openssl asn1parse reads (ecPublicKey P-256, ecdsa-with-SHA256)', () => {
    const r = get('/csrattrs');
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['content-type'], 'application/csrattrs');
    assert.equal(r.headers['content-transfer-encoding'], 'base64');
    writeFileSync(f('csrattrs.b64'), r.body);
    mustOpenssl(['base64', '-d', '-in', f('csrattrs.b64'), '-out', f('csrattrs.der')]);
    const parsed = mustOpenssl(['asn1parse', '-inform', 'DER', '-in', f('csrattrs.der')]);
    assert.match(parsed, /OBJECT\s+:id-ecPublicKey[\s\S]*SET[\s\S]*OBJECT\s+:prime256v1[\s\S]*OBJECT\s+:ecdsa-with-SHA256/);
  });

  it('simpleenroll: an API token over basic auth, a base64 PKCS#10 by openssl; the certificate verifies', async () => {
    const before = await inventory();
    const req = makeRequest('device', '/CN=device-1.example.test');
    const r = post('/simpleenroll', { dataFile: req.b64, basic: `est:${token}` });
    assert.equal(r.status, 200, r.body + r.err);
    assert.equal(r.headers['content-type'], CERTS_ONLY);
    assert.equal(r.headers['content-transfer-encoding'], 'base64');
    const certs = certsOf(r.body, 'enrolled');
    assert.equal(certs.length, 1);
    leaf = { pem: f('device.pem'), key: req.key };
    writeFileSync(leaf.pem, certs[0]!);
    assert.match(mustOpenssl(['verify', '-CAfile', root, '-untrusted', intermediate, '-purpose', 'sslclient', leaf.pem]), /device\.pem: OK/);
    assert.equal(subjectOf(leaf.pem), 'subject=CN=device-1.example.test');
    assert.equal(await inventory(), before + 1);
    const rec = await call(`${node.httpsUrl}/api/v1/certificates/${serialOf(leaf.pem)}`, { token: node.adminToken!, ca: node.ca });
    assert.equal(rec.status, 200);
    assert.equal(rec.body.profile, 'client');
    // The same issuance path as the REST API: the node's OCSP responder knows the certificate.
    assert.match(ocsp(leaf.pem), /device\.pem: good/);
    // The same token as a bearer token works too (clients that cannot do basic auth).
    const again = post('/simpleenroll', { dataFile: makeRequest('device-b', '/CN=device-b').b64, headers: { authorization: `Bearer ${token}` } });
    assert.equal(again.status, 200, again.body);
  });

  it('simplereenroll: the issued certificate over mutual TLS renews itself (new key, same subject)', async () => {
    const before = await inventory();
    const req = makeRequest('device-re', '/CN=device-1.example.test');
    const r = post('/simplereenroll', { dataFile: req.b64, cert: { cert: leaf.pem, key: leaf.key } });
    assert.equal(r.status, 200, r.body + r.err);
    assert.equal(r.headers['content-type'], CERTS_ONLY);
    const certs = certsOf(r.body, 'renewed');
    writeFileSync(f('renewed.pem'), certs[0]!);
    assert.match(mustOpenssl(['verify', '-CAfile', root, '-untrusted', intermediate, f('renewed.pem')]), /OK/);
    assert.equal(subjectOf(f('renewed.pem')), subjectOf(leaf.pem));
    assert.notEqual(serialOf(f('renewed.pem')), serialOf(leaf.pem));
    assert.equal(await inventory(), before + 1);
    const audit = new Database(join(node.dataDir, 'rampart.db'), { readonly: true, fileMustExist: true });
    try {
      const row = audit.prepare("SELECT actor, channel, details FROM audit_log WHERE action = 'certificate.issue' AND outcome = 'success' ORDER BY seq DESC LIMIT 1").get() as { actor: string; channel: string; details: string };
      assert.equal(row.actor, `est-cert:${serialOf(leaf.pem)}`);
      assert.equal(row.channel, 'est');
      assert.equal(JSON.parse(row.details).renews, serialOf(leaf.pem));
    } finally {
      audit.close();
    }
  });

  it('a label maps to its profile: /.well-known/est/servers/ issues under "server"', async () => {
    const attrs = get('/servers/csrattrs');
    assert.equal(attrs.status, 200);
    const req = makeRequest('web', '/CN=web.example.test', 'DNS:web.example.test');
    const r = post('/servers/simpleenroll', { dataFile: req.b64, basic: `est:${token}` });
    assert.equal(r.status, 200, r.body);
    writeFileSync(f('web.pem'), certsOf(r.body, 'web')[0]!);
    assert.match(mustOpenssl(['verify', '-CAfile', root, '-untrusted', intermediate, '-purpose', 'sslserver', f('web.pem')]), /OK/);
    const rec = await call(`${node.httpsUrl}/api/v1/certificates/${serialOf(f('web.pem'))}`, { token: node.adminToken!, ca: node.ca });
    assert.equal(rec.body.profile, 'server');
    assert.equal(get('/nolabel/cacerts').status, 404);
  });

  it('bad input: each a 4xx, nothing stored, refusals audited', async () => {
    const good = makeRequest('bad-good', '/CN=device-1.example.test');
    // A CSR whose signature fails: the last byte of its DER (inside the signature) flipped.
    const der = readFileSync(good.der);
    der[der.length - 1] ^= 0x01;
    writeFileSync(f('badsig.der'), der);
    mustOpenssl(['base64', '-in', f('badsig.der'), '-out', f('badsig.b64')]);
    writeFileSync(f('notb64.txt'), 'this is not base64!!\n');
    writeFileSync(f('pem.txt'), mustOpenssl(['req', '-inform', 'DER', '-in', good.der]));
    // A foreign certificate: self-signed by openssl, same subject as the enrolled one.
    mustOpenssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('foreign.key'),
      '-subj', '/CN=device-1.example.test', '-days', '1', '-out', f('foreign.pem')]);
    // A certificate to revoke, then present.
    const victim = makeRequest('victim', '/CN=victim.example.test');
    const v = post('/simpleenroll', { dataFile: victim.b64, basic: `est:${token}` });
    assert.equal(v.status, 200, v.body);
    writeFileSync(f('victim.pem'), certsOf(v.body, 'victim')[0]!);
    const rv = await call(`${node.httpsUrl}/api/v1/certificates/${serialOf(f('victim.pem'))}/revoke`, { token: node.adminToken!, ca: node.ca, json: { reason: 'keyCompromise' } });
    assert.equal(rv.status, 200, JSON.stringify(rv.body));
    assert.match(ocsp(f('victim.pem')), /victim\.pem: revoked/);
    const victimRe = makeRequest('victim-re', '/CN=victim.example.test');
    const other = makeRequest('other-subject', '/CN=somebody-else.example.test');

    const before = await inventory();
    const cases: Array<[string, () => ReturnType<typeof post>, number, RegExp?]> = [
      ['wrong content type', () => post('/simpleenroll', { dataFile: good.b64, basic: `est:${token}`, contentType: 'application/json' }), 415],
      ['bad base64', () => post('/simpleenroll', { dataFile: f('notb64.txt'), basic: `est:${token}` }), 400, /base64/],
      ['PEM instead of base64 DER', () => post('/simpleenroll', { dataFile: f('pem.txt'), basic: `est:${token}` }), 400, /PEM/],
      ['CSR signature fails', () => post('/simpleenroll', { dataFile: f('badsig.b64'), basic: `est:${token}` }), 400, /signature/i],
      ['no credentials', () => post('/simpleenroll', { dataFile: good.b64 }), 401],
      ['made-up token', () => post('/simpleenroll', { dataFile: good.b64, basic: `est:rmp_000000000000_${'A'.repeat(32)}` }), 401],
      ['token without cert.issue', () => post('/simpleenroll', { dataFile: good.b64, basic: `est:${auditorToken}` }), 403],
      ['re-enroll without a client certificate', () => post('/simplereenroll', { dataFile: good.b64, basic: `est:${token}` }), 401, /client certificate/],
      ['re-enroll with a foreign certificate', () => post('/simplereenroll', { dataFile: good.b64, cert: { cert: f('foreign.pem'), key: f('foreign.key') } }), 401, /not issued by this CA/],
      ['re-enroll with a revoked certificate', () => post('/simplereenroll', { dataFile: victimRe.b64, cert: { cert: f('victim.pem'), key: victim.key } }), 401, /revoked/],
      ['re-enroll with another subject', () => post('/simplereenroll', { dataFile: other.b64, cert: { cert: leaf.pem, key: leaf.key } }), 400, /subject/],
      ['re-enroll under a label of another profile', () => post('/servers/simplereenroll', { dataFile: good.b64, cert: { cert: leaf.pem, key: leaf.key } }), 403, /profile/],
      ['unknown label', () => post('/nolabel/simpleenroll', { dataFile: good.b64, basic: `est:${token}` }), 404],
    ];
    for (const [what, run, status, detail] of cases) {
      const r = run();
      assert.equal(r.status, status, `${what}: ${r.body} ${r.err}`);
      assert.match(r.headers['content-type'] ?? '', /^application\/problem\+json/, what);
      if (detail) assert.match(JSON.parse(r.body).detail, detail, what);
      if (status === 401 && what.startsWith('no credentials')) assert.match(r.headers['www-authenticate'] ?? '', /^Basic realm=/);
    }
    assert.equal(await inventory(), before, 'nothing was stored');
    const db = new Database(join(node.dataDir, 'rampart.db'), { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare("SELECT action, outcome FROM audit_log WHERE channel = 'est' AND outcome = 'denied'").all() as Array<{ action: string }>;
      const actions = rows.map((r) => r.action);
      assert.ok(actions.filter((a) => a === 'auth.client-cert').length >= 3, `client-certificate refusals audited: ${actions.join(', ')}`);
      assert.ok(actions.includes('auth.token') && actions.includes('auth.permission'), actions.join(', '));
      assert.ok(actions.filter((a) => a === 'certificate.issue').length >= 2, `CSR and identity refusals audited: ${actions.join(', ')}`);
    } finally {
      db.close();
    }
  });
});

describe('EST is rate-limited like the REST API', { timeout: 120_000 }, () => {
  let node: TestNode;
  before(async () => {
    node = await startTestNode({ prefix: 'rampart-est-limits-', env: { RAMPART_LIMITS__API__PER_TOKEN__RATE_PER_SECOND: '0.001', RAMPART_LIMITS__API__PER_TOKEN__BURST: '3' } });
  });
  after(async () => {
    await node?.close();
  });

  it('one token\'s bucket, whether the token comes as basic auth or bearer: 429 with Retry-After once it is empty', async () => {
    const t = await call(`${node.httpsUrl}/api/v1/tokens`, { token: node.adminToken!, ca: node.ca, json: { name: 'est-limited', role: 'issuer' } });
    assert.equal(t.status, 201);
    writeFileSync(node.file('bundle.pem'), node.ca);
    const c = estClient(node.dir, node.file('bundle.pem'));
    const url = `${node.httpsUrl}/.well-known/est/simpleenroll`;
    for (let i = 0; i < 3; i++) {
      const r = c.post(url, { dataFile: c.makeRequest(`l${i}`, `/CN=l${i}`).b64, basic: `est:${t.body.token}` });
      assert.equal(r.status, 200, r.body);
    }
    const limited = c.post(url, { dataFile: c.makeRequest('l3', '/CN=l3').b64, headers: { authorization: `Bearer ${t.body.token}` } });
    assert.equal(limited.status, 429, limited.body);
    assert.match(limited.headers['retry-after'] ?? '', /^\d+$/);
    assert.equal(JSON.parse(limited.body).limit, 'perToken');
  });
});
