/**
 * What relying parties fetch besides OCSP: the current CRL of each CA (DER
 * or PEM) and the CA certificates (one or the bundle), with their HTTP
 * caching values. File names are checked here; the HTTP route only maps the
 * result to a response (src/http/validation/publication-routes.ts).
 */
import type { CertificateAuthority } from '../ca/certificate-authority.js';
import { publishedCas } from '../ca/trust-bundle.js';
import type { Clock } from '../core/clock.js';
import { toPem } from '../pki/certificate-builder.js';
import type { CrlService } from './crl/crl-service.js';

export interface PublishedFile {
  contentType: string;
  body: Buffer | string;
  headers: Record<string, string>;
}

export interface PublicationOptions {
  crl: CrlService;
  ca: CertificateAuthority;
  clock: Clock;
  /** CAs dropped from the bundle (the old hierarchy of a finished root-loss campaign). */
  retired?: () => ReadonlySet<string>;
}

export class ValidationPublication {
  constructor(private readonly o: PublicationOptions) {}

  /** `ID.crl` (DER) or `ID.pem`: the current complete CRL of that CA, null when there is none. */
  async crlFile(name: string): Promise<PublishedFile | null> {
    const m = /^([a-z0-9-]+)\.(crl|pem)$/.exec(name);
    return m ? this.crlOf(m[1]!, null, m[2] === 'pem') : null;
  }

  /** `ID/SHARD.crl` (DER) or `ID/SHARD.pem`: the current CRL of one shard of that CA, null when there is none. */
  async shardCrlFile(issuerId: string, name: string): Promise<PublishedFile | null> {
    const m = /^(0|[1-9][0-9]{0,5})\.(crl|pem)$/.exec(name);
    if (!m || !/^[a-z0-9-]+$/.test(issuerId)) return null;
    return this.crlOf(issuerId, Number(m[1]), m[2] === 'pem');
  }

  private async crlOf(issuerId: string, shard: number | null, pem: boolean): Promise<PublishedFile | null> {
    const crl = await this.o.crl.current(issuerId, shard);
    if (!crl) return null;
    const maxAge = Math.max(0, Math.min(3600, Math.floor((crl.nextUpdate.getTime() - this.o.clock.now().getTime()) / 1000)));
    const headers = { 'cache-control': `max-age=${maxAge}, public, no-transform`, 'last-modified': crl.thisUpdate.toUTCString(), expires: crl.nextUpdate.toUTCString(), etag: `"${issuerId}${shard === null ? '' : `-s${shard}`}-${crl.number}"` };
    return pem
      ? { contentType: 'application/x-pem-file', body: toPem(crl.der, 'X509 CRL'), headers }
      : { contentType: 'application/pkix-crl', body: Buffer.from(crl.der), headers };
  }

  /** `bundle.pem` (every CA but the retired ones, the current hierarchy first: trust-bundle.ts), `ID.crt` (DER) or `ID.pem`; null for an unknown CA. */
  caFile(name: string): PublishedFile | null {
    if (name === 'bundle.pem') return { contentType: 'application/x-pem-file', body: publishedCas(this.o.ca, this.o.retired?.()).map((c) => toPem(c.certDer)).join(''), headers: {} };
    const m = /^([a-z0-9-]+)\.(crt|pem)$/.exec(name);
    const issuer = m ? this.o.ca.get(m[1]!) : undefined;
    if (!m || !issuer) return null;
    const headers = { 'cache-control': 'max-age=86400, public' };
    return m[2] === 'pem'
      ? { contentType: 'application/x-pem-file', body: toPem(issuer.certDer), headers }
      : { contentType: 'application/pkix-cert', body: Buffer.from(issuer.certDer), headers };
  }
}
