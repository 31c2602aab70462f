/**
 * The certificate of an issuing (intermediate) CA, signed by a root: used by
 * `rampart ca rotate` (online root) and `rampart root sign` (offline root).
 * BasicConstraints CA with a path length, keyUsage keyCertSign + cRLSign,
 * SKI/AKI, and the URLs where relying parties find the root's certificate,
 * its CRL and (online roots only) OCSP.
 */
import { Certificate, type Name } from '@peculiar/asn1-x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import { randomSerial, serialHex } from '../core/serial.js';
import type { Signer } from '../keys/key-backend.js';
import { buildCertificate, type KeyUsageName } from '../pki/certificate-builder.js';
import type { CaCertificateProfile } from './ca-profiles.js';
import { certificatePreflight } from './lint-gate.js';

export interface SubordinateCaRequest {
  /** The signing CA's own certificate (its subject becomes the issuer name, byte for byte). */
  issuerCertDer: Uint8Array;
  issuerSigner: Signer;
  subject: Name;
  spki: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  pathLen?: number;
  keyUsage?: KeyUsageName[];
  /** EKUs and certificatePolicies of the issuing CA (ca-profiles.ts subordinateCaProfile). */
  profile?: Pick<CaCertificateProfile, 'extKeyUsage' | 'policies'>;
  urls?: { ocsp?: string; caIssuers?: string; crl?: string };
}

export interface SignedSubordinateCa {
  der: Uint8Array;
  serial: string;
}

export async function signSubordinateCa(r: SubordinateCaRequest): Promise<SignedSubordinateCa> {
  const issuer = AsnConvert.parse(r.issuerCertDer, Certificate).tbsCertificate;
  if (r.notAfter > issuer.validity.notAfter.getTime()) {
    throw new Error(`the intermediate would outlive its root: not after ${r.notAfter.toISOString()} is later than the root's ${issuer.validity.notAfter.getTime().toISOString()}`);
  }
  if (Buffer.compare(Buffer.from(AsnConvert.serialize(issuer.subjectPublicKeyInfo)), Buffer.from(r.issuerSigner.spki)) !== 0) {
    throw new Error('the signing key does not belong to the issuing CA certificate');
  }
  const pathLen = r.pathLen ?? 0;
  if (!Number.isInteger(pathLen) || pathLen < 0 || pathLen > 8) throw new Error(`path length must be a whole number from 0 to 8 (got ${pathLen})`);
  const serial = randomSerial();
  const der = await buildCertificate({
    serial, subject: r.subject, subjectSpki: r.spki, notBefore: r.notBefore, notAfter: r.notAfter,
    issuer: { name: issuer.subject, spki: r.issuerSigner.spki }, ca: { pathLen },
    keyUsage: r.keyUsage ?? ['keyCertSign', 'cRLSign'],
    extKeyUsage: r.profile?.extKeyUsage, policies: r.profile?.policies,
    ocspUrls: r.urls?.ocsp ? [r.urls.ocsp] : undefined,
    caIssuersUrls: r.urls?.caIssuers ? [r.urls.caIssuers] : undefined,
    crlUrls: r.urls?.crl ? [r.urls.crl] : undefined,
  }, r.issuerSigner, certificatePreflight('subordinate-ca'));
  return { der, serial: serialHex(serial) };
}
