/** Health: the audit log's database takes writes (a probe at most every 10 s); a read-only replica reports where it has replayed to. */
import { isOutOfSpace } from '../core/out-of-space.js';
import type { HealthRegistry } from '../health/health.js';
import type { Store } from '../storage/store.js';

export interface AuditWriteCheckOptions {
  health: HealthRegistry;
  store: Store;
  /** True while the database is a read-only replica (a region not promoted): the check does not write. */
  readOnlyReplica?: () => boolean;
}

export function registerAuditWriteCheck(o: AuditWriteCheckOptions): void {
  let lastProbe = 0;
  // One probe at a time: during a database outage the store retries a write
  // for up to 30 s, and /readyz is asked several times a second (the load
  // balancer's checks of every backend); each check waits for the same probe.
  let probe: Promise<void> | null = null;
  o.health.add('auditLog', async () => {
    // A write probe on the database that holds the audit log, at most every 10 s.
    const now = Date.now();
    if (o.readOnlyReplica?.()) {
      const last = await o.store.lastAudit();
      return { status: 'pass', detail: `read-only replica: audit entries are written in the active region; replayed up to entry ${last?.seq ?? 0}` };
    }
    if (now - lastProbe > 10_000) {
      try {
        probe ??= o.store.setMeta('health.audit-probe', new Date(now).toISOString()).finally(() => { probe = null; });
        await probe;
      } catch (e) {
        // Out of space: audited writes are refused (503) until space is freed, but validation needs no
        // space, so the node stays ready (degraded) instead of leaving the load balancer's validation backend.
        if (isOutOfSpace(e)) return { status: 'warn', detail: `the audit log's database is out of space: writes are refused until space is freed (${(e as Error).message})` };
        throw e;
      }
      lastProbe = now;
    }
    const last = await o.store.lastAudit();
    return { status: 'pass', detail: `writable; ${last ? `head entry ${last.seq}` : 'empty'}` };
  }, { critical: true });
}
