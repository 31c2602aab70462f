/**
 * The node's last known health, refreshed every 5 s and by every /readyz:
 * what the node registry advertises to the other nodes and HAProxy.
 */
import type { Clock } from '../core/clock.js';
import { Periodic } from '../core/periodic.js';
import type { HealthRegistry, HealthStatus } from './health.js';

export class HealthMonitor {
  private status: HealthStatus | 'starting' = 'starting';
  private readonly jobs: Periodic;

  constructor(private readonly health: HealthRegistry, private readonly clock: Clock, onError: (e: unknown) => void) {
    this.jobs = new Periodic(onError);
  }

  last(): HealthStatus | 'starting' { return this.status; }

  note(s: HealthStatus): void { this.status = s; }

  start(everyMs = 5_000): void {
    this.jobs.every(everyMs, async () => { this.note((await this.health.run(this.clock.now())).status); });
  }

  stop(): void {
    this.jobs.stop();
  }
}
