/** The drill scenarios by name, in DRILL_SCENARIOS order. */
import { DRILL_SCENARIOS } from '../../config/schema.js';
import type { DrillScenarioName } from '../drill-result.js';
import type { DrillScenario } from '../drill-scenario.js';
import { keyRestore } from './key-restore.js';
import { nodeLoss } from './node-loss.js';
import { restoreLatest } from './restore-latest.js';
import { pointInTime } from './point-in-time.js';
import { databaseFailover } from './database-failover.js';
import { hsmFailure } from './hsm-failure.js';
import { sshKeyRestore } from './ssh-key-restore.js';
import { databaseCorruption } from './database-corruption.js';
import { datacenterLoss } from './datacenter-loss.js';
import { databaseCorruptionPostgres } from './database-corruption-postgres.js';
import { rootKeyLoss } from './root-key-loss.js';

export const SCENARIOS: Record<DrillScenarioName, DrillScenario> = {
  'restore-latest': restoreLatest,
  'point-in-time': pointInTime,
  'key-restore': keyRestore,
  'node-loss': nodeLoss,
  'database-failover': databaseFailover,
  'hsm-failure': hsmFailure,
  'ssh-key-restore': sshKeyRestore,
  'database-corruption': databaseCorruption,
  'datacenter-loss': datacenterLoss,
  'database-corruption-postgres': databaseCorruptionPostgres,
  'root-key-loss': rootKeyLoss,
};

export function scenarioByName(name: string): DrillScenario {
  if (!(DRILL_SCENARIOS as readonly string[]).includes(name)) {
    throw new Error(`unknown drill scenario "${name}" (known: ${DRILL_SCENARIOS.join(', ')})`);
  }
  return SCENARIOS[name as DrillScenarioName];
}
