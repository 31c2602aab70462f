/** Signature algorithm rules shared by certificates, CRLs and OCSP responses. */
import type * as asn from '@peculiar/asn1-x509';
import type { CertificateInput } from './certificate-input.js';
import { bytesEqual, hex } from './der-views.js';
import type { Rule } from './types.js';

/** Signature algorithms whose hash is broken for signatures (MD2, MD5, SHA-1). */
export const WEAK_SIGNATURE_ALGORITHMS: Record<string, string> = {
  '1.2.840.113549.1.1.2': 'md2WithRSAEncryption',
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.2.840.10040.4.3': 'dsa-with-sha1',
  '1.3.14.3.2.29': 'sha1WithRSASignature (OIW)',
};

export function weakSignatureProblem(alg: asn.AlgorithmIdentifier, what: string): string[] {
  const name = WEAK_SIGNATURE_ALGORITHMS[alg.algorithm];
  return name ? [`${what} is signed with ${name}`] : [];
}

export function algorithmMismatch(inner: Uint8Array, outer: Uint8Array, where: string): string[] {
  return bytesEqual(inner, outer) ? [] : [`${where} signature AlgorithmIdentifier ${hex(inner)} differs from the outer signatureAlgorithm ${hex(outer)}`];
}

export const signatureRules: Rule<CertificateInput>[] = [
  {
    id: 'e_signature_algorithm_mismatch', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.1.1.2',
    description: 'tbsCertificate.signature is the same AlgorithmIdentifier as signatureAlgorithm',
    check: (c) => algorithmMismatch(c.raw.tbsSignatureAlgorithm, c.raw.signatureAlgorithm, 'tbsCertificate'),
  },
  {
    id: 'e_signature_hash_weak', severity: 'error', source: 'br', citation: 'BR 7.1.3.2',
    description: 'the signature does not use MD2, MD5 or SHA-1',
    check: (c) => weakSignatureProblem(c.cert.signatureAlgorithm, 'certificate'),
  },
];
