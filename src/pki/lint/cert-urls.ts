/** AIA and CRL distribution point URLs (RFC 5280 4.2.2.1, 4.2.1.13; BR 7.1.2.7.7, 7.1.2.11.2). */
import * as asn from '@peculiar/asn1-x509';
import type { CertificateInput } from './certificate-input.js';
import type { Rule } from './types.js';

export function httpUrlProblem(what: string, name: asn.GeneralName): string | null {
  const uri = name.uniformResourceIdentifier;
  if (uri === undefined) return `${what} is not a URI`;
  let url: URL;
  try { url = new URL(uri); } catch { return `${what} "${uri}" is not a valid URL`; }
  if (url.protocol !== 'http:') return `${what} "${uri}" is not an http:// URL`;
  return null;
}

const accessUrls = (c: CertificateInput, method: string) =>
  [...(c.ext.authorityInfoAccess?.value ?? [])].filter((a) => a.accessMethod === method).map((a) => a.accessLocation);

const notNull = <T>(x: T | null): x is T => x !== null;

export const urlRules: Rule<CertificateInput>[] = [
  {
    id: 'e_aia_ocsp_not_http', severity: 'error', source: 'br', citation: 'RFC 5280 4.2.2.1; BR 7.1.2.7.7',
    description: 'each AIA id-ad-ocsp accessLocation is an http:// URL',
    appliesTo: (c) => c.ext.authorityInfoAccess !== undefined,
    check: (c) => accessUrls(c, asn.id_ad_ocsp).map((g) => httpUrlProblem('AIA OCSP location', g)).filter(notNull),
  },
  {
    id: 'e_aia_ca_issuers_not_http', severity: 'error', source: 'br', citation: 'RFC 5280 4.2.2.1; BR 7.1.2.7.7',
    description: 'each AIA id-ad-caIssuers accessLocation is an http:// URL',
    appliesTo: (c) => c.ext.authorityInfoAccess !== undefined,
    check: (c) => accessUrls(c, asn.id_ad_caIssuers).map((g) => httpUrlProblem('AIA caIssuers location', g)).filter(notNull),
  },
  {
    id: 'e_aia_critical', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.2.2.1',
    description: 'authorityInfoAccess is not critical',
    appliesTo: (c) => c.ext.authorityInfoAccess !== undefined,
    check: (c) => (c.ext.authorityInfoAccess!.critical ? ['authorityInfoAccess is critical'] : []),
  },
  {
    id: 'e_crl_dp_not_http', severity: 'error', source: 'br', citation: 'RFC 5280 4.2.1.13; BR 7.1.2.11.2',
    description: 'each cRLDistributionPoints fullName is an http:// URL',
    appliesTo: (c) => c.ext.crlDistributionPoints !== undefined,
    check: (c) => [...c.ext.crlDistributionPoints!.value].flatMap((dp) => {
      const full = dp.distributionPoint?.fullName;
      if (!full) return ['CRL distribution point without a fullName'];
      return full.map((g) => httpUrlProblem('CRL distribution point', g)).filter(notNull);
    }),
  },
];
