/**
 * Sets up a node's audit forwarding and chain verification from the `audit`
 * configuration: the destinations, the forwarder (ticked by the node on the
 * leader), the chain verifier, the `auditChain` health check (always) and the
 * `auditForward` one (when destinations are configured), and the
 * `rampart_audit_*` metrics. Returns the forwarder.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Clock } from '../core/clock.js';
import { Periodic } from '../core/periodic.js';
import type { HealthRegistry } from '../health/health.js';
import { registerAuditChainCheck, registerAuditForwardCheck } from './audit-health.js';
import { registerAuditMetrics } from './audit-metrics.js';
import { ChainVerifier } from './chain-verifier.js';
import { AuditForwarder, type ForwardMetaStore } from './forward/audit-forwarder.js';
import type { AuditFollowStore } from './forward/audit-reader.js';
import type { ForwardContext } from './forward/audit-sink.js';
import { createAuditSinks } from './forward/create-sinks.js';
import type { AuditConfig } from '../config/audit-forward-config.js';

export interface AuditMonitoringOptions {
  config: AuditConfig;
  dataDir: string;
  store: AuditFollowStore & ForwardMetaStore;
  clock: Clock;
  log: Logger;
  health: HealthRegistry;
  registry: Registry;
  context: () => ForwardContext;
}

export function setUpAuditMonitoring(o: AuditMonitoringOptions): AuditForwarder {
  const forwarder = new AuditForwarder({
    store: o.store, sinks: createAuditSinks(o.config.forward, { dataDir: o.dataDir, context: o.context }), clock: o.clock,
    log: o.log, batchSize: o.config.forwardBatchSize, retryMaxMs: o.config.forwardRetryMaxSeconds * 1000,
  });
  const verifier = new ChainVerifier({ store: o.store, clock: o.clock, everyMs: o.config.verifyEveryMinutes * 60_000, fullEveryRuns: o.config.fullVerifyEveryRuns });
  registerAuditChainCheck(o.health, verifier);
  if (forwarder.sinkCount) registerAuditForwardCheck(o.health, forwarder);
  registerAuditMetrics(o.registry, { verifier, forwarder });
  return forwarder;
}

/**
 * Audit forwarding follows the audit table on the leader (or the single
 * node) only; the others stand by (and close their connections).
 */
export function scheduleAuditForwarding(forwarder: AuditForwarder, o: { everySeconds: number; isLeader: () => boolean; log: Logger }): Periodic {
  const jobs = new Periodic((e) => o.log.error({ err: e }, 'background job failed'));
  jobs.every(o.everySeconds * 1000, () => (o.isLeader() ? forwarder.tick() : forwarder.standBy()));
  return jobs;
}
