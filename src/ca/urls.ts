/** Where certificates point relying parties: one place builds every URL. */
export interface CaUrls {
  ocsp(): string;
  caCert(issuerId: string): string;
  /** The complete CRL of an issuer (no Issuing Distribution Point). */
  crl(issuerId: string): string;
  /** The CRL of one shard of an issuer: also its Issuing Distribution Point fullName. */
  crlShard(issuerId: string, shard: number): string;
}

export function caUrls(baseUrl: string): CaUrls {
  const base = baseUrl.replace(/\/+$/, '');
  return {
    ocsp: () => `${base}/ocsp`,
    caCert: (id) => `${base}/ca/${id}.crt`,
    crl: (id) => `${base}/crl/${id}.crl`,
    crlShard: (id, shard) => `${base}/crl/${id}/${shard}.crl`,
  };
}
