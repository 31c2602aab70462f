import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';
import { signatureAlgorithm, algorithmDer } from './algorithms.js';
import type { CertificateTemplate } from './certificate-template.js';
import { buildExtensions } from './extensions.js';
import { parseDn } from './names.js';
import { encodeTbs } from './tbs-encoder.js';
import { layoutStats } from './tbs-layouts.js';
import { randomSerial } from '../core/serial.js';

const spkiOf = (k: KeyObject): Uint8Array => new Uint8Array(k.export({ type: 'spki', format: 'der' }));
const ec = spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
const ec2 = spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey);
const rsa = spkiOf(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey);

/** The whole structure encoded by @peculiar/asn1-x509, as certificates were built before templates. */
function reference(t: CertificateTemplate): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(new asn.TBSCertificate({
    version: asn.Version.v3, serialNumber: new Uint8Array(t.serial).buffer, signature: signatureAlgorithm('ecdsa-p256'),
    issuer: t.issuer?.name ?? t.subject, validity: new asn.Validity({ notBefore: t.notBefore, notAfter: t.notAfter }), subject: t.subject,
    subjectPublicKeyInfo: AsnConvert.parse(t.subjectSpki, asn.SubjectPublicKeyInfo), extensions: new asn.Extensions(buildExtensions(t)),
  })));
}

const issuer = { name: parseDn('CN=Issuing CA, O=Rampart, C=XX'), spki: ec2 };
const base: CertificateTemplate = {
  serial: randomSerial(), subject: parseDn('CN=a.example.test, O=Example'), subjectSpki: ec, notBefore: new Date('2026-12-06T00:00:00Z'), notAfter: new Date('2027-03-06T00:00:00Z'),
  issuer, keyUsage: ['digitalSignature'], extKeyUsage: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], san: { dns: ['a.example.test', 'b.example.test'], ip: ['192.0.2.1', '2001:db8::1'] },
  ocspUrls: ['http://127.0.0.1:1/ocsp'], caIssuersUrls: ['http://127.0.0.1:1/ca/x.crt'], crlUrls: ['http://127.0.0.1:1/crl/x.crl'], policies: ['2.23.140.1.2.1'],
};

const cases: Array<[string, CertificateTemplate]> = [
  ['TLS server leaf', base],
  ['the same profile again, other names, key and dates (shared parts reused)', { ...base, serial: randomSerial(), subject: parseDn('CN=c.example.test'), subjectSpki: rsa, san: { dns: ['c.example.test'] }, notAfter: new Date('2050-01-02T00:00:00Z') }],
  ['empty subject: subjectAltName critical', { ...base, subject: new asn.Name([]), san: { dns: ['d.example.test'], email: ['x@example.test'] } }],
  ['no subjectAltName, no URLs', { ...base, san: undefined, ocspUrls: undefined, caIssuersUrls: undefined, crlUrls: undefined, policies: undefined }],
  ['self-signed root', { ...base, issuer: undefined, ca: {}, keyUsage: ['keyCertSign', 'cRLSign'], extKeyUsage: undefined, san: undefined, subject: parseDn('CN=Root, C=XX') }],
  ['intermediate with pathLen 0 and anyPolicy', { ...base, ca: { pathLen: 0 }, keyUsage: ['keyCertSign', 'cRLSign', 'digitalSignature'], san: undefined, policies: ['2.5.29.32.0'] }],
  ['OCSP signer with ocsp-nocheck', { ...base, extKeyUsage: ['1.3.6.1.5.5.7.3.9'], ocspNoCheck: true, san: undefined, ocspUrls: undefined }],
];

for (const [name, t] of cases) {
  test(`encodes byte for byte what the full asn1-x509 structure gives: ${name}`, () => {
    assert.equal(Buffer.from(encodeTbs(t, algorithmDer('ecdsa-p256'))).toString('hex'), Buffer.from(reference(t)).toString('hex'));
  });
}

test('a TBSCertificate from a kept layout is byte for byte the full encoding, whatever the lengths of its parts', () => {
  const before = layoutStats();
  const keys = [ec, ec2, rsa];
  let n = 0;
  for (let i = 0; i < 400; i++) {
    const serial = randomSerial();
    // Serials of other lengths, with and without the high bit (an INTEGER's leading zero).
    const cut = serial.subarray(0, 1 + (i % serial.length));
    if (i % 3 === 0) cut[0] = cut[0]! | 0x80;
    const label = 'x'.repeat(1 + (i % 7));
    const dns = Array.from({ length: i % 4 }, (_, k) => `${label}${k}.example.test`);
    const t: CertificateTemplate = {
      ...base, serial: cut, subjectSpki: keys[i % 3]!,
      subject: i % 5 === 0 ? new asn.Name([]) : parseDn(`CN=${label}.example.test${i % 2 ? ', O=Example' : ''}`),
      san: dns.length ? { dns } : i % 5 === 0 ? { dns: ['only.example.test'] } : undefined,
      notBefore: new Date(Date.UTC(2026, 0, 1) + i * 1000),
      notAfter: i % 4 === 0 ? new Date(Date.UTC(2050, 0, 1) + i * 1000) : new Date(Date.UTC(2027, 0, 1) + i * 1000),
    };
    // Three times: a layout is kept the second time its lengths come, and the third is assembled from it.
    for (let k = 0; k < 3; k++) {
      assert.equal(Buffer.from(encodeTbs(t, algorithmDer('ecdsa-p256'))).toString('hex'), Buffer.from(reference(t)).toString('hex'), `case ${i}`);
      n++;
    }
  }
  const after = layoutStats();
  assert.ok(after.hits - before.hits >= n / 3, `layouts used for at least a third of ${n} encodings (${after.hits - before.hits})`);
});
