/** Extension-level rules (RFC 5280 4.2). */
import * as asn from '@peculiar/asn1-x509';
import { OID } from '../algorithms.js';
import type { CertificateInput } from './certificate-input.js';
import type { Rule } from './types.js';

/** Extensions this linter (and RFC 5280 / RFC 6960 path validation) understands. */
const KNOWN_CERT_EXTENSIONS = new Set<string>([
  asn.id_ce_basicConstraints, asn.id_ce_keyUsage, asn.id_ce_extKeyUsage, asn.id_ce_subjectAltName, asn.id_ce_issuerAltName,
  asn.id_ce_authorityKeyIdentifier, asn.id_ce_subjectKeyIdentifier, asn.id_pe_authorityInfoAccess, asn.id_pe_subjectInfoAccess,
  asn.id_ce_cRLDistributionPoints, asn.id_ce_freshestCRL, asn.id_ce_certificatePolicies, asn.id_ce_policyMappings,
  asn.id_ce_policyConstraints, asn.id_ce_inhibitAnyPolicy, asn.id_ce_nameConstraints, asn.id_ce_subjectDirectoryAttributes,
  OID.ocspNoCheck,
]);

export function duplicateOids(extensions: asn.Extension[]): string[] {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const e of extensions) (seen.has(e.extnID) ? dup : seen).add(e.extnID);
  return [...dup];
}

export const extensionRules: Rule<CertificateInput>[] = [
  {
    id: 'e_ext_duplicate', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.2',
    description: 'no extension appears more than once',
    check: (c) => duplicateOids(c.extensions).map((oid) => `extension ${oid} appears more than once`),
  },
  {
    id: 'e_ext_undecodable', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.2',
    description: 'each known extension value decodes as its ASN.1 type',
    check: (c) => c.ext.undecodable.map((u) => `extension ${u.oid} does not decode: ${u.error}`),
  },
  {
    id: 'w_ext_unknown_critical', severity: 'warn', source: 'rfc5280', citation: 'RFC 5280 4.2',
    description: 'critical extensions are ones relying parties understand (an unrecognized critical extension makes them reject the certificate)',
    check: (c) => c.extensions.filter((e) => e.critical && !KNOWN_CERT_EXTENSIONS.has(e.extnID)).map((e) => `unrecognized critical extension ${e.extnID}`),
  },
];
