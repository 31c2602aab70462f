/** The subject common name repeats a SAN (BR 7.1.4.3). */
import type { CertificateInput } from './certificate-input.js';
import { brTlsServer, nameAttributes, OID_CN } from './certificate-input.js';
import type { Rule } from './types.js';

export const commonNameRules: Rule<CertificateInput>[] = [
  {
    id: 'e_sub_cert_cn_not_in_san', severity: 'error', source: 'br', citation: 'BR 7.1.4.3',
    description: 'a subject commonName, if present, is one of the dNSName or iPAddress SANs',
    appliesTo: brTlsServer,
    check: (c) => {
      const cns = nameAttributes(c.tbs.subject).filter((a) => a.type === OID_CN).map((a) => a.value);
      if (cns.length === 0) return [];
      const sans = new Set<string>();
      for (const g of c.ext.subjectAltName?.value ?? []) {
        if (g.dNSName !== undefined) sans.add(g.dNSName.toLowerCase());
        if (g.iPAddress !== undefined) sans.add(g.iPAddress.toLowerCase());
      }
      return cns.filter((cn) => !sans.has(cn.toLowerCase())).map((cn) => `commonName "${cn}" is not one of the subjectAltNames`);
    },
  },
];
