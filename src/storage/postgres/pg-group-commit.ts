/**
 * Group commit for PostgreSQL: the units of work submitted while a batch is
 * being committed wait and go together in the next transaction, so a node
 * pays one commit round trip (and, with synchronous replication, one standby
 * acknowledgement) for many issuances. One batch is in flight at a time per
 * store. How a batch runs (one transaction, one savepoint per unit) is the
 * caller's `commit`; it returns one outcome per unit, in order, and throws
 * only when nothing of the batch was kept. No promise settles before the
 * transaction holding its unit has committed or failed.
 */
export type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

interface Pending<I, R> { item: I; resolve: (v: R) => void; reject: (e: unknown) => void }

export class PgGroupCommit<I, R> {
  private queue: Array<Pending<I, R>> = [];
  private busy = false;
  readonly stats = { batches: 0, units: 0, largest: 0 };

  constructor(private readonly commit: (items: I[]) => Promise<Array<Outcome<R>>>, private readonly maxBatch = 256) {}

  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.busy) {
        this.busy = true;
        setImmediate(() => void this.next());
      }
    });
  }

  /** Commits batches one after another until the queue is empty (a loop: a long run of batches builds no promise chain). */
  private async next(): Promise<void> {
    for (;;) {
      const batch = this.queue.splice(0, this.maxBatch);
      if (!batch.length) {
        this.busy = false;
        return;
      }
      try {
        const outcomes = await this.commit(batch.map((p) => p.item));
        this.stats.batches++;
        this.stats.units += batch.length;
        if (batch.length > this.stats.largest) this.stats.largest = batch.length;
        batch.forEach((p, i) => {
          const o = outcomes[i];
          if (!o) p.reject(new Error('group commit: no outcome for a unit of work'));
          else if (o.ok) p.resolve(o.value);
          else p.reject(o.error);
        });
      } catch (e) {
        for (const p of batch) p.reject(e);
      }
    }
  }
}
