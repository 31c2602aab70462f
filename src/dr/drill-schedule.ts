/**
 * Which drill scenarios are due. A scenario is overdue when its last passed
 * run is older than drills.scheduleDays; one that never passed counts from
 * the moment the schedule started on this node (the first health check that
 * ran the drills check, stored as `drill.schedule-start`), so a brand-new
 * node is not degraded on day one but is after its first period without a
 * drill. Scenarios that do not apply to the node's configuration are left out.
 */
import { DRILL_SCENARIOS, type RampartConfig } from '../config/schema.js';
import type { DrillScenarioName, DrillSummary } from './drill-result.js';

const DAY = 86_400_000;

/** The scenarios that exercise something this node's configuration has. */
export function applicableScenarios(config: Pick<RampartConfig, 'database' | 'cluster' | 'backup' | 'keys' | 'ssh' | 'regions'>): DrillScenarioName[] {
  const pg = config.database.type === 'postgres';
  return DRILL_SCENARIOS.filter((s) => {
    switch (s) {
      case 'restore-latest': return true;
      case 'key-restore': return config.keys.backend === 'software' || config.keys.pkcs11.extractable;
      case 'node-loss': return pg || config.cluster.mode !== 'single';
      case 'database-failover': return pg;
      case 'point-in-time': return pg && config.backup.walArchive;
      case 'hsm-failure': return config.keys.backend === 'pkcs11' && config.keys.pkcs11.extractable;
      // Self-contained (its own SQLite node): every installation rehearses restoring a damaged database.
      case 'database-corruption': return true;
      // A node that signs SSH certificates (it has SSH profiles) rehearses getting its SSH CA key back.
      // Self-contained (its own node and lego clients): every installation rehearses losing its root, yearly by default.
      case 'root-key-loss': return true;
      case 'ssh-key-restore': return Object.keys(config.ssh.profiles).length > 0;
      // A multi-region deployment rehearses losing a region (the drill builds its own two regions).
      case 'datacenter-loss': return config.regions !== undefined;
      // A PostgreSQL node rehearses the same on its engine: recovery to before the damage from the WAL archive.
      case 'database-corruption-postgres': return pg;
    }
  });
}

export interface ScenarioState {
  scenario: DrillScenarioName;
  state: 'ok' | 'overdue' | 'failed' | 'not-yet-due';
  detail: string;
}

export function evaluateDrillSchedule(o: {
  scenarios: DrillScenarioName[];
  scheduleDays: Partial<Record<DrillScenarioName, number>>;
  summaries: Record<DrillScenarioName, DrillSummary | null>;
  scheduleStart: Date;
  now: Date;
}): ScenarioState[] {
  return o.scenarios.map((scenario) => {
    const days = o.scheduleDays[scenario] ?? 30;
    const s = o.summaries[scenario];
    const age = (iso: string): number => (o.now.getTime() - new Date(iso).getTime()) / DAY;
    if (s && s.outcome === 'failed') return { scenario, state: 'failed', detail: `${scenario}: last run failed ${Math.floor(age(s.time))} day(s) ago (${s.error ?? 'see drill history'})` };
    if (s?.lastSuccessAt) {
      const a = age(s.lastSuccessAt);
      return a > days
        ? { scenario, state: 'overdue', detail: `${scenario}: last passed ${Math.floor(a)} days ago, due every ${days}` }
        : { scenario, state: 'ok', detail: `${scenario}: passed ${Math.floor(a)} day(s) ago` };
    }
    const since = (o.now.getTime() - o.scheduleStart.getTime()) / DAY;
    return since > days
      ? { scenario, state: 'overdue', detail: `${scenario}: never passed, due every ${days} days` }
      : { scenario, state: 'not-yet-due', detail: `${scenario}: not run yet, due within ${Math.ceil(days - since)} day(s)` };
  });
}
