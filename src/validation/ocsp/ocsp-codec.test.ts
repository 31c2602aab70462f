import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as ocsp from '@peculiar/asn1-ocsp';
import { AlgorithmIdentifier, Extension, type Name } from '@peculiar/asn1-x509';
import { SoftwareKeyBackend } from '../../keys/software/software-backend.js';
import type { KeyAlgorithm, Signer } from '../../keys/key-backend.js';
import { buildCertificate, toPem, type KeyUsageName } from '../../pki/certificate-builder.js';
import { parseDn } from '../../pki/names.js';
import { OID } from '../../pki/algorithms.js';
import {
  buildOcspResponse, issuerHashes, ocspErrorResponse, parseOcspRequest, readOcspResponse,
  OcspMalformedError, type OcspCertStatus, type ParsedOcspRequest,
} from './ocsp-codec.js';

let dir = '';
let backend: SoftwareKeyBackend;
let caSigner: Signer;
let caDer: Uint8Array;
let responder: { signer: Signer; der: Uint8Array };
let rsaResponder: { signer: Signer; der: Uint8Array };
const caName = parseDn('CN=Rampart OCSP Test Root, O=Rampart');
// High bit set: the DER INTEGER needs a 00 octet that serialHex must not show.
const leafSerial = Buffer.concat([Buffer.from([0x00, 0x8f]), randomBytes(15)]);
const leaf2Serial = Buffer.concat([Buffer.from([0x41]), randomBytes(15)]);
const HOUR = 3600_000;

async function issue(subject: Name, key: Signer, serial: Uint8Array, keyUsage: KeyUsageName[], extra: { eku?: string[]; noCheck?: boolean } = {}): Promise<Uint8Array> {
  const now = Date.now();
  return buildCertificate({
    serial, subject, subjectSpki: key.spki, notBefore: new Date(now - HOUR), notAfter: new Date(now + 24 * HOUR),
    issuer: { name: caName, spki: caSigner.spki }, keyUsage, extKeyUsage: extra.eku, ocspNoCheck: extra.noCheck,
  }, caSigner);
}

async function makeResponder(alg: KeyAlgorithm, cn: string): Promise<{ signer: Signer; der: Uint8Array }> {
  const signer = await backend.generate(cn, alg);
  const der = await issue(parseDn(`CN=${cn}, O=Rampart`), signer, randomBytes(16).fill(0x11, 0, 1), ['digitalSignature'], { eku: ['1.3.6.1.5.5.7.3.9'], noCheck: true });
  return { signer, der };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-ocsp-'));
  backend = new SoftwareKeyBackend({ dir: join(dir, 'keys'), secret: Buffer.from('ocsp-test-secret') });
  caSigner = await backend.generate('root', 'ecdsa-p256');
  const now = Date.now();
  caDer = await buildCertificate({
    serial: Buffer.from([0x01, 0x02, 0x03]), subject: caName, subjectSpki: caSigner.spki,
    notBefore: new Date(now - HOUR), notAfter: new Date(now + 48 * HOUR), ca: {}, keyUsage: ['keyCertSign', 'cRLSign'],
  }, caSigner);
  responder = await makeResponder('ecdsa-p256', 'ocsp-ec');
  rsaResponder = await makeResponder('rsa-2048', 'ocsp-rsa');
  const leafKey = await backend.generate('leaf', 'ecdsa-p256');
  const leafDer = await issue(parseDn('CN=leaf.example'), leafKey, leafSerial, ['digitalSignature'], { eku: ['1.3.6.1.5.5.7.3.1'] });
  const leaf2Der = await issue(parseDn('CN=leaf2.example'), leafKey, leaf2Serial, ['digitalSignature']);
  writeFileSync(join(dir, 'ca.pem'), toPem(caDer));
  writeFileSync(join(dir, 'leaf.pem'), toPem(leafDer));
  writeFileSync(join(dir, 'leaf2.pem'), toPem(leaf2Der));
});

after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

/** Runs openssl in the temp dir (stderr merged: `openssl ocsp` reports verification there); never throws. */
function openssl(args: string[]): { code: number; out: string } {
  try {
    return { code: 0, out: execFileSync('sh', ['-c', 'exec openssl "$@" 2>&1', 'openssl', ...args], { cwd: dir, encoding: 'utf8' }) };
  } catch (e) {
    const err = e as { status?: number; stdout?: string };
    return { code: err.status ?? -1, out: err.stdout ?? '' };
  }
}

