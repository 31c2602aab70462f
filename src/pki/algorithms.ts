/** Signature algorithm identifiers for each key algorithm (RFC 5758, RFC 4055). */
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import type { KeyAlgorithm } from '../core/signing.js';

export const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  sha384WithRsa: '1.2.840.113549.1.1.12',
  ecPublicKey: '1.2.840.10045.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  p256: '1.2.840.10045.3.1.7',
  p384: '1.3.132.0.34',
  ocspNoCheck: '1.3.6.1.5.5.7.48.1.5',
  ocspNonce: '1.3.6.1.5.5.7.48.1.2',
  ocspBasic: '1.3.6.1.5.5.7.48.1.1',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
} as const;

export function signatureAlgorithm(alg: KeyAlgorithm): AlgorithmIdentifier {
  switch (alg) {
    case 'ecdsa-p256': return new AlgorithmIdentifier({ algorithm: OID.ecdsaWithSha256 });
    case 'ecdsa-p384': return new AlgorithmIdentifier({ algorithm: OID.ecdsaWithSha384 });
    case 'ed25519': throw new Error('Ed25519 keys are for SSH CAs only: X.509 certificates, CRLs and OCSP answers are signed with ECDSA or RSA');
    default:
      // RFC 4055: parameters MUST be NULL for sha256WithRSAEncryption.
      return new AlgorithmIdentifier({ algorithm: OID.sha256WithRsa, parameters: null });
  }
}

/** Re-encodes an AlgorithmIdentifier so that its parameters serialize as NULL where set to null. */
const algorithmDers = new Map<KeyAlgorithm, Uint8Array>();
export function algorithmDer(alg: KeyAlgorithm): Uint8Array {
  let d = algorithmDers.get(alg);
  if (!d) {
    d = new Uint8Array(AsnConvert.serialize(signatureAlgorithm(alg)));
    algorithmDers.set(alg, d);
  }
  return d;
}
