/**
 * ACME (RFC 8555) protocol behaviour against a real node, with a raw JWS
 * client: the full order flow with every account key type, key rollover,
 * deactivation, order lists, EAB, revocation by account and by certificate
 * key, ARI, rate limits, wildcards over dns-01 and IP identifiers; and bad
 * input that must get the right problem type, never a 5xx, and change nothing.
 */
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startNode, tempDir, removeDir, type NodeProcess } from './helpers/node-process.js';
import { call, type ApiResponse } from './helpers/api-client.js';
import { freePort } from './helpers/ports.js';
import { mustOpenssl } from './helpers/openssl.js';
import { startDnsServer, type TestDnsServer } from './helpers/dns-server.js';
import { RawAcme, b64u, newKey, sign, type AccountKey } from './helpers/acme-jws-client.js';
import { calculateJwkThumbprint } from 'jose';
import { createHash } from 'node:crypto';

const URN = 'urn:ietf:params:acme:error:';

let node: NodeProcess;
let acme: RawAcme;
let ca: string;
let http01: Server;
const tokens = new Map<string, string>();
let dns: TestDnsServer;
let work: string;

function noServerError(r: ApiResponse): void {
  assert.ok(r.status < 500, `unexpected ${r.status}: ${JSON.stringify(r.body)}`);
}

function problem(r: ApiResponse, type: string, status?: number): void {
  noServerError(r);
  assert.equal(r.headers['content-type']?.toString().split(';')[0], 'application/problem+json', JSON.stringify(r.body));
  assert.equal(r.body.type, URN + type, JSON.stringify(r.body));
  if (status) assert.equal(r.status, status);
  assert.ok(r.headers['replay-nonce'], 'a problem carries a fresh nonce');
}

interface Account { key: AccountKey; kid: string }

async function account(alg: 'ES256' | 'ES384' | 'RS256' | 'EdDSA' = 'ES256'): Promise<Account> {
  const key = await newKey(alg);
  const r = await acme.signed(acme.dir.newAccount, key, { termsOfServiceAgreed: true, contact: ['mailto:ops@example.test'] });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return { key, kid: String(r.headers.location) };
}

