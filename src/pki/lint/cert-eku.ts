/** extendedKeyUsage rules (RFC 5280 4.2.1.12; BR 7.1.2.7.10). */
import * as asn from '@peculiar/asn1-x509';
import type { CertificateInput } from './certificate-input.js';
import { brTlsServer, isSubscriber } from './certificate-input.js';
import type { Rule } from './types.js';

const ekus = (c: CertificateInput): string[] => (c.ext.extKeyUsage ? [...c.ext.extKeyUsage.value] : []);

export const ekuRules: Rule<CertificateInput>[] = [
  {
    id: 'e_sub_cert_eku_missing', severity: 'error', source: 'br', citation: 'BR 7.1.2.7.10',
    description: 'a subscriber TLS server certificate has extendedKeyUsage',
    appliesTo: brTlsServer,
    check: (c) => (c.extensions.some((e) => e.extnID === asn.id_ce_extKeyUsage) ? [] : ['no extendedKeyUsage extension']),
  },
  {
    id: 'e_sub_cert_eku_server_auth_missing', severity: 'error', source: 'br', citation: 'BR 7.1.2.7.10; RFC 5280 4.2.1.12',
    description: 'the extendedKeyUsage of a TLS server certificate contains id-kp-serverAuth',
    appliesTo: (c) => c.profile === 'tls-server' && c.ext.extKeyUsage !== undefined,
    check: (c) => (ekus(c).includes(asn.id_kp_serverAuth) ? [] : ['extendedKeyUsage lacks id-kp-serverAuth']),
  },
  {
    id: 'e_sub_cert_eku_any', severity: 'error', source: 'br', citation: 'BR 7.1.2.7.10',
    description: 'a subscriber TLS certificate does not carry anyExtendedKeyUsage',
    appliesTo: (c) => c.br && isSubscriber(c) && c.ext.extKeyUsage !== undefined,
    check: (c) => (ekus(c).includes(asn.anyExtendedKeyUsage) ? ['extendedKeyUsage contains anyExtendedKeyUsage'] : []),
  },
  {
    id: 'w_eku_any_critical', severity: 'warn', source: 'rfc5280', citation: 'RFC 5280 4.2.1.12',
    description: 'extendedKeyUsage is not critical when it contains anyExtendedKeyUsage',
    appliesTo: (c) => c.ext.extKeyUsage?.critical === true,
    check: (c) => (ekus(c).includes(asn.anyExtendedKeyUsage) ? ['critical extendedKeyUsage contains anyExtendedKeyUsage'] : []),
  },
  {
    id: 'e_ocsp_signer_eku_missing', severity: 'error', source: 'rfc6960', citation: 'RFC 6960 4.2.2.2',
    description: 'a delegated OCSP signer certificate carries id-kp-OCSPSigning',
    appliesTo: (c) => c.profile === 'ocsp-signer',
    check: (c) => (ekus(c).includes(asn.id_kp_OCSPSigning) ? [] : ['OCSP signer without id-kp-OCSPSigning']),
  },
];
