/** A BackupService for an open node: its store, audit log, metrics, configured targets and backup secret. */
import type { AuditLog } from '../audit/audit-log.js';
import type { RampartConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import { RAMPART_VERSION } from '../core/version.js';
import type { RampartMetrics } from '../metrics/metrics.js';
import type { Store } from '../storage/store.js';
import { backupSecret } from '../backup/backup-secret.js';
import { BackupService } from '../backup/backup-service.js';
import { createTargets, pickTargets } from '../backup/targets.js';
import { TidyService } from '../backup/tidy.js';
import type { Fence } from '../core/types.js';

/** The parts of an open node a backup service is made of. */
export interface BackupSources {
  config: RampartConfig;
  store: Store;
  secret: Uint8Array;
  cluster: { nodeId: string };
  clock: Clock;
  paths: { dataDir: string; keysDir: string };
  audit: AuditLog;
  metrics: RampartMetrics;
}

export function backupServiceFor(node: BackupSources, env: NodeJS.ProcessEnv = process.env): BackupService {
  const { config } = node;
  return new BackupService({
    config, store: node.store, targets: createTargets(config, env), secret: backupSecret(config, env, node.secret).secret,
    nodeId: node.cluster.nodeId, version: RAMPART_VERSION, clock: node.clock, dataDir: node.paths.dataDir,
    keysDir: node.store.kind === 'sqlite' && config.keys.backend === 'software' ? node.paths.keysDir : null,
    audit: node.audit, metrics: node.metrics, env,
  });
}

/** A TidyService for an open node: archives go to tidy.target (default every backup target), fenced by `fence`. */
export function tidyServiceFor(node: BackupSources, fence: () => Fence | undefined, env: NodeJS.ProcessEnv = process.env): TidyService {
  const { config } = node;
  return new TidyService({
    store: node.store, audit: node.audit, clock: node.clock, targets: pickTargets(createTargets(config, env), config.tidy.target),
    secret: backupSecret(config, env, node.secret).secret, settings: config.tidy, fence, metrics: node.metrics,
  });
}