function csrFor(names: string[], name: string, subj = '/'): { der: Buffer; keyPath: string } {
  const keyPath = join(work, `${name}.key`);
  const san = names.map((n) => (/^[0-9.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  const derPath = join(work, `${name}.csr.der`);
  mustOpenssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyPath, '-subj', subj, '-addext', `subjectAltName=${san}`, '-outform', 'DER', '-out', derPath]);
  return { der: readFileSync(derPath), keyPath };
}

async function keyAuth(a: Account, token: string): Promise<string> {
  return `${token}.${await calculateJwkThumbprint(a.key.jwk, 'sha256')}`;
}

/** Runs an order to a certificate: http-01 for dns/ip names, dns-01 for wildcards. */
async function obtain(a: Account, names: string[], tag: string, subj?: string): Promise<{ order: any; orderUrl: string; certPem: string; certDer: Buffer; keyPath: string }> {
  const identifiers = names.map((n) => ({ type: /^[0-9.]+$/.test(n) ? 'ip' : 'dns', value: n }));
  const r = await acme.signed(acme.dir.newOrder, a.key, { identifiers }, { kid: a.kid });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const orderUrl = String(r.headers.location);
  for (const authzUrl of r.body.authorizations as string[]) {
    const az = (await acme.signed(authzUrl, a.key, '', { kid: a.kid })).body;
    if (az.status === 'valid') continue;
    const type = az.wildcard ? 'dns-01' : 'http-01';
    const ch = az.challenges.find((c: any) => c.type === type);
    const ka = await keyAuth(a, ch.token);
    if (type === 'http-01') tokens.set(ch.token, ka);
    else dns.setTxt(`_acme-challenge.${az.identifier.value}`, [createHash('sha256').update(ka).digest('base64url')]);
    const cr = await acme.signed(ch.url, a.key, {}, { kid: a.kid });
    assert.equal(cr.status, 200, JSON.stringify(cr.body));
    const links = [cr.headers.link].flat().join(', ');
    assert.ok(links.includes(`<${authzUrl}>;rel="up"`) && links.includes('rel="index"'), links);
    for (let i = 0; i < 50; i++) {
      const cur = (await acme.signed(authzUrl, a.key, '', { kid: a.kid })).body;
      if (cur.status === 'valid') break;
      assert.equal(cur.status, 'pending', JSON.stringify(cur));
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  const { der, keyPath } = csrFor(names, tag, subj);
  const fin = await acme.signed(r.body.finalize, a.key, { csr: b64u(der) }, { kid: a.kid });
  assert.equal(fin.status, 200, JSON.stringify(fin.body));
  assert.equal(fin.body.status, 'valid');
  const cert = await acme.signed(fin.body.certificate, a.key, '', { kid: a.kid });
  assert.equal(cert.status, 200);
  assert.match(String(cert.headers['content-type']), /application\/pem-certificate-chain/);
  const certPem = String(cert.body);
  const first = certPem.split('-----END CERTIFICATE-----')[0]!.replace(/-----BEGIN CERTIFICATE-----/, '').replace(/\s+/g, '');
  return { order: fin.body, orderUrl, certPem, certDer: Buffer.from(first, 'base64'), keyPath };
}

async function counts(): Promise<{ total: number; revoked: number }> {
  return (await call(`${node.httpsUrl}/api/v1/status`, { ca })).body.certificates;
}

before(async () => {
  work = tempDir('rampart-acme-proto-');
  const httpPort = await freePort();
  http01 = createServer((req, res) => {
    const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '')?.[1];
    const v = token ? tokens.get(token) : undefined;
    res.writeHead(v ? 200 : 404, { 'content-type': 'text/plain' }).end(v ?? 'not found');
  });
  await new Promise<void>((r) => http01.listen(httpPort, '127.0.0.1', r));
  dns = await startDnsServer();
  node = await startNode({
    env: {
      RAMPART_ACME__VALIDATION__CONNECT_ADDRESS: '127.0.0.1',
      RAMPART_ACME__VALIDATION__HTTP_PORT: String(httpPort),
      RAMPART_ACME__VALIDATION__DNS_RESOLVERS: JSON.stringify([dns.address]),
      RAMPART_ACME__VALIDATION__TIMEOUT_SECONDS: '3',
      RAMPART_ACME__RATE_LIMITS__NEW_ORDERS_PER_ACCOUNT__COUNT: '6',
      RAMPART_ACME__MAX_PAYLOAD_BYTES: '4096',
      RAMPART_PROFILES__SERVER__ALLOW_IP_SANS: 'true',
    },
  });
  ca = (await call(`${node.httpUrl}/ca/bundle.pem`)).body;
  acme = await new RawAcme(`${node.httpsUrl}/acme/directory`, ca).init();
});

after(async () => {
  await node?.stop();
  http01?.close();
  await dns?.close();
  if (work) removeDir(work);
  if (node) removeDir(node.dataDir);
});

describe('ACME directory and nonces', () => {
  it('lists every resource and the meta fields', async () => {
    for (const k of ['newNonce', 'newAccount', 'newOrder', 'revokeCert', 'keyChange', 'renewalInfo']) assert.match(String((acme.dir as any)[k]), /^https:\/\/127\.0\.0\.1:\d+\/acme\//);
    assert.equal(acme.dir.meta.externalAccountRequired, false);
  });
  it('answers newNonce to HEAD (200) and GET (204) with a fresh nonce and no caching', async () => {
    const h = await call(acme.dir.newNonce, { method: 'HEAD', ca });
    const g = await call(acme.dir.newNonce, { ca });
    assert.equal(h.status, 200);
    assert.equal(g.status, 204);
    assert.notEqual(h.headers['replay-nonce'], g.headers['replay-nonce']);
    assert.equal(g.headers['cache-control'], 'no-store');
  });
});

describe('ACME accounts', () => {
  for (const alg of ['ES256', 'ES384', 'RS256', 'EdDSA'] as const) {
    it(`creates and fetches an account with an ${alg} key`, async () => {
      const a = await account(alg);
      const again = await acme.signed(acme.dir.newAccount, a.key, { onlyReturnExisting: true });
      assert.equal(again.status, 200);
      assert.equal(again.headers.location, a.kid);
      const got = await acme.signed(a.kid, a.key, '', { kid: a.kid });
      assert.equal(got.status, 200);
      assert.equal(got.body.status, 'valid');
      assert.deepEqual(got.body.contact, ['mailto:ops@example.test']);
    });
  }
  it('refuses onlyReturnExisting for an unknown key and bad contacts', async () => {
    problem(await acme.signed(acme.dir.newAccount, await newKey(), { onlyReturnExisting: true }), 'accountDoesNotExist', 400);
    problem(await acme.signed(acme.dir.newAccount, await newKey(), { contact: ['tel:+1555'] }), 'unsupportedContact', 400);
    problem(await acme.signed(acme.dir.newAccount, await newKey(), { contact: ['mailto:a@b.test?subject=x'] }), 'invalidContact', 400);
  });
  it('updates contacts, rolls the key over, and deactivates', async () => {
    const a = await account();
    const up = await acme.signed(a.kid, a.key, { contact: ['mailto:new@example.test'] }, { kid: a.kid });
    assert.deepEqual(up.body.contact, ['mailto:new@example.test']);
    const next = await newKey('ES256');
    const inner = await sign(next, { jwk: next.jwk, url: acme.dir.keyChange }, { account: a.kid, oldKey: a.key.jwk });
    const kc = await acme.signed(acme.dir.keyChange, a.key, inner, { kid: a.kid });
    assert.equal(kc.status, 200, JSON.stringify(kc.body));
    problem(await acme.signed(a.kid, a.key, '', { kid: a.kid }), 'malformed', 400); // the old key no longer verifies
    problem(await acme.signed(acme.dir.newAccount, a.key, { onlyReturnExisting: true }), 'accountDoesNotExist');
    const byNew = await acme.signed(acme.dir.newAccount, next, { onlyReturnExisting: true });
    assert.equal(byNew.headers.location, a.kid);
    const other = await account();
    const clash = await sign(other.key, { jwk: other.key.jwk, url: acme.dir.keyChange }, { account: a.kid, oldKey: next.jwk });
    const kc2 = await acme.signed(acme.dir.keyChange, next, clash, { kid: a.kid });
    problem(kc2, 'malformed', 409);
    assert.equal(kc2.headers.location, other.kid);
    const de = await acme.signed(a.kid, next, { status: 'deactivated' }, { kid: a.kid });
    assert.equal(de.body.status, 'deactivated');
    problem(await acme.signed(acme.dir.newOrder, next, { identifiers: [{ type: 'dns', value: 'x.example.test' }] }, { kid: a.kid }), 'unauthorized', 403);
  });
});

describe('ACME orders', () => {
  it('issues through http-01 and lists the account orders', async () => {
    const a = await account('RS256');
    const { certPem, order } = await obtain(a, ['www.order.example.test', 'order.example.test'], 'two-names');
    writeFileSync(join(work, 'chain.pem'), certPem);
    writeFileSync(join(work, 'ca.pem'), ca);
    assert.match(mustOpenssl(['verify', '-CAfile', join(work, 'ca.pem'), '-untrusted', join(work, 'chain.pem'), join(work, 'chain.pem')]), /OK/);
    assert.deepEqual(order.identifiers.map((i: any) => i.value).sort(), ['order.example.test', 'www.order.example.test']);
    const acc = (await acme.signed(a.kid, a.key, '', { kid: a.kid })).body;
    const list = await acme.signed(acc.orders, a.key, '', { kid: a.kid });
    assert.equal(list.body.orders.length, 1);
  });
  it('puts only the validated name in the subject, whatever else the CSR asks for (O, OU, C, ...)', async () => {
    const a = await account();
    const name = 'subject.order.example.test';
    const { certPem } = await obtain(a, [name], 'subject', `/C=US/ST=California/L=Mountain View/O=Google LLC/OU=Ops/CN=${name}/emailAddress=x@y.example`);
    const subject = mustOpenssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253'], certPem.split('-----END CERTIFICATE-----')[0] + '-----END CERTIFICATE-----\n').trim();
    assert.equal(subject, `subject=CN=${name}`);
  });

  it('issues a wildcard through dns-01 only, and an IP address through http-01', async () => {
    const a = await account('EdDSA');
    const r = await acme.signed(acme.dir.newOrder, a.key, { identifiers: [{ type: 'dns', value: '*.wild.example.test' }] }, { kid: a.kid });
    const az = (await acme.signed(r.body.authorizations[0], a.key, '', { kid: a.kid })).body;
    assert.equal(az.wildcard, true);
    assert.deepEqual(az.challenges.map((c: any) => c.type), ['dns-01']);
    assert.equal(az.identifier.value, 'wild.example.test');
    const w = await obtain(a, ['*.wild2.example.test'], 'wild');
    assert.match(mustOpenssl(['x509', '-noout', '-ext', 'subjectAltName'], w.certDer.toString('base64').replace(/(.{64})/g, '$1\n').replace(/^/, '-----BEGIN CERTIFICATE-----\n') + '\n-----END CERTIFICATE-----\n'), /DNS:\*\.wild2\.example\.test/);
    const ip = await obtain(a, ['127.0.0.1'], 'ip');
    assert.equal(ip.order.identifiers[0].type, 'ip');
  });
  it('fails the authorization and the order when the http-01 answer is wrong', async () => {
    const a = await account();
    const r = await acme.signed(acme.dir.newOrder, a.key, { identifiers: [{ type: 'dns', value: 'wrong.example.test' }] }, { kid: a.kid });
    const az = (await acme.signed(r.body.authorizations[0], a.key, '', { kid: a.kid })).body;
    const ch = az.challenges.find((c: any) => c.type === 'http-01');
    tokens.set(ch.token, 'not-the-key-authorization');
    const cr = await acme.signed(ch.url, a.key, {}, { kid: a.kid });
    assert.equal(cr.body.status, 'invalid');
    assert.equal(cr.body.error.type, URN + 'incorrectResponse');
    const o = await acme.signed(String(r.headers.location), a.key, '', { kid: a.kid });
    assert.equal(o.body.status, 'invalid');
    problem(await acme.signed(r.body.finalize, a.key, { csr: b64u(csrFor(['wrong.example.test'], 'wrong').der) }, { kid: a.kid }), 'orderNotReady', 403);
  });
  it('deactivates an authorization', async () => {
    const a = await account();
    const r = await acme.signed(acme.dir.newOrder, a.key, { identifiers: [{ type: 'dns', value: 'deact.example.test' }] }, { kid: a.kid });
    const d = await acme.signed(r.body.authorizations[0], a.key, { status: 'deactivated' }, { kid: a.kid });
    assert.equal(d.body.status, 'deactivated');
    assert.equal((await acme.signed(String(r.headers.location), a.key, '', { kid: a.kid })).body.status, 'invalid');
  });
  it('refuses identifiers outside the profile and of unknown types', async () => {
    const a = await account();
    problem(await acme.signed(acme.dir.newOrder, a.key, { identifiers: [{ type: 'dns', value: 'bad_name.example.test' }] }, { kid: a.kid }), 'rejectedIdentifier', 400);
    problem(await acme.signed(acme.dir.newOrder, a.key, { identifiers: [{ type: 'email', value: 'a@b.test' }] }, { kid: a.kid }), 'unsupportedIdentifier', 400);
    problem(await acme.signed(acme.dir.newOrder, a.key, { identifiers: [{ type: 'ip', value: '8.8.8.8' }] }, { kid: a.kid }), 'rejectedIdentifier', 400);
  });
  it('limits new orders per account with rateLimited and Retry-After', async () => {
    const a = await account();
    for (let i = 0; i < 6; i++) {
      const r = await acme.signed(acme.dir.newOrder, a.key, { identifiers: [{ type: 'dns', value: `rl${i}.example.test` }] }, { kid: a.kid });
      assert.equal(r.status, 201);
    }
    const r = await acme.signed(acme.dir.newOrder, a.key, { identifiers: [{ type: 'dns', value: 'rl6.example.test' }] }, { kid: a.kid });
    problem(r, 'rateLimited', 429);
    assert.ok(Number(r.headers['retry-after']) >= 1);
  });
});

describe('ACME revocation and renewal information', () => {
  it('revokes by the ordering account, refuses another account, and by the certificate key', async () => {
    const a = await account();
    const c1 = await obtain(a, ['rev1.example.test'], 'rev1');
    const stranger = await account();
    problem(await acme.signed(acme.dir.revokeCert, stranger.key, { certificate: b64u(c1.certDer) }, { kid: stranger.kid }), 'unauthorized', 403);
    problem(await acme.signed(acme.dir.revokeCert, a.key, { certificate: b64u(c1.certDer), reason: 7 }, { kid: a.kid }), 'badRevocationReason');
    const ok = await acme.signed(acme.dir.revokeCert, a.key, { certificate: b64u(c1.certDer), reason: 4 }, { kid: a.kid });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    problem(await acme.signed(acme.dir.revokeCert, a.key, { certificate: b64u(c1.certDer) }, { kid: a.kid }), 'alreadyRevoked');

    const c2 = await obtain(a, ['rev2.example.test'], 'rev2');
    const { importPKCS8, exportJWK } = await import('jose');
    const pkcs8 = mustOpenssl(['pkcs8', '-topk8', '-nocrypt', '-in', c2.keyPath]);
    const certKey = await importPKCS8(pkcs8, 'ES256', { extractable: true });
    const { createPublicKey } = await import('node:crypto');
    const pub = createPublicKey(readFileSync(c2.keyPath));
    const jwk = await exportJWK(pub);
    const byKey = await acme.signed(acme.dir.revokeCert, { alg: 'ES256', privateKey: certKey, jwk }, { certificate: b64u(c2.certDer) });
    assert.equal(byKey.status, 200, JSON.stringify(byKey.body));
    const someKey = await newKey();
    const c3 = await obtain(a, ['rev3.example.test'], 'rev3');
    problem(await acme.signed(acme.dir.revokeCert, someKey, { certificate: b64u(c3.certDer) }), 'unauthorized', 403);
  });
  it('answers renewalInfo and accepts replaces in a new order', async () => {
    const a = await account();
    const c = await obtain(a, ['ari.example.test'], 'ari');
    const x509 = await import('@peculiar/x509');
    const cert = new x509.X509Certificate(new Uint8Array(c.certDer));
    const aki = cert.extensions.find((e) => e.type === '2.5.29.35') as InstanceType<typeof x509.AuthorityKeyIdentifierExtension>;
    const serial = Buffer.from(cert.serialNumber, 'hex');
    const certId = `${Buffer.from(aki.keyId!, 'hex').toString('base64url')}.${serial.toString('base64url')}`;
    const ri = await call(`${acme.dir.renewalInfo}/${certId}`, { ca });
    assert.equal(ri.status, 200, JSON.stringify(ri.body));
    const start = Date.parse(ri.body.suggestedWindow.start);
    const end = Date.parse(ri.body.suggestedWindow.end);
    assert.ok(start > Date.now() && end > start && end < cert.notAfter.getTime());
    assert.ok(Number(ri.headers['retry-after']) > 0);
    const r = await acme.signed(acme.dir.newOrder, a.key, { identifiers: [{ type: 'dns', value: 'ari.example.test' }], replaces: certId }, { kid: a.kid });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.replaces, certId);
    problem(await acme.signed(acme.dir.newOrder, a.key, { identifiers: [{ type: 'dns', value: 'ari.example.test' }], replaces: certId }, { kid: a.kid }), 'alreadyReplaced', 409);
    const bad = await call(`${acme.dir.renewalInfo}/AAAA.AAAA`, { ca });
    assert.equal(bad.status, 404);
  });
});

describe('ACME bad input: the right problem, no 5xx, nothing changed', () => {
  it('refuses a replayed nonce', async () => {
    const a = await account();
    const nonce = await acme.nonce();
    const first = await acme.signed(a.kid, a.key, '', { kid: a.kid, nonce });
    assert.equal(first.status, 200);
    problem(await acme.signed(a.kid, a.key, '', { kid: a.kid, nonce }), 'badNonce', 400);
    problem(await acme.signed(a.kid, a.key, '', { kid: a.kid, nonce: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }), 'badNonce', 400);
  });
  it('refuses a wrong url header', async () => {
    const key = await newKey();
    problem(await acme.signed(acme.dir.newAccount, key, {}, { urlHeader: acme.dir.newOrder }), 'unauthorized', 403);
    problem(await acme.signed(acme.dir.newAccount, key, { onlyReturnExisting: true }), 'accountDoesNotExist');
  });
  it('refuses unsigned, badly signed and malformed JWS', async () => {
    const key = await newKey();
    const nonce = await acme.nonce();
    const header = b64u(Buffer.from(JSON.stringify({ alg: 'none', jwk: key.jwk, nonce, url: acme.dir.newAccount })));
    problem(await acme.post(acme.dir.newAccount, { protected: header, payload: b64u(Buffer.from('{}')), signature: '' }), 'badSignatureAlgorithm');
    const good = await sign(key, { jwk: key.jwk, nonce: await acme.nonce(), url: acme.dir.newAccount }, {});
    const sig = Buffer.from(good.signature!, 'base64url');
    sig[5]! ^= 0xff;
    problem(await acme.post(acme.dir.newAccount, { ...good, signature: b64u(sig) }), 'malformed', 400);
    problem(await acme.post(acme.dir.newAccount, { ...good, header: { alg: 'ES256' } }), 'malformed');
    problem(await acme.post(acme.dir.newAccount, 'not json at all'), 'malformed');
    problem(await acme.post(acme.dir.newAccount, { protected: 123, payload: '', signature: '' }), 'malformed');
    const r = await call(acme.dir.newAccount, { method: 'POST', json: good, ca });
    problem(r, 'malformed', 415);
    problem(await acme.signed(acme.dir.newAccount, key, { onlyReturnExisting: true }), 'accountDoesNotExist');
  });
  it('refuses an unknown account and a foreign kid', async () => {
    const key = await newKey();
    problem(await acme.signed(acme.dir.newOrder, key, { identifiers: [{ type: 'dns', value: 'a.example.test' }] }, { kid: acme.dir.newAccount.replace('new-account', 'account/doesnotexist') }), 'accountDoesNotExist');
    problem(await acme.signed(acme.dir.newOrder, key, { identifiers: [{ type: 'dns', value: 'a.example.test' }] }, { kid: 'https://elsewhere.test/acme/account/1' }), 'accountDoesNotExist');
  });
  it('audits failed request authentication: once per problem type and address a minute, with the count of the rest', async () => {
    // The tests above sent replayed and forged nonces, a wrong url, bad algorithms and signatures, unknown accounts.
    const rows = async (): Promise<Array<{ actor: string; source: string; channel: string; target: string; outcome: string; type: string; suppressed: number | null }>> => {
      const db = new Database(join(node.dataDir, 'rampart.db'), { readonly: true, fileMustExist: true });
      try {
        return db.prepare(`SELECT actor, source, channel, target, outcome, json_extract(details, '$.type') AS type, json_extract(details, '$.suppressedBefore') AS suppressed
          FROM audit_log WHERE action = 'acme.auth' ORDER BY seq`).all() as never;
      } finally {
        db.close();
      }
    };
    let got = await rows();
    for (let i = 0; i < 30 && !['badNonce', 'unauthorized', 'badSignatureAlgorithm', 'malformed', 'accountDoesNotExist'].every((t) => got.some((r) => r.type === t)); i++) {
      await new Promise((r) => setTimeout(r, 100));
      got = await rows();
    }
    for (const t of ['badNonce', 'unauthorized', 'badSignatureAlgorithm', 'malformed', 'accountDoesNotExist']) {
      const of = got.filter((r) => r.type === t);
      // One entry per type: every test here runs from 127.0.0.1 within the minute.
      assert.equal(of.length, 1, `${t}: ${JSON.stringify(got)}`);
      assert.equal(of[0]!.actor, 'anonymous');
      assert.equal(of[0]!.source, '127.0.0.1');
      assert.equal(of[0]!.channel, 'acme');
      assert.equal(of[0]!.outcome, 'denied');
      assert.match(of[0]!.target, /^POST \/acme\//);
    }
    // Two badNonce refusals and several accountDoesNotExist were sent: the others are counted, not written.
    const before = got.length;
    problem(await acme.signed(acme.dir.newOrder, await newKey(), {}, { kid: acme.dir.newAccount.replace('new-account', 'account/nobody') }), 'accountDoesNotExist');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await rows()).length, before, 'a repeated refusal within the minute writes no entry');
  });
  it('refuses an oversize payload', async () => {
    const a = await account();
    const before = await counts();
    const r = await acme.signed(acme.dir.newOrder, a.key, { identifiers: Array.from({ length: 200 }, (_, i) => ({ type: 'dns', value: `n${i}.big.example.test` })) }, { kid: a.kid });
    problem(r, 'malformed', 413);
    const list = await acme.signed((await acme.signed(a.kid, a.key, '', { kid: a.kid })).body.orders, a.key, '', { kid: a.kid });
    assert.equal(list.body.orders.length, 0);
    assert.deepEqual(await counts(), before);
  });
  it('refuses a CSR whose names are not the order identifiers, and the order stays ready', async () => {
    const a = await account();
    const names = ['csr.example.test'];
    const r = await acme.signed(acme.dir.newOrder, a.key, { identifiers: names.map((value) => ({ type: 'dns', value })) }, { kid: a.kid });
    const orderUrl = String(r.headers.location);
    const az = (await acme.signed(r.body.authorizations[0], a.key, '', { kid: a.kid })).body;
    const ch = az.challenges.find((c: any) => c.type === 'http-01');
    tokens.set(ch.token, await keyAuth(a, ch.token));
    await acme.signed(ch.url, a.key, {}, { kid: a.kid });
    assert.equal((await acme.signed(orderUrl, a.key, '', { kid: a.kid })).body.status, 'ready');
    const before = await counts();
    problem(await acme.signed(r.body.finalize, a.key, { csr: b64u(csrFor(['csr.example.test', 'other.example.test'], 'extra').der) }, { kid: a.kid }), 'badCSR', 400);
    problem(await acme.signed(r.body.finalize, a.key, { csr: b64u(csrFor(['other.example.test'], 'other').der) }, { kid: a.kid }), 'badCSR', 400);
    problem(await acme.signed(r.body.finalize, a.key, { csr: b64u(Buffer.from('not a csr')) }, { kid: a.kid }), 'badCSR', 400);
    problem(await acme.signed(r.body.finalize, a.key, { csr: 'has spaces!' }, { kid: a.kid }), 'badCSR', 400);
    assert.deepEqual(await counts(), before);
    assert.equal((await acme.signed(orderUrl, a.key, '', { kid: a.kid })).body.status, 'ready');
    const fin = await acme.signed(r.body.finalize, a.key, { csr: b64u(csrFor(names, 'right').der) }, { kid: a.kid });
    assert.equal(fin.body.status, 'valid');
  });
  it("refuses access to another account's order, authorization and certificate", async () => {
    const a = await account();
    const b = await account();
    const c = await obtain(a, ['mine.example.test'], 'mine');
    problem(await acme.signed(c.orderUrl, b.key, '', { kid: b.kid }), 'malformed', 404);
    problem(await acme.signed(c.order.authorizations[0], b.key, '', { kid: b.kid }), 'malformed', 404);
    problem(await acme.signed(c.order.certificate, b.key, '', { kid: b.kid }), 'malformed', 404);
    problem(await acme.signed(a.kid, b.key, '', { kid: b.kid }), 'unauthorized', 403);
  });
  it('answers a plain GET of a resource with 405 and unknown paths with 404', async () => {
    const r = await call(`${acme.dir.newOrder.replace('new-order', 'order/x')}`, { ca });
    problem(r, 'malformed', 405);
    problem(await call(acme.dir.newOrder.replace('new-order', 'nothing-here'), { ca }), 'malformed', 404);
  });
});

describe('ACME external account binding', () => {
  let eabNode: NodeProcess;
  let eabAcme: RawAcme;
  before(async () => {
    eabNode = await startNode({ env: { RAMPART_ACME__EXTERNAL_ACCOUNT_REQUIRED: 'true' } });
  });
  after(async () => { await eabNode?.stop(); if (eabNode) removeDir(eabNode.dataDir); });

  it('requires a binding, accepts a key once, refuses a revoked key', async () => {
    const eabCa = (await call(`${eabNode.httpUrl}/ca/bundle.pem`)).body;
    eabAcme = await new RawAcme(`${eabNode.httpsUrl}/acme/directory`, eabCa).init();
    assert.equal(eabAcme.dir.meta.externalAccountRequired, true);
    const key = await newKey();
    problem(await eabAcme.signed(eabAcme.dir.newAccount, key, {}), 'externalAccountRequired');
    const created = await call(`${eabNode.httpsUrl}/api/v1/acme/eab`, { method: 'POST', json: { description: 'team a' }, token: eabNode.adminToken!, ca: eabCa });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { kid, hmacKey } = created.body;
    const { FlattenedSign } = await import('jose');
    const binding = async (k: typeof key, mac: string, keyId: string) => new FlattenedSign(new TextEncoder().encode(JSON.stringify(k.jwk)))
      .setProtectedHeader({ alg: 'HS256', kid: keyId, url: eabAcme.dir.newAccount }).sign(Buffer.from(mac, 'base64url'));
    problem(await eabAcme.signed(eabAcme.dir.newAccount, key, { externalAccountBinding: await binding(key, b64u(Buffer.alloc(32, 1)), kid) }), 'unauthorized');
    const ok = await eabAcme.signed(eabAcme.dir.newAccount, key, { externalAccountBinding: await binding(key, hmacKey, kid) });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    const key2 = await newKey();
    problem(await eabAcme.signed(eabAcme.dir.newAccount, key2, { externalAccountBinding: await binding(key2, hmacKey, kid) }), 'unauthorized');
    const second = await call(`${eabNode.httpsUrl}/api/v1/acme/eab`, { method: 'POST', json: {}, token: eabNode.adminToken!, ca: eabCa });
    const del = await call(`${eabNode.httpsUrl}/api/v1/acme/eab/${second.body.kid}`, { method: 'DELETE', token: eabNode.adminToken!, ca: eabCa });
    assert.equal(del.status, 200);
    problem(await eabAcme.signed(eabAcme.dir.newAccount, key2, { externalAccountBinding: await binding(key2, second.body.hmacKey, second.body.kid) }), 'unauthorized');
  });
});

describe('ACME rate limits per source address and registered domain', () => {
  let rl: NodeProcess;
  let rlAcme: RawAcme;
  let rlCa: string;
  before(async () => {
    rl = await startNode({
      env: {
        RAMPART_ACME__RATE_LIMITS__NEW_ACCOUNTS_PER_IP__COUNT: '2',
        RAMPART_ACME__RATE_LIMITS__CERTIFICATES_PER_REGISTERED_DOMAIN__COUNT: '1',
        RAMPART_ACME__RATE_LIMITS__REQUESTS_PER_IP__COUNT: '60',
        RAMPART_ACME__RATE_LIMITS__REQUESTS_PER_IP__WINDOW_SECONDS: '3600',
        RAMPART_ACME__VALIDATION__CONNECT_ADDRESS: '127.0.0.1',
        RAMPART_ACME__VALIDATION__HTTP_PORT: String((http01.address() as { port: number }).port),
      },
    });
    rlCa = (await call(`${rl.httpUrl}/ca/bundle.pem`)).body;
    rlAcme = await new RawAcme(`${rl.httpsUrl}/acme/directory`, rlCa).init();
  });
  after(async () => { await rl?.stop(); if (rl) removeDir(rl.dataDir); });

  it('limits new accounts per address, certificates per registered domain, then all requests per address', async () => {
    const keys = [await newKey(), await newKey(), await newKey()];
    const kids: string[] = [];
    for (const k of keys.slice(0, 2)) {
      const r = await rlAcme.signed(rlAcme.dir.newAccount, k, {});
      assert.equal(r.status, 201);
      kids.push(String(r.headers.location));
    }
    const third = await rlAcme.signed(rlAcme.dir.newAccount, keys[2]!, {});
    problem(third, 'rateLimited', 429);
    assert.ok(Number(third.headers['retry-after']) >= 1);
    assert.equal((await rlAcme.signed(rlAcme.dir.newAccount, keys[2]!, { onlyReturnExisting: true })).body.type, URN + 'accountDoesNotExist', 'nothing was created');

    // One certificate for limited.test; a second order under the same registered domain is refused.
    const a = { key: keys[0]!, kid: kids[0]! };
    const r = await rlAcme.signed(rlAcme.dir.newOrder, a.key, { identifiers: [{ type: 'dns', value: 'www.limited.test' }] }, { kid: a.kid });
    const az = (await rlAcme.signed(r.body.authorizations[0], a.key, '', { kid: a.kid })).body;
    const ch = az.challenges.find((c: any) => c.type === 'http-01');
    tokens.set(ch.token, await keyAuth(a, ch.token));
    assert.equal((await rlAcme.signed(ch.url, a.key, {}, { kid: a.kid })).body.status, 'valid');
    const fin = await rlAcme.signed(r.body.finalize, a.key, { csr: b64u(csrFor(['www.limited.test'], 'limited').der) }, { kid: a.kid });
    assert.equal(fin.body.status, 'valid');
    problem(await rlAcme.signed(rlAcme.dir.newOrder, a.key, { identifiers: [{ type: 'dns', value: 'api.limited.test' }] }, { kid: a.kid }), 'rateLimited', 429);
    const other = await rlAcme.signed(rlAcme.dir.newOrder, a.key, { identifiers: [{ type: 'dns', value: 'www.unlimited.test' }] }, { kid: a.kid });
    assert.equal(other.status, 201, 'another registered domain is not limited');

    // Every request counts towards requestsPerIp (60 per hour): the budget runs out.
    let limited: ApiResponse | null = null;
    for (let i = 0; i < 70 && !limited; i++) {
      const x = await call(rlAcme.dir.newNonce, { method: 'HEAD', ca: rlCa });
      if (x.status === 429) limited = x;
      else assert.equal(x.status, 200);
    }
    assert.ok(limited, 'requestsPerIp never answered 429');
    assert.ok(Number(limited.headers['retry-after']) >= 1);
  });
});
