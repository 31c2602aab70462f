/** The standard checks of a node: database, key backend, disk space, CA expiry, audit log writable. */
import { statfsSync } from 'node:fs';
import type { CertificateAuthority } from '../ca/certificate-authority.js';
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

  o.health.add('caExpiry', async () => {
    const now = o.clock.now().getTime();
    const active = o.ca.active();
    const chainIds: string[] = [];
    for (let cur: ReturnType<typeof o.ca.get> = active; cur; cur = cur.parentId ? o.ca.get(cur.parentId) : undefined) chainIds.push(cur.id);
    let worst = { id: '', days: Infinity };
    for (const id of chainIds) {
      const i = o.ca.get(id)!;
      const days = (i.notAfter.getTime() - now) / DAY;
      if (days < worst.days) worst = { id, days };
    }
    const d = Math.floor(worst.days);
    if (worst.days <= 0) return { status: 'fail', detail: `${worst.id} has expired` };
    if (worst.days < o.caExpiryCriticalDays) return { status: 'fail', detail: `${worst.id} expires in ${d} day(s)` };
    if (worst.days < o.caExpiryWarnDays) return { status: 'warn', detail: `${worst.id} expires in ${d} day(s)` };
    return { status: 'pass', detail: `earliest CA expiry in ${d} days (${worst.id})` };
  }, { critical: true });

  let lastProbe = 0;
  o.health.add('auditLog', async () => {
    // A write probe on the database that holds the audit log, at most every 10 s.
    const now = Date.now();
    if (now - lastProbe > 10_000) {
      await o.store.setMeta('health.audit-probe', new Date(now).toISOString());
      lastProbe = now;
    }
    const last = await o.store.lastAudit();
    return { status: 'pass', detail: `writable; ${last ? `head entry ${last.seq}` : 'empty'}` };
  }, { critical: true });
}
