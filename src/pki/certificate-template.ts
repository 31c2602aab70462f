/**
 * The typed description of a certificate to build (certificate-builder.ts)
 * and the names of the key usages and extended key usages it may carry.
 */
import * as asn from '@peculiar/asn1-x509';

export type KeyUsageName = 'digitalSignature' | 'nonRepudiation' | 'keyEncipherment' | 'dataEncipherment' | 'keyAgreement' | 'keyCertSign' | 'cRLSign';

export const EKU_OIDS: Record<string, string> = {
  serverAuth: asn.id_kp_serverAuth,
  clientAuth: asn.id_kp_clientAuth,
  codeSigning: asn.id_kp_codeSigning,
  emailProtection: asn.id_kp_emailProtection,
  timeStamping: asn.id_kp_timeStamping,
  ocspSigning: asn.id_kp_OCSPSigning,
};

export interface SubjectAltNames {
  dns?: string[];
  ip?: string[];
  email?: string[];
  uri?: string[];
}

export interface CertificateTemplate {
  serial: Uint8Array;
  subject: asn.Name;
  subjectSpki: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** The issuer; omit for a self-signed certificate. */
  issuer?: { name: asn.Name; spki: Uint8Array };
  ca?: { pathLen?: number };
  keyUsage: KeyUsageName[];
  extKeyUsage?: string[];
  san?: SubjectAltNames;
  ocspUrls?: string[];
  caIssuersUrls?: string[];
  crlUrls?: string[];
  ocspNoCheck?: boolean;
  /** certificatePolicies policy OIDs (non-critical, RFC 5280 4.2.1.4), e.g. 2.23.140.1.2.1 or anyPolicy 2.5.29.32.0. */
  policies?: string[];
}

/** RFC 5280 method 1 key identifier: SHA-1 of the subjectPublicKey BIT STRING contents. */
