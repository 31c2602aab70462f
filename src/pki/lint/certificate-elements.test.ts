/**
 * The CA's preflight lints a certificate from the elements its
 * TBSCertificate was assembled from (certificate-elements.ts): the input the
 * rules read, and so their findings, must be exactly what a parse of the
 * whole certificate gives, for every shape of certificate and for faulty
 * ones (findings that fire), including TBSCertificates from kept layouts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as asn from '@peculiar/asn1-x509';
import { algorithmDer } from '../algorithms.js';
import { assembleCertificate } from '../certificate-builder.js';
import type { CertificateTemplate } from '../certificate-template.js';
import { parseDn } from '../names.js';
import { base, rsa, variedTemplate } from '../template-fixtures.js';
import { encodeTbsElements } from '../tbs-encoder.js';
import { randomSerial } from '../../core/serial.js';
import { certificateInput } from './certificate-input.js';
import { certificateInputFromElements, type CertificateElements } from './certificate-elements.js';
import { lintCertificate, lintCertificateElements } from './lint.js';
import { lintSigner } from './lint-signer.js';
import { LintDecodeError, type ProfileKind } from './types.js';

async function elementsOf(t: CertificateTemplate): Promise<CertificateElements> {
  const signatureAlgorithm = algorithmDer('ecdsa-p256');
  const { der: tbsDer, elements } = encodeTbsElements(t, signatureAlgorithm);
  const signature = await lintSigner('ecdsa-p256').sign(tbsDer);
  return { der: assembleCertificate(tbsDer, 'ecdsa-p256', signature), elements, tbsDer, signatureAlgorithm, signature };
}

const cases: Array<[string, CertificateTemplate, ProfileKind]> = [
  ['TLS server leaf', base, 'tls-server'],
  ['RSA key, one name, long validity (findings)', { ...base, subject: parseDn('CN=c.example.test'), subjectSpki: rsa, san: { dns: ['c.example.test'] }, notAfter: new Date('2050-01-02T00:00:00Z') }, 'tls-server'],
  ['empty subject, e-mail name', { ...base, subject: new asn.Name([]), san: { dns: ['d.example.test'], email: ['x@example.test'] } }, 'tls-server'],
  ['commonName not among the names (finding)', { ...base, subject: parseDn('CN=elsewhere.example.test'), san: { dns: ['e.example.test'] } }, 'tls-server'],
  ['no subjectAltName, no URLs (findings)', { ...base, san: undefined, ocspUrls: undefined, caIssuersUrls: undefined, crlUrls: undefined, policies: undefined }, 'tls-server'],
  ['self-signed root', { ...base, issuer: undefined, ca: {}, keyUsage: ['keyCertSign', 'cRLSign'], extKeyUsage: undefined, san: undefined, subject: parseDn('CN=Root, C=XX') }, 'root-ca'],
  ['intermediate with pathLen 0 and anyPolicy', { ...base, ca: { pathLen: 0 }, keyUsage: ['keyCertSign', 'cRLSign', 'digitalSignature'], san: undefined, policies: ['2.5.29.32.0'] }, 'subordinate-ca'],
  ['a CA linted as a leaf (findings)', { ...base, ca: {}, keyUsage: ['keyCertSign'], san: undefined }, 'tls-server'],
  ['OCSP signer with ocsp-nocheck', { ...base, extKeyUsage: ['1.3.6.1.5.5.7.3.9'], ocspNoCheck: true, san: undefined, ocspUrls: undefined }, 'ocsp-signer'],
];

async function same(t: CertificateTemplate, profile: ProfileKind, label: string): Promise<number> {
  const c = await elementsOf(t);
  const whole = certificateInput(c.der, { profile });
  const fromElements = certificateInputFromElements(c, { profile });
  assert.deepStrictEqual(fromElements, whole, `${label}: the input from the elements is the whole parse's`);
  const findings = lintCertificate(c.der, { profile });
  assert.deepStrictEqual(lintCertificateElements(c, { profile }), findings, `${label}: the same findings`);
  return findings.filter((f) => f.severity === 'error').length;
}

for (const [name, t, profile] of cases) {
  test(`a certificate linted from its elements reads and finds what the whole parse does: ${name}`, async () => {
    // Twice: the second time its shared elements come from what was decoded the first time.
    await same(t, profile, name);
    await same({ ...t, serial: randomSerial() }, profile, `${name}, again`);
  });
}

test('random certificates, from layouts too: the same input and findings as the whole parse, and the faulty ones do have findings', async () => {
  let withErrors = 0;
  for (let i = 0; i < 150; i++) {
    const t = variedTemplate(i, { cnOutsideSans: true, shortValidity: true });
    for (let k = 0; k < 3; k++) if ((await same(t, 'tls-server', `case ${i}.${k}`)) > 0 && k === 0) withErrors++;
  }
  assert.ok(withErrors > 20 && withErrors < 150, `some random certificates have error findings and some none (${withErrors} of 150)`);
});

test('an element that does not decode is a LintDecodeError, like a certificate that does not parse', async () => {
  const c = await elementsOf(base);
  const broken = [...c.elements];
  broken[5] = new Uint8Array([0x30, 0x05, 0x31, 0x03, 0x30, 0x01]);
  assert.throws(() => certificateInputFromElements({ ...c, elements: broken }, { profile: 'tls-server' }), LintDecodeError);
  assert.throws(() => certificateInputFromElements({ ...c, elements: c.elements.slice(0, 5) }, { profile: 'tls-server' }), LintDecodeError);
});
