/** Subject and issuer name rules (RFC 5280 4.1.2.4, 4.1.2.6, Appendix A; BR 7.1.4.2). */
import type { CertificateInput } from './certificate-input.js';
import { nameAttributes, OID_C } from './certificate-input.js';
import type { Rule } from './types.js';

export const subjectRules: Rule<CertificateInput>[] = [
  {
    id: 'e_subject_country_not_iso3166', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 Appendix A (X520countryName SIZE(2)); BR 7.1.4.2',
    description: 'a subject countryName is two upper-case letters',
    check: (c) => nameAttributes(c.tbs.subject).filter((a) => a.type === OID_C && !/^[A-Z]{2}$/.test(a.value))
      .map((a) => `subject countryName "${a.value}" is not two upper-case letters`),
  },
  {
    id: 'e_subject_attribute_empty', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 Appendix A (ub SIZE(1..)); BR 7.1.4.2',
    description: 'no subject attribute value is an empty string (or only whitespace)',
    check: (c) => nameAttributes(c.tbs.subject).filter((a) => a.atv.value.anyValue === undefined && a.value.trim() === '')
      .map((a) => `subject attribute ${a.type} is empty`),
  },
  {
    id: 'e_issuer_empty', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.1.2.4',
    description: 'the issuer name is not empty',
    check: (c) => (c.tbs.issuer.length === 0 ? ['issuer name is empty'] : []),
  },
];