function makeRequest(name: string, args: string[]): { der: Buffer; parsed: ParsedOcspRequest } {
  const r = openssl(['ocsp', ...args, '-reqout', name]);
  assert.equal(r.code, 0, r.out);
  const der = readFileSync(join(dir, name));
  return { der, parsed: parseOcspRequest(der) };
}

function respond(name: string, parsed: ParsedOcspRequest, statuses: OcspCertStatus[], opts: { nonce?: Buffer | null; signer?: Signer; resp?: typeof responder } = {}): Promise<void> {
  const r = opts.resp ?? responder;
  // Non-zero milliseconds on purpose: the encoder must drop them.
  const now = new Date(Math.floor(Date.now() / 1000) * 1000 + 567);
  return buildOcspResponse({
    signer: opts.signer ?? r.signer, responderCertDer: r.der, producedAt: now,
    responses: parsed.requests.map((certId, i) => ({ certId, status: statuses[i]!, thisUpdate: new Date(now.getTime() - 60_000), nextUpdate: new Date(now.getTime() + HOUR) })),
    nonce: opts.nonce === null ? undefined : opts.nonce ?? parsed.nonce,
  }).then((der) => writeFileSync(join(dir, name), der));
}

test('parses an openssl SHA-1 request without nonce; hashes match openssl and issuerHashes', () => {
  const { parsed } = makeRequest('req-sha1.der', ['-issuer', 'ca.pem', '-cert', 'leaf.pem', '-no_nonce']);
  assert.equal(parsed.requests.length, 1);
  assert.equal(parsed.nonce, undefined);
  const [req] = parsed.requests;
  assert.equal(req!.hashAlgorithm, OID.sha1);
  assert.equal(req!.serialHex, leafSerial.subarray(1).toString('hex'));
  assert.match(req!.serialHex, /^8f[0-9a-f]{30}$/);
  const h = issuerHashes(caDer, 'sha1');
  assert.deepEqual(req!.issuerNameHash, h.nameHash);
  assert.deepEqual(req!.issuerKeyHash, h.keyHash);
  const text = openssl(['ocsp', '-reqin', 'req-sha1.der', '-req_text']).out;
  assert.match(text, new RegExp(`Issuer Name Hash: ${h.nameHash.toString('hex')}`, 'i'));
  assert.match(text, new RegExp(`Issuer Key Hash: ${h.keyHash.toString('hex')}`, 'i'));
});

test('good response to a SHA-1 request verifies with openssl', async () => {
  const { parsed } = makeRequest('req-good.der', ['-issuer', 'ca.pem', '-cert', 'leaf.pem', '-no_nonce']);
  await respond('resp-good.der', parsed, [{ type: 'good' }]);
  const r = openssl(['ocsp', '-respin', 'resp-good.der', '-issuer', 'ca.pem', '-cert', 'leaf.pem', '-CAfile', 'ca.pem', '-no_nonce', '-resp_text']);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /Response verify OK/);
  assert.match(r.out, /leaf\.pem: good/);
  assert.match(r.out, /Responder Id: [0-9A-F]{40}/);
  assert.doesNotMatch(r.out, /OCSP Nonce/);
});

test('the assembled response is byte for byte what @peculiar/asn1-ocsp encodes for the same response', async () => {
  const { parsed } = makeRequest('req-bytes.der', ['-issuer', 'ca.pem', '-cert', 'leaf.pem']);
  for (const [name, status] of [['bytes-good.der', { type: 'good' }], ['bytes-rev.der', { type: 'revoked', revokedAt: new Date(Date.now() - HOUR), reason: 1 }]] as const) {
    await respond(name, parsed, [status]);
    const der = new Uint8Array(readFileSync(join(dir, name)));
    const parsedResponse = AsnConvert.parse(der, ocsp.OCSPResponse);
    const basic = AsnConvert.parse(parsedResponse.responseBytes!.response.buffer, ocsp.BasicOCSPResponse);
    assert.equal(basic.certs?.length, 1);
    assert.deepEqual(new Uint8Array(AsnConvert.serialize(basic.certs![0]!)), responder.der);
    const again = new ocsp.OCSPResponse({
      responseStatus: ocsp.OCSPResponseStatus.successful,
      responseBytes: new ocsp.ResponseBytes({ responseType: ocsp.id_pkix_ocsp_basic, response: new OctetString(AsnConvert.serialize(basic)) }),
    });
    assert.deepEqual(new Uint8Array(AsnConvert.serialize(again)), der);
  }
});

