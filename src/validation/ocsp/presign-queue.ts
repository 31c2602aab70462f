/**
 * OCSP answers for new certificates, signed ahead of any request but off the
 * issuance path: a certificate's status is durable with its row, so signing
 * its first answer can wait. The queue is drained one entry per turn of the
 * event loop (setImmediate), behind the I/O of requests being answered, at
 * most `ratePerSecond` a second (signing an answer costs about as much CPU
 * as an issuance: unpaced, a burst of issuance would pay twice), and it is
 * bounded: past `maxPending` new entries are not queued and their first
 * request is signed on demand, as after a restart.
 */
export interface PresignQueueOptions {
  presign: (issuerId: string, serial: string) => Promise<void>;
  onError: (e: unknown) => void;
  maxPending?: number;
  ratePerSecond?: number;
}

export class PresignQueue {
  private readonly pending: Array<[string, string]> = [];
  private head = 0;
  private draining = false;
  private stopped = false;
  /** Entries not queued because the queue was full. */
  skipped = 0;

  constructor(private readonly o: PresignQueueOptions) {}

  get size(): number { return this.pending.length - this.head; }

  add(issuerId: string, serial: string): void {
    if (this.stopped) return;
    if (this.size >= (this.o.maxPending ?? 10_000)) {
      this.skipped++;
      return;
    }
    this.pending.push([issuerId, serial]);
    if (!this.draining) {
      this.draining = true;
      setImmediate(() => void this.drain());
    }
  }

  stop(): void {
    this.stopped = true;
    this.pending.length = 0;
    this.head = 0;
  }

  private async drain(): Promise<void> {
    while (!this.stopped && this.head < this.pending.length) {
      const [issuerId, serial] = this.pending[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.pending.length) {
        this.pending.splice(0, this.head);
        this.head = 0;
      }
      const started = Date.now();
      try {
        await this.o.presign(issuerId, serial);
      } catch (e) {
        this.o.onError(e);
      }
      const wait = started + 1000 / (this.o.ratePerSecond ?? 20) - Date.now();
      await new Promise<void>((r) => (wait > 0 ? setTimeout(r, wait).unref() : setImmediate(r)));
    }
    this.draining = false;
  }
}
