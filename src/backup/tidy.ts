/**
 * Tidy (bounded growth): certificates expired for longer than
 * `archiveExpiredAfterDays` are written, a batch at a time, to an encrypted
 * archive object on the backup targets (tidy-archive.ts), then removed from
 * the database with their idempotency claims and revocation events in one
 * short transaction that also appends the batch's audit entry (count, serial
 * range, archive object). The archive is written before the delete: a crash
 * between the two leaves the rows in place and the next run archives them
 * again (an extra object, nothing lost). Only the leader (or a single node)
 * runs it: each delete is fenced by the leader lease. Between batches the
 * event loop is yielded to, so OCSP keeps answering; each batch is a bounded
 * read and a delete of `batchSize` rows.
 *
 * After removal OCSP answers "unknown" for an archived serial (RFC 6960
 * 2.2: the responder does not know it); CRLs do not change, because a
 * revoked certificate leaves them at expiry already (iterateRevoked).
 */
import { setImmediate as yieldLoop } from 'node:timers/promises';
import type { Actor } from '../core/actor.js';
import type { Clock } from '../core/clock.js';
import type { Fence } from '../core/types.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { RampartMetrics } from '../metrics/metrics.js';
import type { TidyCapable, TidyCursor } from '../storage/store.js';
import type { BackupTarget } from './target.js';
import { archiveKek, archiveKey, writeArchive } from './tidy-archive.js';

export interface TidySettings {
  archiveExpiredAfterDays: number;
  batchSize: number;
}

export interface TidyOptions {
  store: TidyCapable;
  audit: AuditLog;
  clock: Clock;
  targets: BackupTarget[];
  secret: Uint8Array;
  settings: TidySettings;
  /** The leader fence (throws notWritable on a node that is not the leader). */
  fence: () => Fence | undefined;
  metrics?: RampartMetrics;
}

export interface TidyResult {
  dryRun: boolean;
  /** Certificates with notAfter before this were eligible. */
  cutoff: string;
  archived: number;
  batches: number;
  objects: string[];
  archiveBytes: number;
  /** Steps that reclaimed the removed rows' entries in the name-search index (0 when none were removed). */
  searchIndexSteps: number;
  elapsedMs: number;
}

const DAY = 86_400_000;
/** A run stops after this many batches (10M rows at the largest batch size); the next run continues. */
const MAX_BATCHES = 10_000;

export class TidyService {
  /** The last run's result (metrics). */
  last: (TidyResult & { at: Date }) | null = null;
  /** Certificates archived by this process since it started (metrics). */
  archivedTotal = 0;

  constructor(private readonly o: TidyOptions) {}

  get enabled(): boolean { return this.o.settings.archiveExpiredAfterDays > 0; }

  async run(actor: Actor, opts: { dryRun?: boolean } = {}): Promise<TidyResult> {
    const t0 = performance.now();
    const now = this.o.clock.now();
    const cutoff = new Date(now.getTime() - this.o.settings.archiveExpiredAfterDays * DAY);
    const result: TidyResult = { dryRun: !!opts.dryRun, cutoff: cutoff.toISOString(), archived: 0, batches: 0, objects: [], archiveBytes: 0, searchIndexSteps: 0, elapsedMs: 0 };
    if (!opts.dryRun) this.o.fence();
    const kek = opts.dryRun ? null : await archiveKek(this.o.secret);
    let cursor: TidyCursor | undefined;
    for (let i = 0; i < MAX_BATCHES; i++) {
      const rows = await this.o.store.expiredCertificates(cutoff, this.o.settings.batchSize, opts.dryRun ? cursor : undefined);
      if (!rows.length) break;
      result.batches++;
      if (opts.dryRun) {
        result.archived += rows.length;
        const lastRow = rows[rows.length - 1]!;
        cursor = { notAfter: lastRow.notAfter, serial: lastRow.serial };
      } else {
        const fence = this.o.fence();
        const key = archiveKey(this.o.clock.now(), rows);
        result.archiveBytes += await writeArchive(this.o.targets, kek!, key, rows);
        const serials = rows.map((r) => r.serial);
        const removed = await this.o.store.removeCertificates(serials, this.o.audit.builder({
          actor: actor.id, source: actor.source, channel: actor.channel, action: 'certificate.archive', target: `archive:${key}`, outcome: 'success',
          details: {
            count: rows.length, firstSerial: serials[0], lastSerial: serials[serials.length - 1],
            oldestNotAfter: rows[0]!.notAfter.toISOString(), newestNotAfter: rows[rows.length - 1]!.notAfter.toISOString(),
            object: key, targets: this.o.targets.map((t) => t.name),
          },
        }), fence);
        result.archived += removed;
        result.objects.push(key);
        this.archivedTotal += removed;
        this.o.metrics?.tidyArchived.inc(removed);
      }
      await yieldLoop();
    }
    // Removed rows stay in the name-search index until its segments are merged: every name search walked past them.
    if (!opts.dryRun && result.archived > 0) result.searchIndexSteps = await this.o.store.compactSearchIndex();
    result.elapsedMs = Math.round(performance.now() - t0);
    if (!opts.dryRun) {
      this.last = { ...result, at: now };
      this.o.metrics?.tidyLastRun.set(Date.now() / 1000);
      this.o.metrics?.tidyLastArchived.set(result.archived);
    }
    return result;
  }
}