test('revoked (keyCompromise) answer to a SHA-256 request echoes the nonce', async () => {
  const { parsed } = makeRequest('req-rev.der', ['-sha256', '-issuer', 'ca.pem', '-cert', 'leaf.pem']);
  assert.equal(parsed.requests[0]!.hashAlgorithm, OID.sha256);
  const h = issuerHashes(caDer, 'sha256');
  assert.deepEqual(parsed.requests[0]!.issuerNameHash, h.nameHash);
  assert.deepEqual(parsed.requests[0]!.issuerKeyHash, h.keyHash);
  assert.ok(parsed.nonce, 'openssl sends a nonce by default');
  assert.match(openssl(['ocsp', '-reqin', 'req-rev.der', '-req_text']).out.replace(/\s+/g, ''), new RegExp(`OCSPNonce:04${parsed.nonce.length.toString(16).padStart(2, '0')}${parsed.nonce.toString('hex')}`, 'i'));
  const revokedAt = new Date(Date.now() - 30 * 60_000);
  await respond('resp-rev.der', parsed, [{ type: 'revoked', revokedAt, reason: 1 }]);
  const r = openssl(['ocsp', '-reqin', 'req-rev.der', '-respin', 'resp-rev.der', '-CAfile', 'ca.pem', '-resp_text']);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /Response verify OK/);
  assert.doesNotMatch(r.out, /WARNING|Nonce Verify error/i);
  assert.match(r.out, /Cert Status: revoked/);
  assert.match(r.out, /Revocation Reason: keyCompromise \(0x1\)/);
  const s = openssl(['ocsp', '-respin', 'resp-rev.der', '-sha256', '-issuer', 'ca.pem', '-cert', 'leaf.pem', '-CAfile', 'ca.pem', '-no_nonce']);
  assert.equal(s.code, 0, s.out);
  assert.match(s.out, /leaf\.pem: revoked[\s\S]*Reason: keyCompromise/);
  const summary = readOcspResponse(readFileSync(join(dir, 'resp-rev.der')));
  assert.deepEqual(summary.nonce, parsed.nonce);
  assert.equal(summary.responses[0]!.status, 'revoked');
  assert.equal(summary.responses[0]!.certId.serialHex, parsed.requests[0]!.serialHex);
});

test('two CertIDs: good and unknown, GeneralizedTime without fractions', async () => {
  const { parsed } = makeRequest('req-two.der', ['-issuer', 'ca.pem', '-cert', 'leaf.pem', '-cert', 'leaf2.pem']);
  assert.equal(parsed.requests.length, 2);
  assert.equal(parsed.requests[1]!.serialHex, leaf2Serial.toString('hex'));
  await respond('resp-two.der', parsed, [{ type: 'good' }, { type: 'unknown' }]);
  const r = openssl(['ocsp', '-reqin', 'req-two.der', '-respin', 'resp-two.der', '-CAfile', 'ca.pem', '-resp_text']);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /Response verify OK/);
  assert.match(r.out, /Cert Status: good[\s\S]*Cert Status: unknown/);
  const s = openssl(['ocsp', '-respin', 'resp-two.der', '-issuer', 'ca.pem', '-cert', 'leaf.pem', '-cert', 'leaf2.pem', '-CAfile', 'ca.pem', '-no_nonce']);
  assert.match(s.out, /leaf\.pem: good/);
  assert.match(s.out, /leaf2\.pem: unknown/);
  const outer = openssl(['asn1parse', '-inform', 'DER', '-in', 'resp-two.der']).out;
  const basicAt = /^\s*(\d+):d=\d+\s+hl=\d+\s+l=\s*\d+\s+prim: OCTET STRING/m.exec(outer)?.[1];
  assert.ok(basicAt, outer);
  const asn = openssl(['asn1parse', '-inform', 'DER', '-in', 'resp-two.der', '-strparse', basicAt]).out;
  const times = [...asn.matchAll(/GENERALIZEDTIME\s*:(\S+)/g)].map((m) => m[1]!);
  assert.equal(times.length, 5, asn); // producedAt + 2 x (thisUpdate, nextUpdate)
  for (const t of times) assert.match(t, /^\d{14}Z$/);
});

