/**
 * The standard checks of a node: database, key backend, disk space, CA expiry
 * (the active chain; intermediates rotated out but still serving; an offline
 * root's published CRL), audit log writable.
 */
import { statfsSync } from 'node:fs';
import type { CertificateAuthority } from '../ca/certificate-authority.js';
import { isOfflineIssuer } from '../ca/offline-issuer.js';
import { IssuerRetirement } from '../ca/retirement.js';
import type { IssuerRecord } from '../core/types.js';
import type { Clock } from '../core/clock.js';
import type { KeyBackend } from '../keys/key-backend.js';
import type { Store } from '../storage/store.js';
import type { HealthRegistry } from './health.js';

export interface NodeCheckOptions {
  health: HealthRegistry;
  store: Store;
  keys: KeyBackend;
  ca: CertificateAuthority;
  clock: Clock;
  dataDir: string;
  diskFreeMinBytes: number;
  diskFreeCriticalBytes: number;
  caExpiryWarnDays: number;
  caExpiryCriticalDays: number;
  /** True while the database is a read-only replica (a region not promoted): the audit check does not write. */
  readOnlyReplica?: () => boolean;
}

const DAY = 86_400_000;

export function registerNodeChecks(o: NodeCheckOptions): void {
  o.health.add('database', async () => {
    await o.store.ping();
    return { status: 'pass', detail: `${o.store.kind} reachable` };
  }, { critical: true });

  o.health.add('keyBackend', async () => {
    const h = await o.keys.health();
    return { status: !h.ok ? 'fail' : h.degraded ? 'warn' : 'pass', detail: `${o.keys.type}: ${h.detail}` };
  }, { critical: true });

  o.health.add('diskSpace', async () => {
    const s = statfsSync(o.dataDir);
    const free = s.bavail * s.bsize;
    const mib = Math.round(free / 1048576);
    if (free < o.diskFreeCriticalBytes) return { status: 'fail', detail: `${mib} MiB free in ${o.dataDir}: below the critical threshold` };
    if (free < o.diskFreeMinBytes) return { status: 'warn', detail: `${mib} MiB free in ${o.dataDir}: low` };
    return { status: 'pass', detail: `${mib} MiB free` };
  }, { critical: true });

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

  let lastProbe = 0;
  o.health.add('auditLog', async () => {
    // A write probe on the database that holds the audit log, at most every 10 s.
    const now = Date.now();
    if (o.readOnlyReplica?.()) {
      const last = await o.store.lastAudit();
      return { status: 'pass', detail: `read-only replica: audit entries are written in the active region; replayed up to entry ${last?.seq ?? 0}` };
    }
    if (now - lastProbe > 10_000) {
      await o.store.setMeta('health.audit-probe', new Date(now).toISOString());
      lastProbe = now;
    }
    const last = await o.store.lastAudit();
    return { status: 'pass', detail: `writable; ${last ? `head entry ${last.seq}` : 'empty'}` };
  }, { critical: true });
}
