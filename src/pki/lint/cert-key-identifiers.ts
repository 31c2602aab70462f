/** authorityKeyIdentifier and subjectKeyIdentifier rules (RFC 5280 4.2.1.1, 4.2.1.2). */
import * as asn from '@peculiar/asn1-x509';
import type { CertificateInput } from './certificate-input.js';
import type { Rule } from './types.js';

const present = (c: CertificateInput, oid: string) => c.extensions.some((e) => e.extnID === oid);

export const keyIdentifierRules: Rule<CertificateInput>[] = [
  {
    id: 'e_aki_missing', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.2.1.1',
    description: 'authorityKeyIdentifier is present, except in a self-signed certificate',
    appliesTo: (c) => !c.selfSigned,
    check: (c) => (present(c, asn.id_ce_authorityKeyIdentifier) ? [] : ['no authorityKeyIdentifier extension']),
  },
  {
    id: 'e_aki_critical', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.2.1.1',
    description: 'authorityKeyIdentifier is not critical',
    appliesTo: (c) => c.ext.authorityKeyIdentifier !== undefined,
    check: (c) => (c.ext.authorityKeyIdentifier!.critical ? ['authorityKeyIdentifier is critical'] : []),
  },
  {
    id: 'e_aki_no_key_identifier', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.2.1.1',
    description: 'authorityKeyIdentifier carries keyIdentifier (except in a self-signed certificate)',
    appliesTo: (c) => !c.selfSigned && c.ext.authorityKeyIdentifier !== undefined,
    check: (c) => (c.ext.authorityKeyIdentifier!.value.keyIdentifier ? [] : ['authorityKeyIdentifier without keyIdentifier']),
  },
  {
    id: 'e_ca_ski_missing', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.2.1.2',
    description: 'a CA certificate has subjectKeyIdentifier',
    appliesTo: (c) => c.isCa,
    check: (c) => (present(c, asn.id_ce_subjectKeyIdentifier) ? [] : ['CA certificate without subjectKeyIdentifier']),
  },
  {
    id: 'e_ski_critical', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.2.1.2',
    description: 'subjectKeyIdentifier is not critical',
    appliesTo: (c) => c.ext.subjectKeyIdentifier !== undefined,
    check: (c) => (c.ext.subjectKeyIdentifier!.critical ? ['subjectKeyIdentifier is critical'] : []),
  },
];