test('openssl notices a missing or wrong nonce and a bad signature (the checks above can fail)', async () => {
  const { parsed } = makeRequest('req-n.der', ['-issuer', 'ca.pem', '-cert', 'leaf.pem']);
  await respond('resp-nonone.der', parsed, [{ type: 'good' }], { nonce: null });
  const missing = openssl(['ocsp', '-reqin', 'req-n.der', '-respin', 'resp-nonone.der', '-CAfile', 'ca.pem']);
  assert.match(missing.out, /WARNING: no nonce in response/);
  await respond('resp-wrong.der', parsed, [{ type: 'good' }], { nonce: randomBytes(16) });
  const wrong = openssl(['ocsp', '-reqin', 'req-n.der', '-respin', 'resp-wrong.der', '-CAfile', 'ca.pem']);
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.out, /Nonce Verify error/i);
  const s = responder.signer;
  const badSigner: Signer = { keyRef: s.keyRef, algorithm: s.algorithm, spki: s.spki, sign: (d) => s.sign(Buffer.concat([d, Buffer.from([0])])) };
  await respond('resp-badsig.der', parsed, [{ type: 'good' }], { signer: badSigner });
  const bad = openssl(['ocsp', '-reqin', 'req-n.der', '-respin', 'resp-badsig.der', '-CAfile', 'ca.pem']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.out, /Response Verify Failure/i);
});

test('RSA responder signature (sha256WithRSAEncryption) verifies', async () => {
  const { parsed } = makeRequest('req-rsa.der', ['-sha256', '-issuer', 'ca.pem', '-cert', 'leaf.pem']);
  await respond('resp-rsa.der', parsed, [{ type: 'revoked', revokedAt: new Date(Date.now() - HOUR), reason: 4 }], { resp: rsaResponder });
  const r = openssl(['ocsp', '-reqin', 'req-rsa.der', '-respin', 'resp-rsa.der', '-CAfile', 'ca.pem', '-resp_text']);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /Response verify OK/);
  assert.match(r.out, /Signature Algorithm: sha256WithRSAEncryption/);
  assert.match(r.out, /Revocation Reason: superseded \(0x4\)/);
});

test('the responder refuses a signer that does not match the responder certificate', async () => {
  const { parsed } = makeRequest('req-mismatch.der', ['-issuer', 'ca.pem', '-cert', 'leaf.pem', '-no_nonce']);
  await assert.rejects(respond('x.der', parsed, [{ type: 'good' }], { signer: rsaResponder.signer }), /not the responder certificate key/);
});

test('error responses are bare OCSPResponses that openssl reads', () => {
  const codes = { malformedRequest: 1, internalError: 2, tryLater: 3, sigRequired: 5, unauthorized: 6 } as const;
  for (const [name, code] of Object.entries(codes) as Array<[keyof typeof codes, number]>) {
    const der = ocspErrorResponse(name);
    assert.deepEqual([...der], [0x30, 0x03, 0x0a, 0x01, code]);
    writeFileSync(join(dir, 'err.der'), der);
    const r = openssl(['ocsp', '-respin', 'err.der', '-resp_text', '-noverify']);
    assert.match(r.out, new RegExp(`Responder Error: ${name.toLowerCase()} \\(${code}\\)`), r.out);
    assert.equal(readOcspResponse(der).status, name);
  }
  ocspErrorResponse('tryLater')[4] = 9;
  assert.equal(ocspErrorResponse('tryLater')[4], 3, 'callers get a copy');
});

/** A request built with the schema classes, for shapes openssl will not produce. */
function syntheticRequest(count: number, opts: { nonce?: Buffer; hashOid?: string } = {}): Uint8Array {
  const id = (i: number) => new ocsp.Request({
    reqCert: new ocsp.CertID({
      hashAlgorithm: new AlgorithmIdentifier({ algorithm: opts.hashOid ?? OID.sha1, parameters: null }),
      issuerNameHash: new OctetString(randomBytes(20)), issuerKeyHash: new OctetString(randomBytes(20)),
      serialNumber: new Uint8Array([0x10, i]).buffer,
    }),
  });
  const exts = opts.nonce ? [new Extension({ extnID: OID.ocspNonce, extnValue: new OctetString(AsnConvert.serialize(new OctetString(opts.nonce))) })] : undefined;
  return new Uint8Array(AsnConvert.serialize(new ocsp.OCSPRequest({
    tbsRequest: new ocsp.TBSRequest({ requestList: Array.from({ length: count }, (_, i) => id(i)), requestExtensions: exts }),
  })));
}

