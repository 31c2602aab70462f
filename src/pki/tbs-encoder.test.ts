import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';
import { signatureAlgorithm, algorithmDer } from './algorithms.js';
import type { CertificateTemplate } from './certificate-template.js';
import { buildExtensions } from './extensions.js';
import { parseDn } from './names.js';
import { encodeTbs, tbsLayoutStats } from './tbs-encoder.js';
import { randomSerial } from '../core/serial.js';
import { base, ec, rsa, variedTemplate } from './template-fixtures.js';

/** The whole structure encoded by @peculiar/asn1-x509, as certificates were built before templates. */
function reference(t: CertificateTemplate): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(new asn.TBSCertificate({
    version: asn.Version.v3, serialNumber: new Uint8Array(t.serial).buffer, signature: signatureAlgorithm('ecdsa-p256'),
    issuer: t.issuer?.name ?? t.subject, validity: new asn.Validity({ notBefore: t.notBefore, notAfter: t.notAfter }), subject: t.subject,
    subjectPublicKeyInfo: AsnConvert.parse(t.subjectSpki, asn.SubjectPublicKeyInfo), extensions: new asn.Extensions(buildExtensions(t)),
  })));
}

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
  const before = tbsLayoutStats();
  let n = 0;
  for (let i = 0; i < 400; i++) {
    const t = variedTemplate(i);
    // Three times: a layout is kept the second time its lengths come, and the third is assembled from it.
    for (let k = 0; k < 3; k++) {
      assert.equal(Buffer.from(encodeTbs(t, algorithmDer('ecdsa-p256'))).toString('hex'), Buffer.from(reference(t)).toString('hex'), `case ${i}`);
      n++;
    }
  }
  const after = tbsLayoutStats();
  assert.ok(after.hits - before.hits >= n / 3, `layouts used for at least a third of ${n} encodings (${after.hits - before.hits})`);
});
