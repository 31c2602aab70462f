/** Certificate download, revocation (RFC 8555 §7.4.2, §7.6) and renewal information (RFC 9773). */
import { createPublicKey } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { JWK } from 'jose';
import type { CertificateRecord } from '../core/types.js';
import { normalizeSerial } from '../core/serial.js';
import { isRampartError } from '../core/errors.js';
import { acmeActor, type AcmeDeps, type AcmeRequest } from './context.js';
import { authorityKeyIdOf, parseCertId, renewalWindow } from './ari.js';
import { authzTarget } from './identifiers.js';
import { AcmeError } from './problems.js';
import type { AcmeAccount, AcmeIdentifier } from '../storage/acme-records.js';
import { canonicalIp } from '../ra/policy.js';

function pem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

const REVOCATION_REASONS = new Set([0, 1, 2, 3, 4, 5, 6, 9, 10]);

export class CertificateService {
  constructor(private readonly d: AcmeDeps) {}

  /** The PEM chain (leaf first, root left out) of a certificate this account ordered. */
  async download(account: AcmeAccount, serialText: string): Promise<string> {
    const serial = normalizeSerial(serialText);
    const rec = serial ? await this.d.store.getCertificate(serial) : null;
    if (!rec || rec.requester !== `acme:${account.id}`) throw new AcmeError('malformed', `no certificate ${serialText} for this account`, { status: 404 });
    return [rec.der, ...this.d.ca.chain(rec.issuerId)].map(pem).join('');
  }

  /**
   * revokeCert, signed by the account that ordered the certificate, by an
   * account holding valid authorizations for all its names, or by the
   * certificate's own key (jwk).
   */
  async revoke(account: AcmeAccount | null, jwk: JWK, payload: unknown, req: AcmeRequest): Promise<void> {
    if (typeof payload !== 'object' || payload === null || typeof (payload as { certificate?: unknown }).certificate !== 'string') {
      throw new AcmeError('malformed', 'the revokeCert payload must be {"certificate": base64url DER, "reason"?: int}');
    }
    const p = payload as { certificate: string; reason?: unknown };
    const reason = p.reason === undefined ? 0 : p.reason;
    if (typeof reason !== 'number' || !REVOCATION_REASONS.has(reason)) {
      throw new AcmeError('badRevocationReason', `revocation reason ${String(reason)} is not allowed (RFC 5280 CRLReason 0-6, 9, 10)`);
    }
    if (!/^[A-Za-z0-9_-]+$/.test(p.certificate)) throw new AcmeError('malformed', 'certificate is not base64url');
    const der = Buffer.from(p.certificate, 'base64url');
    let cert: x509.X509Certificate;
    try { cert = new x509.X509Certificate(new Uint8Array(der)); } catch { throw new AcmeError('malformed', 'certificate is not a DER X.509 certificate'); }
    const serial = normalizeSerial(cert.serialNumber);
    const rec = serial ? await this.d.store.getCertificate(serial) : null;
    if (!rec || !Buffer.from(rec.der).equals(der)) throw new AcmeError('malformed', 'this certificate was not issued by this CA', { status: 404 });
    const actor = acmeActor(account, req.ip);
    if (account) {
      if (rec.requester !== `acme:${account.id}` && !(await this.holdsAllNames(account, rec))) {
        await this.d.audit.record({ actor: actor.id, source: actor.source, channel: 'acme', action: 'certificate.revoke', target: `serial:${rec.serial}`, outcome: 'denied', details: { reason: 'account neither ordered the certificate nor holds authorizations for all its names' } });
        throw new AcmeError('unauthorized', 'this account neither ordered the certificate nor holds valid authorizations for all of its names');
      }
    } else {
      let spki: Buffer;
      try { spki = createPublicKey({ key: jwk as JWK & Record<string, unknown>, format: 'jwk' }).export({ type: 'spki', format: 'der' }); } catch { throw new AcmeError('badPublicKey', 'the jwk is not a usable public key'); }
      if (!spki.equals(Buffer.from(cert.publicKey.rawData))) throw new AcmeError('unauthorized', "the request is not signed by the certificate's key");
    }
    if (!this.d.canWrite()) throw new AcmeError('serverInternal', 'this node does not accept writes now (standby); retry on another node', { status: 503, retryAfter: 5 });
    try {
      await this.d.revocation.revoke(rec.serial, reason, account ? actor : { ...actor, id: `acme:certificate-key:${rec.serial}` });
    } catch (e) {
      if (isRampartError(e) && e.code === 'alreadyRevoked') throw new AcmeError('alreadyRevoked', 'the certificate is already revoked');
      throw e;
    }
  }

  private async holdsAllNames(account: AcmeAccount, rec: CertificateRecord): Promise<boolean> {
    const after = this.d.clock.now();
    for (const name of rec.sans) {
      const id: AcmeIdentifier = canonicalIp(name) ? { type: 'ip', value: canonicalIp(name)! } : { type: 'dns', value: name.toLowerCase() };
      const { identifier, wildcard } = authzTarget(id);
      if (!(await this.d.store.findValidAcmeAuthorization(account.id, identifier, wildcard, after))) return false;
    }
    return rec.sans.length > 0;
  }

  /** renewalInfo (RFC 9773 §4.2); unauthenticated GET. */
  async renewalInfo(certIdText: string): Promise<{ body: Record<string, unknown>; retryAfter: number }> {
    const id = parseCertId(certIdText);
    const rec = await this.d.store.getCertificate(id.serialHex);
    const aki = rec ? authorityKeyIdOf(rec.der) : null;
    if (!rec || !aki || !aki.equals(id.keyIdentifier)) throw new AcmeError('malformed', 'no certificate with this identifier', { status: 404 });
    const w = renewalWindow(rec.notBefore, rec.notAfter, this.d.settings.ari.renewAtFraction, rec.status === 'revoked' || (this.d.renewNow?.(rec) ?? false), this.d.clock.now());
    return {
      body: { suggestedWindow: { start: w.start.toISOString(), end: w.end.toISOString() } },
      retryAfter: this.d.settings.ari.retryAfterSeconds,
    };
  }
}
