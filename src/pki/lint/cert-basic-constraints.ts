/** basicConstraints rules (RFC 5280 4.2.1.9; BR 7.1.2.7.8, 7.1.2.10.4). */
import * as asn from '@peculiar/asn1-x509';
import type { CertificateInput } from './certificate-input.js';
import { isSubscriber, keyUsageBits } from './certificate-input.js';
import type { Rule } from './types.js';

export const basicConstraintsRules: Rule<CertificateInput>[] = [
  {
    id: 'e_ca_basic_constraints_missing', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.2.1.9',
    description: 'a CA certificate has basicConstraints',
    appliesTo: (c) => c.isCa,
    check: (c) => (c.extensions.some((e) => e.extnID === asn.id_ce_basicConstraints) ? [] : ['CA certificate without basicConstraints']),
  },
  {
    id: 'e_ca_basic_constraints_not_critical', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.2.1.9',
    description: 'basicConstraints is critical in a CA certificate',
    appliesTo: (c) => c.isCa && c.ext.basicConstraints !== undefined,
    check: (c) => (c.ext.basicConstraints!.critical ? [] : ['CA basicConstraints is not critical']),
  },
  {
    id: 'e_ca_basic_constraints_ca_false', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.2.1.9',
    description: 'basicConstraints asserts cA in a CA certificate',
    appliesTo: (c) => c.isCa && c.ext.basicConstraints !== undefined,
    check: (c) => (c.ext.basicConstraints!.value.cA ? [] : ['CA certificate with basicConstraints cA=false']),
  },
  {
    id: 'e_sub_cert_basic_constraints_ca_true', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.2.1.9; BR 7.1.2.7.8',
    description: 'a leaf certificate has no basicConstraints, or cA=false',
    appliesTo: (c) => isSubscriber(c) && c.ext.basicConstraints !== undefined,
    check: (c) => (c.ext.basicConstraints!.value.cA ? ['leaf certificate with basicConstraints cA=true'] : []),
  },
  {
    id: 'e_path_len_without_key_cert_sign', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.2.1.9',
    description: 'pathLenConstraint appears only with cA=true and keyCertSign',
    appliesTo: (c) => c.ext.basicConstraints?.value.pathLenConstraint !== undefined,
    check: (c) => {
      const ku = keyUsageBits(c.ext.keyUsage?.value);
      return c.ext.basicConstraints!.value.cA && (ku & asn.KeyUsageFlags.keyCertSign) !== 0 ? [] : ['pathLenConstraint without cA=true and keyCertSign'];
    },
  },
];
