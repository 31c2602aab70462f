/**
 * The tidy schedule: when tidy is on (archiveExpiredAfterDays > 0) and
 * scheduleMinutes > 0, the leader (or a single node) runs it that often.
 * The time of the last run is kept in the database (meta), shared by a
 * cluster, so a new leader or a restarted node keeps the rhythm.
 */
import type { Logger } from 'pino';
import { SYSTEM_ACTOR } from '../core/actor.js';
import type { Clock } from '../core/clock.js';
import { Periodic } from '../core/periodic.js';
import type { MetaStore } from '../storage/store.js';
import type { TidyService } from './tidy.js';

export const LAST_TIDY_META = 'tidy.lastRun';

export interface TidySchedulerOptions {
  store: MetaStore;
  clock: Clock;
  scheduleMinutes: number;
  service: () => TidyService;
  enabled: boolean;
  isLeader: () => boolean;
  log: Logger;
}

export class TidyScheduler {
  private running = false;
  private readonly jobs: Periodic;

  constructor(private readonly o: TidySchedulerOptions) {
    this.jobs = new Periodic((e) => o.log.error({ err: e }, 'tidy failed'));
  }

  start(): void {
    if (this.o.enabled && this.o.scheduleMinutes > 0) this.jobs.every(60_000, () => this.tick());
  }

  stop(): void { this.jobs.stop(); }

  /** Runs tidy when due on the leader; returns whether it ran. */
  async tick(): Promise<boolean> {
    if (this.running || !this.o.enabled || this.o.scheduleMinutes <= 0 || !this.o.isLeader()) return false;
    const last = Number(await this.o.store.getMeta(LAST_TIDY_META) ?? 0);
    const now = this.o.clock.now().getTime();
    if (now - last < this.o.scheduleMinutes * 60_000) return false;
    this.running = true;
    try {
      const r = await this.o.service().run(SYSTEM_ACTOR);
      await this.o.store.setMeta(LAST_TIDY_META, String(now));
      if (r.archived) this.o.log.info({ archived: r.archived, objects: r.objects.length, elapsedMs: r.elapsedMs }, 'tidy archived expired certificates');
      return true;
    } finally {
      this.running = false;
    }
  }
}
