/** keyUsage rules (RFC 5280 4.2.1.3; BR 7.1.2.10.7, 7.1.2.7.11). */
import * as asn from '@peculiar/asn1-x509';
import type { CertificateInput } from './certificate-input.js';
import { isSubscriber, keyUsageBits } from './certificate-input.js';
import type { Rule } from './types.js';

const has = (c: CertificateInput, flag: asn.KeyUsageFlags) => (keyUsageBits(c.ext.keyUsage?.value) & flag) !== 0;

export const keyUsageRules: Rule<CertificateInput>[] = [
  {
    id: 'e_ca_key_usage_missing', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.2.1.3; BR 7.1.2.10.7',
    description: 'a CA certificate has a keyUsage extension',
    appliesTo: (c) => c.isCa,
    check: (c) => (c.extensions.some((e) => e.extnID === asn.id_ce_keyUsage) ? [] : ['CA certificate without keyUsage']),
  },
  {
    id: 'e_ca_key_usage_not_critical', severity: 'error', source: 'br', citation: 'RFC 5280 4.2.1.3 (SHOULD); BR 7.1.2.10.7 (MUST)',
    description: 'keyUsage is critical in a CA certificate',
    appliesTo: (c) => c.isCa && c.ext.keyUsage !== undefined,
    check: (c) => (c.ext.keyUsage!.critical ? [] : ['CA keyUsage is not critical']),
  },
  {
    id: 'e_ca_key_usage_no_key_cert_sign', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.2.1.3, 4.2.1.9',
    description: 'a CA certificate asserts keyCertSign',
    appliesTo: (c) => c.isCa && c.ext.keyUsage !== undefined,
    check: (c) => (has(c, asn.KeyUsageFlags.keyCertSign) ? [] : ['CA keyUsage lacks keyCertSign']),
  },
  {
    id: 'e_sub_cert_key_usage_cert_sign', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.2.1.3',
    description: 'a leaf certificate does not assert keyCertSign',
    appliesTo: (c) => isSubscriber(c) && c.ext.keyUsage !== undefined,
    check: (c) => (has(c, asn.KeyUsageFlags.keyCertSign) ? ['leaf certificate asserts keyCertSign'] : []),
  },
  {
    id: 'e_key_usage_empty', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.2.1.3',
    description: 'a keyUsage extension asserts at least one bit',
    appliesTo: (c) => c.ext.keyUsage !== undefined,
    check: (c) => (keyUsageBits(c.ext.keyUsage!.value) === 0 ? ['keyUsage asserts no bit'] : []),
  },
];
