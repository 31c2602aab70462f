/**
 * The backup schedule. A backup is due when the newest one (the record in
 * the database, shared by a cluster) is `scheduleMinutes` old or older; with
 * none yet, once the CA itself (its first audit entry) is that old. So a
 * brand-new node does not back up (or warn, see health/backup-check.ts) at
 * start-up, and a node restarted often still backs up on time. Only the
 * leader (or a single node) runs it; each run is followed by a prune.
 */
import { Periodic } from '../core/periodic.js';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { RampartMetrics } from '../metrics/metrics.js';
import { SYSTEM_ACTOR } from '../core/actor.js';
import type { MetaStore, AuditStore } from '../storage/store.js';
import { LAST_BACKUP_META, type BackupService, type LastBackup } from './backup-service.js';

export async function readLastBackup(store: MetaStore): Promise<LastBackup | null> {
  const raw = await store.getMeta(LAST_BACKUP_META);
  if (!raw) return null;
  try { return JSON.parse(raw) as LastBackup; } catch { return null; }
}

/** When this CA came into being: its first audit entry (null for an empty database). */
export async function caCreatedAt(store: AuditStore): Promise<Date | null> {
  const known = createdCache.get(store);
  if (known) return known;
  for await (const e of store.iterateAudit()) {
    createdCache.set(store, e.time);
    return e.time;
  }
  return null;
}
const createdCache = new WeakMap<AuditStore, Date>();

/** The time from which backup age is measured: the newest backup, else the CA's creation. */
export async function backupReference(store: MetaStore & AuditStore): Promise<{ last: LastBackup | null; since: Date | null }> {
  const last = await readLastBackup(store);
  return { last, since: last ? new Date(last.time) : await caCreatedAt(store) };
}

export interface BackupSchedulerOptions {
  store: MetaStore & AuditStore;
  clock: Clock;
  scheduleMinutes: number;
  service: () => BackupService;
  /** Whether this node does leader work now (leader, or a single node). */
  isLeader: () => boolean;
  metrics?: RampartMetrics;
  log: Logger;
}

export class BackupScheduler {
  private running = false;

  private readonly jobs: Periodic;

  constructor(private readonly o: BackupSchedulerOptions) {
    this.jobs = new Periodic((e) => o.log.error({ err: e }, 'background job failed'));
  }

  /** Checks every minute whether a backup is due (the leader, or a single node, writes it). */
  start(): void {
    this.jobs.every(60_000, () => this.tick());
  }

  stop(): void {
    this.jobs.stop();
  }

  /** Runs a backup (and prune) when one is due; returns whether it ran. */
  async tick(): Promise<boolean> {
    if (this.running || this.o.scheduleMinutes <= 0) return false;
    const { last, since } = await backupReference(this.o.store);
    if (last) this.o.metrics?.backupLastSuccess.set(new Date(last.time).getTime() / 1000);
    if (!this.o.isLeader() || !since) return false;
    if (this.o.clock.now().getTime() - since.getTime() < this.o.scheduleMinutes * 60_000) return false;
    this.running = true;
    try {
      const svc = this.o.service();
      const r = await svc.create(SYSTEM_ACTOR);
      if (!r.ok) {
        this.o.log.error({ backup: r.manifest.id, targets: r.targets }, 'scheduled backup failed on a target');
        return true;
      }
      this.o.log.info({ backup: r.manifest.id, sizeBytes: r.sizeBytes, durationMs: r.manifest.durationMs }, 'scheduled backup written');
      const p = await svc.prune(SYSTEM_ACTOR);
      if (p.deleted.length) this.o.log.info({ deleted: p.deleted }, 'old backups pruned');
      return true;
    } finally {
      this.running = false;
    }
  }
}
