/**
 * Health: named checks aggregated to healthy / degraded / unhealthy. A
 * failing critical check makes the node unhealthy (not ready); a warning or
 * a failing non-critical check makes it degraded (still ready).
 */
export type CheckStatus = 'pass' | 'warn' | 'fail';
export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

export interface CheckResult {
  status: CheckStatus;
  detail: string;
  /** A failure of a critical check makes the node unhealthy. */
  critical: boolean;
}

export type HealthCheck = () => Promise<Omit<CheckResult, 'critical'>>;

export interface HealthReport {
  status: HealthStatus;
  checks: Record<string, CheckResult & { durationMs: number }>;
  time: string;
}

export class HealthRegistry {
  private readonly checks = new Map<string, { fn: HealthCheck; critical: boolean; timeoutMs: number }>();

  add(name: string, fn: HealthCheck, opts: { critical: boolean; timeoutMs?: number }): void {
    this.checks.set(name, { fn, critical: opts.critical, timeoutMs: opts.timeoutMs ?? 2000 });
  }

  async run(now: Date = new Date()): Promise<HealthReport> {
    const entries = await Promise.all([...this.checks].map(async ([name, c]) => {
      const t0 = performance.now();
      let r: Omit<CheckResult, 'critical'>;
      let timer: NodeJS.Timeout | undefined;
      try {
        r = await Promise.race([
          c.fn(),
          new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error(`timed out after ${c.timeoutMs} ms`)), c.timeoutMs); }),
        ]);
      } catch (e) {
        r = { status: 'fail', detail: (e as Error).message };
      } finally {
        clearTimeout(timer);
      }
      return [name, { ...r, critical: c.critical, durationMs: Math.round((performance.now() - t0) * 10) / 10 }] as const;
    }));
    const checks = Object.fromEntries(entries);
    let status: HealthStatus = 'healthy';
    for (const c of Object.values(checks)) {
      if (c.status === 'fail' && c.critical) { status = 'unhealthy'; break; }
      if (c.status !== 'pass') status = 'degraded';
    }
    return { status, checks, time: now.toISOString() };
  }
}
