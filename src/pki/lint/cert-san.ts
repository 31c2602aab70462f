/** subjectAltName rules (RFC 5280 4.1.2.6, 4.2.1.6; BR 7.1.2.7.12). */
import * as asn from '@peculiar/asn1-x509';
import type { CertificateInput } from './certificate-input.js';
import { brTlsServer } from './certificate-input.js';
import { ipAddressOctets } from './der-views.js';
import { dnsNameProblem } from './dns-name.js';
import type { Rule } from './types.js';

const sanExtension = (c: CertificateInput) => c.extensions.find((e) => e.extnID === asn.id_ce_subjectAltName);
const names = (c: CertificateInput) => (c.ext.subjectAltName ? [...c.ext.subjectAltName.value] : []);

export const sanRules: Rule<CertificateInput>[] = [
  {
    id: 'e_sub_cert_san_missing', severity: 'error', source: 'br', citation: 'BR 7.1.2.7.12',
    description: 'a TLS server certificate has a subjectAltName extension',
    appliesTo: brTlsServer,
    check: (c) => (sanExtension(c) ? [] : ['no subjectAltName extension']),
  },
  {
    id: 'e_subject_empty_without_san', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.1.2.6',
    description: 'a certificate with an empty subject has a subjectAltName extension',
    appliesTo: (c) => c.subjectEmpty,
    check: (c) => (sanExtension(c) ? [] : ['the subject is empty and there is no subjectAltName extension']),
  },
  {
    id: 'e_ext_san_not_critical_without_subject', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.2.1.6',
    description: 'subjectAltName is critical when the subject is empty',
    appliesTo: (c) => c.subjectEmpty && sanExtension(c) !== undefined,
    check: (c) => (sanExtension(c)!.critical ? [] : ['the subject is empty but subjectAltName is not critical']),
  },
  {
    id: 'w_ext_san_critical_with_subject', severity: 'warn', source: 'rfc5280', citation: 'RFC 5280 4.2.1.6',
    description: 'subjectAltName is not critical when the subject is not empty',
    appliesTo: (c) => !c.subjectEmpty && sanExtension(c) !== undefined,
    check: (c) => (sanExtension(c)!.critical ? ['subjectAltName is critical although the subject is not empty'] : []),
  },
  {
    id: 'e_ext_san_empty', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.2.1.6',
    description: 'subjectAltName holds at least one name, and no name is an empty string',
    appliesTo: (c) => c.ext.subjectAltName !== undefined,
    check: (c) => {
      const all = names(c);
      if (all.length === 0) return ['subjectAltName has no names'];
      const empty = all.filter((g) => g.rfc822Name === '' || g.uniformResourceIdentifier === '' || (g.directoryName && g.directoryName.length === 0));
      return empty.length ? [`subjectAltName has ${empty.length} empty name(s)`] : [];
    },
  },
  {
    id: 'e_san_dns_name_malformed', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.2.1.6; BR 7.1.2.7.12',
    description: 'each dNSName is an LDH host name, wildcard only as the whole leftmost label, no underscore',
    appliesTo: (c) => c.ext.subjectAltName !== undefined,
    check: (c) => names(c).filter((g) => g.dNSName !== undefined).map((g) => dnsNameProblem(g.dNSName!)).filter((p): p is string => p !== null),
  },
  {
    id: 'e_san_ip_address_length', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.2.1.6',
    description: 'an iPAddress name is 4 (IPv4) or 16 (IPv6) octets',
    appliesTo: (c) => sanExtension(c) !== undefined,
    check: (c) => ipAddressOctets(sanExtension(c)!.extnValue.buffer)
      .filter((o) => o.length !== 4 && o.length !== 16)
      .map((o) => `iPAddress name is ${o.length} octets`),
  },
];
