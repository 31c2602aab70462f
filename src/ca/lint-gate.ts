/**
 * Lint before signing: the preflights the CA hands to the builders
 * (src/pki/lint/lint-signer.ts). A certificate, CRL or OCSP response whose
 * throwaway-signed preview has an error-level finding of src/pki/lint is
 * refused before the CA key signs it: for a certificate a policyViolation
 * naming the rules (audited by the issuance workflow; no serial reaches the
 * inventory), for a CRL or OCSP response an internal error (nobody asked for
 * something wrong: the CA would have published a defect).
 */
import { RampartError } from '../core/errors.js';
import { lintCertificate, lintCrl, lintOcspResponse, type Finding, type ProfileKind } from '../pki/lint/index.js';
import type { Preflight } from '../pki/lint/lint-signer.js';
import { EKU } from './ca-profiles.js';

function errors(findings: Finding[]): Finding[] {
  return findings.filter((f) => f.severity === 'error');
}

function describe(found: Finding[]): string {
  return found.map((f) => `${f.id} [${f.citation}]: ${f.message}`).join('; ');
}

export function certificatePreflight(profile: ProfileKind): Preflight {
  return (der) => refuseCertificate(errors(lintCertificate(der, { profile })));
}

/** Throws the policyViolation for a certificate whose preview has these error-level findings (none: returns). */
export function refuseCertificate(found: Finding[]): void {
  if (found.length) {
    throw new RampartError('policyViolation', `the certificate was not signed: it would break ${describe(found)}`, {
      rule: 'lint', lint: found.map((f) => ({ id: f.id, citation: f.citation, message: f.message })),
    });
  }
}

export function crlPreflight(issuerCertDer?: Uint8Array): Preflight {
  return (der) => refuseCrl(errors(lintCrl(der, issuerCertDer)));
}

/** Throws for a CRL whose preview has these error-level findings (none: returns). */
export function refuseCrl(found: Finding[]): void {
  if (found.length) throw new RampartError('internal', `the CRL was not signed: it would break ${describe(found)}`);
}

export function ocspPreflight(): Preflight {
  return (der) => {
    const found = errors(lintOcspResponse(der));
    if (found.length) throw new RampartError('internal', `the OCSP response was not signed: it would break ${describe(found)}`);
  };
}

/** The lint profile of an end-entity certificate, from its extended key usages (names such as serverAuth, or OIDs). */
export function lintProfileOf(ekus: readonly string[]): ProfileKind {
  const has = (name: keyof typeof EKU): boolean => ekus.includes(name) || ekus.includes(EKU[name]);
  if (has('serverAuth')) return 'tls-server';
  if (has('clientAuth')) return 'tls-client';
  if (has('codeSigning')) return 'code-signing';
  if (has('emailProtection')) return 'email';
  return 'unknown';
}
