/**
 * The linter's entry points: lintCertificate, lintCrl, lintOcspResponse, and
 * guessProfile. Pure functions over DER bytes (no I/O); findings sorted by
 * severity (error, warn, notice) then rule id.
 */
import * as asn from '@peculiar/asn1-x509';
import { basicConstraintsRules } from './cert-basic-constraints.js';
import { commonNameRules } from './cert-common-name.js';
import { ekuRules } from './cert-eku.js';
import { extensionRules } from './cert-extensions.js';
import { keyIdentifierRules } from './cert-key-identifiers.js';
import { keyUsageRules } from './cert-key-usage.js';
import { policyRules } from './cert-policies.js';
import { publicKeyRules } from './cert-public-key.js';
import { sanRules } from './cert-san.js';
import { serialRules } from './cert-serial.js';
import { subjectRules } from './cert-subject.js';
import { urlRules } from './cert-urls.js';
import { validityRules } from './cert-validity.js';
import { versionRules } from './cert-version.js';
import { certificateInput, decodeExtensions, parseCertificate, type CertificateInput } from './certificate-input.js';
import { certificateInputFromElements, type CertificateElements } from './certificate-elements.js';
import { crlInput, type CrlInput } from './crl-input.js';
import { crlRules } from './crl-rules.js';
import { ocspInput, ocspRules, type OcspInput } from './ocsp-rules.js';
import { signatureRules } from './signature-algorithm.js';
import { runRules, type Finding, type LintContext, type ProfileKind, type Rule } from './types.js';
import { AsnConvert } from '@peculiar/asn1-schema';

export const CERTIFICATE_RULES: readonly Rule<CertificateInput>[] = [
  ...serialRules, ...validityRules, ...versionRules, ...signatureRules, ...sanRules, ...commonNameRules,
  ...keyUsageRules, ...basicConstraintsRules, ...ekuRules, ...keyIdentifierRules, ...urlRules, ...policyRules,
  ...extensionRules, ...publicKeyRules, ...subjectRules,
];
export const CRL_RULES: readonly Rule<CrlInput>[] = crlRules;
export const OCSP_RULES: readonly Rule<OcspInput>[] = ocspRules;

/** Lints a DER certificate for the given profile. Throws LintDecodeError when the bytes are not a certificate. */
export function lintCertificate(der: Uint8Array, context: LintContext | ProfileKind = { profile: 'unknown' }): Finding[] {
  const ctx = typeof context === 'string' ? { profile: context } : context;
  return runRules(CERTIFICATE_RULES, certificateInput(der, ctx));
}

/**
 * Lints a certificate from the elements its TBSCertificate was assembled
 * from (the CA's preflight of what it is about to sign: certificate-elements.ts).
 */
export function lintCertificateElements(c: CertificateElements, context: LintContext | ProfileKind = { profile: 'unknown' }): Finding[] {
  const ctx = typeof context === 'string' ? { profile: context } : context;
  return runRules(CERTIFICATE_RULES, certificateInputFromElements(c, ctx));
}

/** Lints a DER CRL; with the issuer's certificate, also the issuer name, AKI and cRLSign. */
export function lintCrl(der: Uint8Array, issuerCertDer?: Uint8Array): Finding[] {
  return runRules(CRL_RULES, crlInput(der, issuerCertDer));
}

/** Basic checks on a DER OCSPResponse. */
export function lintOcspResponse(der: Uint8Array): Finding[] {
  return runRules(OCSP_RULES, ocspInput(der));
}

/**
 * The profile a certificate says it has: a CA when basicConstraints asserts
 * cA (root when self-issued), else by extendedKeyUsage: serverAuth, then
 * OCSPSigning, clientAuth, codeSigning, emailProtection; 'unknown' otherwise.
 */
export function guessProfile(der: Uint8Array): ProfileKind {
  const cert = parseCertificate(der);
  const tbs = cert.tbsCertificate;
  const ext = decodeExtensions([...(tbs.extensions ?? [])]);
  if (ext.basicConstraints?.value.cA) {
    const same = Buffer.from(AsnConvert.serialize(tbs.issuer)).equals(Buffer.from(AsnConvert.serialize(tbs.subject)));
    return same ? 'root-ca' : 'subordinate-ca';
  }
  const ekus: string[] = ext.extKeyUsage ? [...ext.extKeyUsage.value] : [];
  if (ekus.includes(asn.id_kp_serverAuth)) return 'tls-server';
  if (ekus.includes(asn.id_kp_OCSPSigning)) return 'ocsp-signer';
  if (ekus.includes(asn.id_kp_clientAuth)) return 'tls-client';
  if (ekus.includes(asn.id_kp_codeSigning)) return 'code-signing';
  if (ekus.includes(asn.id_kp_emailProtection)) return 'email';
  return 'unknown';
}

/** One line per finding: "error e_id [citation] message". */
export function formatFindings(findings: Finding[]): string {
  return findings.map((f) => `${f.severity.padEnd(6)} ${f.id} [${f.citation}] ${f.message}`).join('\n');
}

export const hasErrors = (findings: Finding[]) => findings.some((f) => f.severity === 'error');
