/**
 * Keeps validation in step with issuance and revocation: a revocation on
 * this node drops the cached OCSP answer synchronously, then re-signs it; a
 * new certificate gets its OCSP answer signed ahead of any request; and
 * revocations made by other processes (the CLI, other nodes) are picked up
 * from the database every second: their cached answers are dropped and the
 * CRL refreshed. Issuer changes rebuild the responder's CertID index.
 * The poll runs every 100 ms (one indexed query; never two at once), so a
 * revocation made elsewhere stops being answered "good" here within about
 * 100 ms plus the query's time.
 */
import type { Logger } from 'pino';
import type { CaEvents } from '../core/events.js';
import { Periodic } from '../core/periodic.js';
import { withDeadline } from '../core/wait.js';
import type { RampartMetrics } from '../metrics/metrics.js';
import type { Store } from '../storage/store.js';
import type { CrlService } from './crl/crl-service.js';
import type { OcspResponder } from './ocsp/ocsp-responder.js';
import { PresignQueue } from './ocsp/presign-queue.js';

/** How often revocations made by other processes are looked for. */
const POLL_MS = 100;
/** A poll that has not answered by then is abandoned (its result dropped; the next poll reads from the same point). */
const POLL_DEADLINE_MS = 2000;

export interface RevocationFollowerOptions {
  store: Store;
  ocsp: OcspResponder;
  crl: CrlService;
  events: CaEvents;
  metrics: RampartMetrics;
  log: Logger;
}

export class RevocationFollower {
  private seq = 0;
  private readonly handledLocally = new Set<string>();
  private readonly jobs: Periodic;
  /** First OCSP answers of new certificates, signed after the issuance was answered. */
  readonly presigns: PresignQueue;

  constructor(private readonly o: RevocationFollowerOptions) {
    this.jobs = new Periodic((e) => o.log.error({ err: e }, 'background job failed'));
    o.events.on('revoked', (rec) => {
      o.ocsp.invalidate(rec.issuerId, rec.serial);
      this.handledLocally.add(rec.serial);
      o.metrics.revoked.inc({ reason: String(rec.revocationReason ?? 0) });
      void o.ocsp.presign(rec.issuerId, rec.serial).catch((e) => o.log.warn({ err: e }, 'OCSP pre-sign failed'));
    });
    this.presigns = new PresignQueue({
      presign: (issuerId, serial) => o.ocsp.presign(issuerId, serial),
      onError: (e) => o.log.warn({ err: e }, 'OCSP pre-sign failed'),
    });
    o.events.on('issued', (rec) => {
      o.metrics.issued.inc({ profile: rec.profile });
      this.presigns.add(rec.issuerId, rec.serial);
    });
    o.events.on('issuersChanged', () => o.ocsp.reloadIssuers());
  }

  /** Skips revocation events recorded before this node started. */
  async catchUp(): Promise<void> {
    // The newest seq, not every event before it: at 10M certificates (1M revoked) reading them
    // in batches of 10,000 on this thread took most of a start's extra second.
    this.seq = Math.max(this.seq, await this.o.store.lastRevocationSeq());
  }

  private polling = false;

  /** Revocations made by other processes since the last poll: drops their cached OCSP answers and refreshes the CRL. */
  async poll(): Promise<number> {
    if (this.polling) return 0;
    this.polling = true;
    try {
      return await this.pollOnce();
    } finally {
      this.polling = false;
    }
  }

  private async pollOnce(): Promise<number> {
    // Bounded: a poll held by a connection a partition cut would hold every later poll behind it (seconds of stale "good" after the heal).
    const batch = await withDeadline(this.o.store.revocationsSince(this.seq, 1000), POLL_DEADLINE_MS, () => new Error(`revocation poll: no answer from the store within ${POLL_DEADLINE_MS} ms`));
    const elsewhere: string[] = [];
    for (const ev of batch) {
      this.seq = ev.seq;
      if (this.handledLocally.delete(ev.serial)) continue;
      this.o.ocsp.invalidate(ev.issuerId, ev.serial);
      elsewhere.push(ev.serial);
    }
    this.o.metrics.revocationsFollowed.inc(elsewhere.length);
    // Each revocation's shard (stored with its certificate) is rebuilt; triggers for one shard coalesce.
    for (const serial of elsewhere) {
      const rec = await this.o.store.getCertificate(serial);
      if (rec) void this.o.crl.afterRevocation(rec);
    }
    return batch.length;
  }

  start(): void {
    this.jobs.every(POLL_MS, () => this.poll());
  }

  stop(): void {
    this.jobs.stop();
    this.presigns.stop();
  }
}
