/** certificatePolicies (BR 7.1.2.7.9, 7.1.6.1). */
import * as asn from '@peculiar/asn1-x509';
import type { CertificateInput } from './certificate-input.js';
import { brTlsServer } from './certificate-input.js';
import type { Rule } from './types.js';

/** CA/Browser Forum reserved policy identifiers (BR 7.1.6.1). */
export const BR_RESERVED_POLICIES = ['2.23.140.1.2.1', '2.23.140.1.2.2', '2.23.140.1.2.3', '2.23.140.1.1'];

export const policyRules: Rule<CertificateInput>[] = [
  {
    id: 'e_sub_cert_certificate_policies_missing', severity: 'error', source: 'br', citation: 'BR 7.1.2.7.9',
    description: 'a subscriber TLS server certificate has certificatePolicies',
    appliesTo: brTlsServer,
    check: (c) => (c.extensions.some((e) => e.extnID === asn.id_ce_certificatePolicies) ? [] : ['no certificatePolicies extension']),
  },
  {
    id: 'w_sub_cert_no_reserved_policy', severity: 'warn', source: 'br', citation: 'BR 7.1.2.7.9, 7.1.6.1',
    description: 'the certificatePolicies of a subscriber TLS server certificate hold exactly one CA/B Forum reserved policy',
    appliesTo: (c) => brTlsServer(c) && c.ext.certificatePolicies !== undefined,
    check: (c) => {
      const reserved = [...c.ext.certificatePolicies!.value].filter((p) => BR_RESERVED_POLICIES.includes(p.policyIdentifier));
      return reserved.length === 1 ? [] : [`${reserved.length} CA/B Forum reserved policy identifiers (expected 1)`];
    },
  },
];
