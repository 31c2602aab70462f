/**
 * One node's limiters and overload governor, shared by both listeners: the
 * event-loop delay and the in-flight counts are properties of the process,
 * so the HTTP and HTTPS listeners must see the same governor. Created and
 * closed by startServers (src/http/servers.ts).
 */
import type { Registry } from 'prom-client';
import type { LimitsConfig } from '../../config/limits-config.js';
import { registerLimitMetrics, type LimitMetrics } from './limit-metrics.js';
import { OverloadGovernor } from './overload-governor.js';
import { TokenBuckets } from './token-bucket.js';

export interface NodeLimits {
  readonly config: LimitsConfig;
  readonly governor: OverloadGovernor;
  /** REST API requests per client address. */
  readonly perIp: TokenBuckets;
  /** REST API requests per bearer token. */
  readonly perToken: TokenBuckets;
  /** Failed authentications (401) per client address. */
  readonly authFailures: TokenBuckets;
  /** ACME requests per client address. */
  readonly acmePerIp: TokenBuckets;
  readonly metrics: LimitMetrics;
  /** Stops the event-loop sampler. */
  close(): void;
}

export function createNodeLimits(config: LimitsConfig, registry: Registry): NodeLimits {
  const { api, overload } = config;
  const governor = new OverloadGovernor({
    maxInFlight: overload.maxInFlight,
    shedApiMs: overload.eventLoopDelay.shedApiMs,
    shedValidationMs: overload.eventLoopDelay.shedValidationMs,
    sampleMs: overload.eventLoopDelay.sampleMs,
    delayMinInFlight: overload.eventLoopDelay.minInFlight,
    retryAfterSeconds: overload.retryAfterSeconds,
  });
  const perIp = new TokenBuckets(api.perIp, api.maxTrackedKeys);
  const perToken = new TokenBuckets(api.perToken, api.maxTrackedKeys);
  const authFailures = new TokenBuckets(api.authFailuresPerIp, api.maxTrackedKeys);
  const acmePerIp = new TokenBuckets(api.acmePerIp, api.maxTrackedKeys);
  const metrics = registerLimitMetrics(registry, governor, { ip: perIp, token: perToken, auth_failures: authFailures, acme_ip: acmePerIp });
  governor.start();
  return {
    config, governor, perIp, perToken, authFailures, acmePerIp, metrics,
    close() { governor.stop(); },
  };
}
