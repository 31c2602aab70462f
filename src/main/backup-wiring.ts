/** A BackupService for an open node: its store, audit log, metrics, configured targets and backup secret. */
import type { RampartNode } from './node.js';
import { RAMPART_VERSION } from './node.js';
import { backupSecret } from '../backup/backup-secret.js';
import { BackupService } from '../backup/backup-service.js';
import { createTargets } from '../backup/targets.js';

export function backupServiceFor(node: RampartNode, env: NodeJS.ProcessEnv = process.env): BackupService {
  const { config } = node;
  return new BackupService({
    config, store: node.store, targets: createTargets(config, env), secret: backupSecret(config, env, node.secret).secret,
    nodeId: node.cluster.nodeId, version: RAMPART_VERSION, clock: node.clock, dataDir: node.paths.dataDir,
    keysDir: node.store.kind === 'sqlite' && config.keys.backend === 'software' ? node.paths.keysDir : null,
    audit: node.audit, metrics: node.metrics, env,
  });
}
