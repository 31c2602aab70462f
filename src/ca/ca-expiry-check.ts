/**
 * Health: how long the active chain has left, inactive intermediates still
 * serving OCSP and CRLs, and the offline root's published CRL.
 */
import type { HealthRegistry } from '../health/health.js';
import type { Clock } from '../core/clock.js';
import type { IssuerRecord } from '../core/types.js';
import type { Store } from '../storage/store.js';
import type { CertificateAuthority } from './certificate-authority.js';
import { isOfflineIssuer } from './offline-issuer.js';
import { IssuerRetirement } from './retirement.js';

export interface CaExpiryCheckOptions {
  health: HealthRegistry;
  store: Store;
  ca: CertificateAuthority;
  clock: Clock;
  caExpiryWarnDays: number;
  caExpiryCriticalDays: number;
}

const DAY = 86_400_000;

export function registerCaExpiryCheck(o: CaExpiryCheckOptions): void {
  const retirement = new IssuerRetirement({ store: o.store, clock: o.clock });
  o.health.add('caExpiry', async () => {
    const now = o.clock.now();
    const daysLeft = (at: Date): number => (at.getTime() - now.getTime()) / DAY;
    const parts: string[] = [];
    let status: 'pass' | 'warn' | 'fail' = 'pass';
    const worse = (s: 'warn' | 'fail'): void => { if (status !== 'fail') status = s; };

    // The active chain (issuing CA up to the root): warn, then fail, as it nears expiry.
    const active = o.ca.active();
    let worst = { id: '', days: Infinity };
    for (let cur: IssuerRecord | undefined = active; cur; cur = cur.parentId ? o.ca.get(cur.parentId) : undefined) {
      const days = daysLeft(cur.notAfter);
      if (days < worst.days) worst = { id: cur.id, days };
    }
    const d = Math.floor(worst.days);
    if (worst.days <= 0) { worse('fail'); parts.push(`${worst.id} has expired`); }
    else if (worst.days < o.caExpiryCriticalDays) { worse('fail'); parts.push(`${worst.id} expires in ${d} day(s)`); }
    else if (worst.days < o.caExpiryWarnDays) { worse('warn'); parts.push(`${worst.id} expires in ${d} day(s)`); }
    else parts.push(`earliest CA expiry in ${d} days (${worst.id})`);

    // Rotated-out intermediates still answering for unexpired certificates: a warning at most
    // (their certificates end with them); retired ones (nothing unexpired left) are left out.
    for (const c of o.ca.cas()) {
      if (c.kind !== 'intermediate' || c.active || (await retirement.state(c)) !== 'serving') continue;
      const days = daysLeft(c.notAfter);
      if (days < o.caExpiryWarnDays) worse('warn');
      parts.push(`${c.id} (inactive, serving OCSP/CRL) expires in ${Math.floor(days)} days`);
    }

    // An offline root's CRL is produced off the node: say when the published one runs out.
    const root = o.ca.root();
    if (root && isOfflineIssuer(root) && root.notAfter > now) {
      const crl = await o.store.latestCrl(root.id);
      if (!crl) { worse('warn'); parts.push(`no CRL published for the offline root ${root.id}: \`rampart root crl\`, then \`rampart ca import-crl\``); }
      else if (daysLeft(crl.nextUpdate) < o.caExpiryCriticalDays) {
        worse('warn');
        parts.push(`the offline root's CRL #${crl.number} ${crl.nextUpdate <= now ? 'has expired' : `expires in ${Math.floor(daysLeft(crl.nextUpdate))} day(s)`}: \`rampart root crl\`, then \`rampart ca import-crl\``);
      }
    }
    return { status, detail: parts.join('; ') };
  }, { critical: true });

}
