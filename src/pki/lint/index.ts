/**
 * A certificate, CRL and OCSP response linter in the spirit of zlint and
 * pkilint, over @peculiar/asn1-x509 / asn1-ocsp structures (pure, no I/O).
 *
 * Why our own: zlint (Go) and pkilint (Python) cannot be installed here (no
 * Go module proxy or PyPI access), and npm has no maintained X.509 linter.
 * Checked on npm (registry.npmjs.org): `npm search x509 lint` and
 * `npm search certificate linter` (the search endpoint answers 404 through
 * this registry); `npm view` zlint, pkilint, x509lint, x509-lint, certlint:
 * all 404 (no such packages). The offline npm package list holds X.509
 * parsers (@peculiar/x509, @fidm/x509, @root/x509, x509, @hazae41/x509,
 * js-x509-utils...) but no linter.
 *
 * Layout: types.ts (rule model, runner), certificate-input.ts / crl-input.ts
 * (decode once), der-views.ts (what the typed parse normalizes away, read
 * with asn1js), one file per topic of rules (cert-*.ts, crl-rules.ts,
 * ocsp-rules.ts), lint.ts (entry points and rule lists).
 */
export {
  CERTIFICATE_RULES, CRL_RULES, OCSP_RULES, formatFindings, guessProfile, hasErrors, lintCertificate, lintCertificateElements, lintCrl, lintOcspResponse,
} from './lint.js';
export type { CertificateElements } from './certificate-elements.js';
export { decodeLintObjects, detectKind, type LintObject, type LintObjectKind } from './inputs.js';
export {
  LintDecodeError, PROFILE_KINDS, isProfileKind, sortFindings,
  type Finding, type LintContext, type ProfileKind, type Rule, type RuleSource, type Severity,
} from './types.js';
