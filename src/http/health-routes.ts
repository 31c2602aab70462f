/** /healthz (liveness), /readyz (readiness with per-check details) and /metrics. */
import type { FastifyInstance } from 'fastify';
import type { HealthRegistry, HealthReport } from '../health/health.js';
import type { RampartMetrics } from '../metrics/metrics.js';

export interface HealthRoutesOptions {
  health: HealthRegistry;
  metrics: RampartMetrics;
  onReport?: (r: HealthReport) => void;
  /** Whether this node accepts writes now (active-passive standbys do not). */
  canWrite?: () => boolean;
  /** Extra members of /healthz (still 200: the process is alive), e.g. whether it issues. */
  liveness?: () => Record<string, unknown>;
}

export async function healthRoutes(app: FastifyInstance, o: HealthRoutesOptions): Promise<void> {
  app.get('/healthz', async () => ({ status: 'alive', ...(o.liveness?.() ?? {}) }));
  // /readyz: ready to serve (200 healthy or degraded, 503 unhealthy).
  // /readyz?write=1: ready to take issuance and revocation (also 503 on a standby).
  app.get<{ Querystring: { write?: string } }>('/readyz', async (req, reply) => {
    const r = await o.health.run();
    o.onReport?.(r);
    o.metrics.health.set(r.status === 'healthy' ? 2 : r.status === 'degraded' ? 1 : 0);
    for (const [name, c] of Object.entries(r.checks)) o.metrics.healthCheck.set({ check: name }, c.status === 'pass' ? 1 : c.status === 'warn' ? 0.5 : 0);
    const writable = o.canWrite ? o.canWrite() : true;
    const wantWrite = req.query.write === '1' || req.query.write === 'true';
    const ok = r.status !== 'unhealthy' && (!wantWrite || writable);
    return reply.code(ok ? 200 : 503).header('cache-control', 'no-store').send({ ...r, writable });
  });
  app.get('/metrics', async (_req, reply) => {
    reply.type(o.metrics.registry.contentType);
    return o.metrics.registry.metrics();
  });
}