test('synthetic requests: boundaries that must pass', () => {
  assert.equal(parseOcspRequest(syntheticRequest(16)).requests.length, 16);
  assert.equal(parseOcspRequest(syntheticRequest(1, { nonce: randomBytes(32) })).nonce!.length, 32);
  assert.equal(parseOcspRequest(syntheticRequest(1, { nonce: randomBytes(1) })).nonce!.length, 1);
  assert.equal(parseOcspRequest(syntheticRequest(1)).requests[0]!.serialHex, '1000');
});

test('malformed requests throw OcspMalformedError', () => {
  const good = makeRequest('req-base.der', ['-issuer', 'ca.pem', '-cert', 'leaf.pem', '-no_nonce']).der;
  assert.ok(good[1]! < 0x80, 'short-form outer length expected');
  const sha384 = openssl(['ocsp', '-sha384', '-issuer', 'ca.pem', '-cert', 'leaf.pem', '-no_nonce', '-reqout', 'req-384.der']);
  assert.equal(sha384.code, 0, sha384.out);
  const cases: Record<string, Uint8Array> = {
    empty: new Uint8Array(0),
    garbage: Buffer.from('this is not an OCSP request at all'),
    random: randomBytes(200),
    truncated: good.subarray(0, good.length - 1),
    truncatedHalf: good.subarray(0, good.length >> 1),
    trailing: Buffer.concat([good, Buffer.from([0x00])]),
    trailingElement: Buffer.concat([good, Buffer.from([0x05, 0x00])]),
    longFormLength: Buffer.concat([Buffer.from([0x30, 0x81, good[1]!]), good.subarray(2)]),
    wrongOuterTag: Buffer.concat([Buffer.from([0x31]), good.subarray(1)]),
    sha384: readFileSync(join(dir, 'req-384.der')),
    md5Oid: syntheticRequest(1, { hashOid: '1.2.840.113549.2.5' }),
    zeroRequests: syntheticRequest(0),
    tooMany: syntheticRequest(17),
    nonce33: syntheticRequest(1, { nonce: randomBytes(33) }),
    nonceEmpty: syntheticRequest(1, { nonce: Buffer.alloc(0) }),
  };
  for (const [name, der] of Object.entries(cases)) {
    assert.throws(() => parseOcspRequest(der), OcspMalformedError, `case ${name} should be malformed`);
  }
  // A raw (non OCTET STRING wrapped) nonce is not RFC 8954.
  const raw = new ocsp.OCSPRequest({ tbsRequest: AsnConvert.parse(syntheticRequest(1), ocsp.OCSPRequest).tbsRequest });
  raw.tbsRequest.requestExtensions = [new Extension({ extnID: OID.ocspNonce, extnValue: new OctetString(randomBytes(16).fill(0x30, 0, 1)) })];
  assert.throws(() => parseOcspRequest(new Uint8Array(AsnConvert.serialize(raw))), OcspMalformedError);
});

test('an answer is signed in the background: never on the thread that answers OCSP', async () => {
  const { parsed } = makeRequest('req-bg.der', ['-issuer', 'ca.pem', '-cert', 'leaf.pem']);
  const s = responder.signer;
  const asked: Array<{ background?: boolean } | undefined> = [];
  const watching: Signer = { keyRef: s.keyRef, algorithm: s.algorithm, spki: s.spki, sign: (d, o) => { asked.push(o); return s.sign(d, o); } };
  await respond('resp-bg.der', parsed, [{ type: 'good' }], { signer: watching });
  assert.deepEqual(asked, [{ background: true }]);
  const r = openssl(['ocsp', '-reqin', 'req-bg.der', '-respin', 'resp-bg.der', '-CAfile', 'ca.pem']);
  assert.equal(r.code, 0, r.out);
});
