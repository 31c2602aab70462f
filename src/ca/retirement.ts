/**
 * Where a CA is in its life after a rotation. The active intermediate issues;
 * an inactive one keeps answering OCSP and publishing CRLs ("serving") while
 * any certificate it issued is unexpired (good or revoked: a revoked one must
 * stay on the CRL until it expires); after that, or once its own certificate
 * has expired, it is "retired" and gets no new CRLs or OCSP signer renewals.
 * The last CRL and OCSP signer it had are still served as they are.
 */
import type { Clock } from '../core/clock.js';
import type { IssuerRecord } from '../core/types.js';
import type { CertificateStore } from '../storage/store.js';

export type IssuerState = 'active' | 'serving' | 'retired' | 'expired';

export interface IssuerRetirementOptions {
  store: Pick<CertificateStore, 'listCertificates' | 'iterateRevoked'>;
  clock: Clock;
  /** How long a "serving" answer is reused before the store is asked again. */
  recheckMs?: number;
}

export class IssuerRetirement {
  /** Retired or expired: final, no new certificates can appear under an inactive CA. */
  private readonly final = new Map<string, IssuerState>();
  private readonly serving = new Map<string, number>();

  constructor(private readonly o: IssuerRetirementOptions) {}

  async state(issuer: IssuerRecord): Promise<IssuerState> {
    const now = this.o.clock.now();
    if (issuer.notAfter <= now) return 'expired';
    if (issuer.kind !== 'intermediate' || issuer.active) return 'active';
    const done = this.final.get(issuer.id);
    if (done) return done;
    const checked = this.serving.get(issuer.id);
    if (checked !== undefined && now.getTime() - checked < (this.o.recheckMs ?? 300_000)) return 'serving';
    if (await this.hasUnexpiredCertificates(issuer.id, now)) {
      this.serving.set(issuer.id, now.getTime());
      return 'serving';
    }
    this.serving.delete(issuer.id);
    this.final.set(issuer.id, 'retired');
    return 'retired';
  }

  /** Active or serving: the CA still needs fresh CRLs and a current OCSP signer. */
  async inService(issuer: IssuerRecord): Promise<boolean> {
    const s = await this.state(issuer);
    return s === 'active' || s === 'serving';
  }

  private async hasUnexpiredCertificates(issuerId: string, now: Date): Promise<boolean> {
    const good = await this.o.store.listCertificates({ issuerId, status: 'good' }, { limit: 1 }, now);
    if (good.total > 0) return true;
    // Revoked and unexpired: still listed on the CRL.
    for await (const _ of this.o.store.iterateRevoked(issuerId, now)) return true;
    return false;
  }
}
