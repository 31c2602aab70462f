import { Certificate } from '@peculiar/asn1-x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import { keyIdentifier } from '../pki/certificate-builder.js';

/** A stable, readable issuer id: kind prefix plus the first 8 hex digits of the key identifier. */
export function issuerId(prefix: 'root' | 'int' | 'ocsp', spki: Uint8Array, notBefore: Date): string {
  const ski = keyIdentifier(spki).toString('hex').slice(0, 10);
  return `${prefix}-${ski}-${notBefore.getTime().toString(36)}`;
}

/**
 * The id of a CA known only by its certificate (an offline root, an imported
 * intermediate): from its key and encoded notBefore, so the offline host and
 * every node derive the same id (and so the same CRL and CA URLs).
 */
export function issuerIdOfCertificate(prefix: 'root' | 'int', certDer: Uint8Array): string {
  const tbs = AsnConvert.parse(certDer, Certificate).tbsCertificate;
  return issuerId(prefix, new Uint8Array(AsnConvert.serialize(tbs.subjectPublicKeyInfo)), tbs.validity.notBefore.getTime());
}
