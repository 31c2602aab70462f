/**
 * Metrics of the abuse and overload protection, on the node's registry:
 *
 * - rampart_http_rate_limited_total{listener,key}: requests answered 429, by
 *   the bucket that was empty (ip, token, auth_failures, acme_ip);
 * - rampart_http_shed_total{class,reason}: requests answered 503 by the
 *   overload governor (reason in_flight or event_loop);
 * - rampart_http_connections_dropped_total{listener}: connections closed at
 *   once because the listener was at maxConnections;
 * - rampart_http_in_flight{class}, rampart_http_event_loop_delay_seconds and
 *   rampart_http_rate_limit_keys{limiter}: the governor's inputs and the
 *   limiters' memory, read at scrape time.
 *
 * Registering twice on one registry keeps the counters already there and
 * points the gauges at the new governor and limiters.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { REQUEST_CLASSES, type OverloadGovernor } from './overload-governor.js';
import type { TokenBuckets } from './token-bucket.js';

export interface LimitMetrics {
  rateLimited: Counter<'listener' | 'key'>;
  shed: Counter<'class' | 'reason'>;
  connectionsDropped: Counter<'listener'>;
}

export function registerLimitMetrics(
  registry: Registry,
  governor: OverloadGovernor,
  limiters: Record<string, TokenBuckets>,
): LimitMetrics {
  const existing = <T>(name: string): T | undefined => registry.getSingleMetric(name) as T | undefined;
  const rateLimited = existing<Counter<'listener' | 'key'>>('rampart_http_rate_limited_total') ?? new Counter({
    name: 'rampart_http_rate_limited_total', help: 'Requests refused with 429 by a rate limit, by listener and limiter key', labelNames: ['listener', 'key'], registers: [registry],
  });
  const shed = existing<Counter<'class' | 'reason'>>('rampart_http_shed_total') ?? new Counter({
    name: 'rampart_http_shed_total', help: 'Requests shed with 503 under overload, by request class and reason', labelNames: ['class', 'reason'], registers: [registry],
  });
  const connectionsDropped = existing<Counter<'listener'>>('rampart_http_connections_dropped_total') ?? new Counter({
    name: 'rampart_http_connections_dropped_total', help: 'Connections closed at once because the listener was at maxConnections', labelNames: ['listener'], registers: [registry],
  });
  // Gauges read this governor and these limiters: a second registration replaces them.
  for (const name of ['rampart_http_in_flight', 'rampart_http_event_loop_delay_seconds', 'rampart_http_rate_limit_keys']) registry.removeSingleMetric(name);
  new Gauge({
    name: 'rampart_http_in_flight', help: 'Requests being processed now, by request class', labelNames: ['class'], registers: [registry],
    collect() { for (const c of REQUEST_CLASSES) this.set({ class: c }, governor.inFlight(c)); },
  });
  new Gauge({
    name: 'rampart_http_event_loop_delay_seconds', help: 'Mean event-loop delay over the last sample window, as the overload governor sees it', registers: [registry],
    collect() { this.set(governor.delayMs / 1000); },
  });
  new Gauge({
    name: 'rampart_http_rate_limit_keys', help: 'Buckets (addresses or tokens) each rate limiter holds now', labelNames: ['limiter'], registers: [registry],
    collect() { for (const [name, l] of Object.entries(limiters)) this.set({ limiter: name }, l.size); },
  });
  return { rateLimited, shed, connectionsDropped };
}
