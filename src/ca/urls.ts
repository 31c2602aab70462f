/** Where certificates point relying parties: one place builds every URL. */
export interface CaUrls {
  ocsp(): string;
  caCert(issuerId: string): string;
  crl(issuerId: string): string;
}

export function caUrls(baseUrl: string): CaUrls {
  const base = baseUrl.replace(/\/+$/, '');
  return {
    ocsp: () => `${base}/ocsp`,
    caCert: (id) => `${base}/ca/${id}.crt`,
    crl: (id) => `${base}/crl/${id}.crl`,
  };
}
