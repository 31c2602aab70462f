/**
 * Certificate templates for the encoder's and the linter's tests: a TLS
 * server leaf issued by a P-384 CA, and the i-th of a series of varied ones
 * (serial lengths with and without the high bit, empty and filled subjects,
 * 0-3 DNS names, UTCTime and GeneralizedTime) whose element lengths repeat,
 * so that kept layouts come into play. Used only by *.test.ts files.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import * as asn from '@peculiar/asn1-x509';
import type { CertificateTemplate } from './certificate-template.js';
import { parseDn } from './names.js';
import { randomSerial } from '../core/serial.js';

const spkiOf = (k: KeyObject): Uint8Array => new Uint8Array(k.export({ type: 'spki', format: 'der' }));
export const ec = spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
export const ec2 = spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey);
export const rsa = spkiOf(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey);

export const issuer = { name: parseDn('CN=Issuing CA, O=Rampart, C=XX'), spki: ec2 };
export const base: CertificateTemplate = {
  serial: randomSerial(), subject: parseDn('CN=a.example.test, O=Example'), subjectSpki: ec, notBefore: new Date('2026-12-06T00:00:00Z'), notAfter: new Date('2027-03-06T00:00:00Z'),
  issuer, keyUsage: ['digitalSignature'], extKeyUsage: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], san: { dns: ['a.example.test', 'b.example.test'], ip: ['192.0.2.1', '2001:db8::1'] },
  ocspUrls: ['http://127.0.0.1:1/ocsp'], caIssuersUrls: ['http://127.0.0.1:1/ca/x.crt'], crlUrls: ['http://127.0.0.1:1/crl/x.crl'], policies: ['2.23.140.1.2.1'],
};

/**
 * The i-th varied template. `cnOutsideSans` (every 6th with a commonName
 * among no DNS name) and `shortValidity` (a 2-month validity instead of a
 * year) are what the linter's test varies on top.
 */
export function variedTemplate(i: number, o: { cnOutsideSans?: boolean; shortValidity?: boolean } = {}): CertificateTemplate {
  const serial = randomSerial();
  // Serials of other lengths, with and without the high bit (an INTEGER's leading zero).
  const cut = serial.subarray(0, 1 + (i % serial.length));
  if (i % 3 === 0) cut[0] = cut[0]! | 0x80;
  const label = 'x'.repeat(1 + (i % 7));
  const dns = Array.from({ length: i % 4 }, (_, k) => `${label}${k}.example.test`);
  const cn = o.cnOutsideSans ? `${label}${i % 6 === 0 ? '.elsewhere' : '0'}.example.test` : `${label}.example.test`;
  return {
    ...base, serial: cut, subjectSpki: [ec, ec2, rsa][i % 3]!,
    subject: i % 5 === 0 ? new asn.Name([]) : parseDn(`CN=${cn}${i % 2 ? ', O=Example' : ''}`),
    san: dns.length ? { dns } : i % 5 === 0 ? { dns: ['only.example.test'] } : undefined,
    notBefore: new Date(Date.UTC(2026, 0, 1) + i * 1000),
    notAfter: i % 4 === 0 ? new Date(Date.UTC(2050, 0, 1) + i * 1000) : new Date(Date.UTC(o.shortValidity ? 2026 : 2027, o.shortValidity ? 2 : 0, 1) + i * 1000),
  };
}
