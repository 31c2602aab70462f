/**
 * The `drills` health check (non-critical): warns (degraded) when a DR drill
 * scenario that applies to this node is overdue (src/dr/drill-schedule.ts)
 * or its last run failed. It also refreshes the drill metrics from the
 * summaries in the database meta, so they follow runs made by the CLI or on
 * other nodes.
 */
import type { Clock } from '../core/clock.js';
import type { RampartConfig } from '../config/schema.js';
import { readDrillSummaries, type MetaAccess } from './drill-records.js';
import { DRILL_SCHEDULE_START_META } from './drill-result.js';
import { applicableScenarios, evaluateDrillSchedule } from './drill-schedule.js';
import type { RampartMetrics } from '../metrics/metrics.js';
import type { HealthRegistry } from '../health/health.js';

export interface DrillCheckOptions {
  health: HealthRegistry;
  store: MetaAccess;
  clock: Clock;
  metrics: RampartMetrics;
  config: Pick<RampartConfig, 'drills' | 'database' | 'cluster' | 'backup' | 'keys' | 'ssh' | 'regions'>;
}

export function registerDrillCheck(o: DrillCheckOptions): void {
  const scenarios = applicableScenarios(o.config);
  o.health.add('drills', async () => {
    const now = o.clock.now();
    let start = await o.store.getMeta(DRILL_SCHEDULE_START_META);
    if (!start || Number.isNaN(Date.parse(start))) {
      start = now.toISOString();
      await o.store.setMeta(DRILL_SCHEDULE_START_META, start);
    }
    const summaries = await readDrillSummaries(o.store);
    for (const [scenario, s] of Object.entries(summaries)) {
      if (s?.lastSuccessAt) o.metrics.drillLastSuccess.set({ scenario }, Date.parse(s.lastSuccessAt) / 1000);
      if (s && s.rtoSeconds !== null) o.metrics.drillRto.set({ scenario }, s.rtoSeconds);
    }
    const states = evaluateDrillSchedule({ scenarios, scheduleDays: o.config.drills.scheduleDays, summaries, scheduleStart: new Date(start), now });
    const bad = states.filter((s) => s.state === 'overdue' || s.state === 'failed');
    if (bad.length) return { status: 'warn', detail: `${bad.map((s) => s.detail).join('; ')}: \`rampart drill run SCENARIO\`` };
    const done = states.filter((s) => s.state === 'ok').length;
    return { status: 'pass', detail: `${done} of ${states.length} applicable scenario(s) passed within their schedule${states.length > done ? `; ${states.filter((s) => s.state === 'not-yet-due').map((s) => s.detail).join('; ')}` : ''}` };
  }, { critical: false });
}
