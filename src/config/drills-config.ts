/** DR drill settings (`drills.*`): how often each scenario must pass and the tier it is measured against. */
import { z } from 'zod';

const int = (min: number, max: number) => z.number().int().min(min).max(max);

export const DRILL_SCENARIOS = ['restore-latest', 'point-in-time', 'key-restore', 'node-loss', 'database-failover', 'hsm-failure', 'database-corruption', 'ssh-key-restore', 'datacenter-loss', 'database-corruption-postgres', 'root-key-loss'] as const;

const DEFAULT_DRILL_DAYS: Record<(typeof DRILL_SCENARIOS)[number], number> = {
  'restore-latest': 30, 'point-in-time': 90, 'key-restore': 90, 'node-loss': 30, 'database-failover': 90, 'hsm-failure': 90, 'database-corruption': 90, 'ssh-key-restore': 90, 'datacenter-loss': 180, 'database-corruption-postgres': 90, 'root-key-loss': 365,
};
const DEFAULT_DRILL_TIERS: Record<(typeof DRILL_SCENARIOS)[number], string> = {
  'restore-latest': 'backup', 'point-in-time': 'backup', 'key-restore': 'root-ca', 'node-loss': 'issuance', 'database-failover': 'issuance', 'hsm-failure': 'hsm', 'database-corruption': 'database-corruption', 'ssh-key-restore': 'root-ca', 'datacenter-loss': 'datacenter-loss', 'database-corruption-postgres': 'database-corruption', 'root-key-loss': 'root-ca',
};
/** A per-scenario map: the scenarios a configuration names override the defaults; the others keep theirs (a scenario added later needs no config change). */
const perScenario = <T extends z.ZodType>(value: T, defaults: Record<string, unknown>) => z.preprocess(
  (v) => (v === undefined || v === null ? { ...defaults } : typeof v === 'object' && !Array.isArray(v) ? { ...defaults, ...(v as object) } : v),
  z.record(z.enum(DRILL_SCENARIOS), value),
);

export const drillsSchema = z.strictObject({
  scheduleDays: perScenario(int(1, 366), DEFAULT_DRILL_DAYS).describe('How often each scenario must pass; one overdue makes health degraded. Scenarios not named keep their default.'),
  tier: perScenario(z.string(), DEFAULT_DRILL_TIERS).describe('Tier whose RTO/RPO each scenario is measured against. Scenarios not named keep their default.'),
}).describe('DR drills (`rampart drill run|history`).');
