/**
 * Certificates this node signed for itself (its TLS identity) while its
 * region was a read-only replica: stored in the inventory, and announced as
 * issued, as soon as the node may write (checked every second).
 */
import type { Logger } from 'pino';
import type { WriteGate } from '../cluster/cluster.js';
import type { CaEvents } from '../core/events.js';
import { Periodic } from '../core/periodic.js';
import type { CertificateRecord } from '../core/types.js';
import type { CertificateStore } from '../storage/store.js';

export class PendingInventory {
  private readonly pending: CertificateRecord[] = [];
  private readonly jobs: Periodic;

  constructor(private readonly o: { store: CertificateStore; gate: WriteGate; events: CaEvents; log: Logger }) {
    this.jobs = new Periodic((e) => o.log.error({ err: e }, 'background job failed'));
  }

  add(rec: CertificateRecord): void {
    this.pending.push(rec);
    this.o.log.warn({ serial: rec.serial }, 'region is a replica: this certificate is recorded in the inventory when the region is promoted');
  }

  async flush(): Promise<void> {
    while (this.pending.length && this.o.gate.canWrite()) {
      const rec = this.pending[0]!;
      await this.o.store.insertCertificate(rec);
      this.pending.shift();
      this.o.events.emit('issued', rec);
    }
  }

  start(): void {
    this.jobs.every(1_000, () => this.flush());
  }

  stop(): void {
    this.jobs.stop();
  }
}
