/**
 * Health check `backup`: warns when the newest backup is older than the
 * schedule plus the margin (25 h for a daily schedule), and when there is no
 * backup at all although the CA is older than that. A brand-new node passes
 * (its first scheduled backup is not due yet), so a fresh dev node is not
 * degraded at start-up. With the schedule off (0) it only reports.
 */
import { backupReference } from './backup-schedule.js';
import type { Clock } from '../core/clock.js';
import type { AuditStore, MetaStore } from '../storage/store.js';
import type { HealthRegistry } from '../health/health.js';

const hours = (ms: number): string => `${(ms / 3_600_000).toFixed(1)} h`;

export function registerBackupCheck(o: {
  health: HealthRegistry; store: MetaStore & AuditStore; clock: Clock; scheduleMinutes: number; ageWarnMarginMinutes: number;
}): void {
  o.health.add('backup', async () => {
    const now = o.clock.now().getTime();
    const { last, since } = await backupReference(o.store);
    const age = since ? now - since.getTime() : 0;
    const limit = (o.scheduleMinutes + o.ageWarnMarginMinutes) * 60_000;
    const newest = last ? `newest backup ${last.id} is ${hours(age)} old` : 'no backup yet';
    if (o.scheduleMinutes <= 0) return { status: 'pass', detail: `schedule off; ${newest}` };
    if (age <= limit) return { status: 'pass', detail: last ? newest : `no backup yet; the first is due ${hours(o.scheduleMinutes * 60_000 - age)} from now` };
    return { status: 'warn', detail: last ? `${newest} (limit ${hours(limit)})` : `no backup although the CA is ${hours(age)} old (limit ${hours(limit)})` };
  }, { critical: false });
}
