/**
 * The profiles of the certificates the CA issues for itself, as data (the
 * end-entity profiles are configuration: `profiles` in config/schema.ts):
 * key usages, extended key usages, certificate policies and path length of
 * the root, of an issuing (subordinate) CA and of a delegated OCSP signer.
 */
import type { KeyUsageName } from '../pki/certificate-builder.js';

export interface CaCertificateProfile {
  keyUsage: KeyUsageName[];
  /** Extended key usage OIDs (absent: none, the certificate is not restricted). */
  extKeyUsage?: string[];
  /** certificatePolicies OIDs. */
  policies?: string[];
  pathLen?: number;
  ocspNoCheck?: boolean;
}

export const ANY_POLICY = '2.5.29.32.0';
/** What an issuing CA is for unless configured otherwise (hierarchy.intermediate.ekus). */
export const DEFAULT_ISSUING_EKUS = ['serverAuth', 'clientAuth'];
export const EKU = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  ocspSigning: '1.3.6.1.5.5.7.3.9',
} as const;

/** A self-signed root: no EKU and no policies (CA/B BR 7.1.2.1); it signs certificates, CRLs and (online) OCSP. */
export const ROOT_PROFILE: CaCertificateProfile = { keyUsage: ['keyCertSign', 'cRLSign', 'digitalSignature'] };

/**
 * An issuing CA: path length 0, keyCertSign + cRLSign (+ digitalSignature for
 * OCSP), restricted to the EKUs of the profiles it serves (CA/B BR
 * 7.1.2.10.6), certificatePolicies from the configuration (anyPolicy by
 * default, BR 7.1.2.10.5 for an affiliated CA).
 */
export function subordinateCaProfile(o: { ekus: string[]; policies: string[] }): CaCertificateProfile {
  return {
    keyUsage: ['keyCertSign', 'cRLSign', 'digitalSignature'], pathLen: 0,
    ...(o.ekus.length ? { extKeyUsage: o.ekus.map((e) => EKU[e as keyof typeof EKU] ?? e) } : {}),
    ...(o.policies.length ? { policies: [...o.policies] } : {}),
  };
}

/** A delegated OCSP signer (RFC 6960 4.2.2.2): id-kp-OCSPSigning, id-pkix-ocsp-nocheck, digitalSignature only. */
export const OCSP_SIGNER_PROFILE: CaCertificateProfile = { keyUsage: ['digitalSignature'], extKeyUsage: [EKU.ocspSigning], ocspNoCheck: true };
