/** /healthz (liveness), /readyz (readiness with per-check details) and /metrics. */
import type { FastifyInstance } from 'fastify';
import type { HealthRegistry, HealthReport } from '../health/health.js';
import type { RampartMetrics } from '../metrics/metrics.js';

export interface HealthRoutesOptions {
  health: HealthRegistry;
  metrics: RampartMetrics;
  onReport?: (r: HealthReport) => void;
}

export async function healthRoutes(app: FastifyInstance, o: HealthRoutesOptions): Promise<void> {
  app.get('/healthz', async () => ({ status: 'alive' }));
  app.get('/readyz', async (_req, reply) => {
    const r = await o.health.run();
    o.onReport?.(r);
    o.metrics.health.set(r.status === 'healthy' ? 2 : r.status === 'degraded' ? 1 : 0);
    for (const [name, c] of Object.entries(r.checks)) o.metrics.healthCheck.set({ check: name }, c.status === 'pass' ? 1 : c.status === 'warn' ? 0.5 : 0);
    return reply.code(r.status === 'unhealthy' ? 503 : 200).header('cache-control', 'no-store').send(r);
  });
  app.get('/metrics', async (_req, reply) => {
    reply.type(o.metrics.registry.contentType);
    return o.metrics.registry.metrics();
  });
}
