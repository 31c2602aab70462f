/** Version rule (RFC 5280 4.1.2.1). */
import * as asn from '@peculiar/asn1-x509';
import type { CertificateInput } from './certificate-input.js';
import type { Rule } from './types.js';

export const versionRules: Rule<CertificateInput>[] = [
  {
    id: 'e_cert_extensions_require_v3', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.1.2.1',
    description: 'a certificate with extensions is version 3',
    appliesTo: (c) => c.extensions.length > 0,
    check: (c) => (c.tbs.version === asn.Version.v3 ? [] : [`version is v${c.tbs.version + 1} but the certificate has extensions`]),
  },
];
