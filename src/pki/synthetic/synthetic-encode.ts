/**
 * Encodes a range of the synthetic inventory (synthetic-plan.ts): for each
 * index, the TBSCertificate (tbs-encoder.ts, from the issuing CA's leaf
 * template) and, for a revoked one, its CRL entry encoded as the revocation
 * path encodes it. Plain data in and out, so it runs in a PKI worker thread;
 * the signature is made by the caller, who holds the key.
 */
import * as asn from '@peculiar/asn1-x509';
import type { KeyAlgorithm } from '../../core/signing.js';
import { serialHex } from '../../core/serial.js';
import { algorithmDer } from '../algorithms.js';
import { encodeRevokedEntry } from '../crl-builder.js';
import { dnToString } from '../names.js';
import { encodeTbs } from '../tbs-encoder.js';
import type { CertificateTemplate } from '../certificate-template.js';
import { planCertificate, type SyntheticSpec } from './synthetic-plan.js';

export interface SyntheticRange {
  spec: SyntheticSpec;
  /** DER SubjectPublicKeyInfo of each shared subject key (spec.keyCount of them). */
  keys: Uint8Array[];
  algorithm: KeyAlgorithm;
  start: number;
  count: number;
}

export interface SyntheticTbs {
  serial: string;
  tbsDer: Uint8Array;
  subject: string;
  sans: string[];
  notBefore: number;
  notAfter: number;
  revokedAt: number | null;
  reason: number | null;
  crlEntry: Uint8Array | null;
}

const CN = '2.5.4.3';
const O = '2.5.4.10';
const rdn = (type: string, value: string): asn.RelativeDistinguishedName =>
  new asn.RelativeDistinguishedName([new asn.AttributeTypeAndValue({ type, value: new asn.AttributeValue({ utf8String: value }) })]);

/** `base` is the issuing CA's leaf template; serial, subject, key, validity and names are replaced per certificate. */
export function encodeSyntheticRange(base: CertificateTemplate, job: SyntheticRange): SyntheticTbs[] {
  const sigAlg = algorithmDer(job.algorithm);
  const out: SyntheticTbs[] = [];
  for (let i = job.start; i < job.start + job.count; i++) {
    const p = planCertificate(job.spec, i);
    const subject = new asn.Name(p.organization ? [rdn(O, p.organization), rdn(CN, p.commonName)] : [rdn(CN, p.commonName)]);
    const tbsDer = encodeTbs({
      ...base, serial: p.serial, subject, subjectSpki: job.keys[p.keyIndex]!, notBefore: p.notBefore, notAfter: p.notAfter, san: { dns: p.dns },
    }, sigAlg);
    const serial = serialHex(p.serial);
    const r = p.revocation;
    out.push({
      serial, tbsDer, subject: dnToString(subject), sans: p.dns, notBefore: p.notBefore.getTime(), notAfter: p.notAfter.getTime(),
      revokedAt: r ? r.at.getTime() : null, reason: r ? r.reason : null,
      crlEntry: r ? encodeRevokedEntry({ serialHex: serial, revokedAt: r.at, reason: r.reason }) : null,
    });
  }
  return out;
}
