/**
 * assertLintClean: lints a certificate (or every CERTIFICATE / X509 CRL /
 * OCSP RESPONSE block of a PEM) with src/pki/lint and throws, listing the
 * findings, when any is an error. Returns all findings (warnings and notices
 * included) for callers that want to look further.
 */
import {
  decodeLintObjects, formatFindings, guessProfile, lintCertificate, lintCrl, lintOcspResponse,
  type Finding, type ProfileKind,
} from '../../src/pki/lint/index.js';

/**
 * @param derOrPem DER bytes, or PEM (string or bytes) with one or more blocks
 * @param profileKind the certificates' profile; default: guessed from each certificate
 *   (BR rules apply to tls-server)
 */
export function assertLintClean(derOrPem: Uint8Array | string, profileKind?: ProfileKind): Finding[] {
  const objects = decodeLintObjects(derOrPem);
  const all: Finding[] = [];
  const problems: string[] = [];
  objects.forEach((obj, i) => {
    let findings: Finding[];
    let what: string;
    if (obj.kind === 'certificate') {
      const profile = profileKind ?? guessProfile(obj.der);
      findings = lintCertificate(obj.der, { profile });
      what = `certificate #${i + 1} (profile ${profile})`;
    } else if (obj.kind === 'crl') {
      findings = lintCrl(obj.der);
      what = `CRL #${i + 1}`;
    } else {
      findings = lintOcspResponse(obj.der);
      what = `OCSP response #${i + 1}`;
    }
    all.push(...findings);
    if (findings.some((f) => f.severity === 'error')) problems.push(`${what}:\n${formatFindings(findings)}`);
  });
  if (problems.length) throw new Error(`lint errors:\n${problems.join('\n')}`);
  return all;
}
