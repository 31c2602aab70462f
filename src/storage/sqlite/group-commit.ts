/**
 * Group commit for SQLite: the write transactions asked for while the event
 * loop runs one batch of requests are applied together in one IMMEDIATE
 * transaction and made durable by one commit (one WAL fsync under
 * synchronous=FULL), then each caller's promise settles. Every unit of work
 * runs in its own savepoint (better-sqlite3 nests transactions that way), so
 * one that throws (a fence, a unique constraint, an idempotency conflict) is
 * rolled back alone and rejects alone; if the commit itself fails, every
 * caller of the batch gets the error and nothing of it is kept. No promise
 * resolves before the commit that holds its work has returned — and, with a
 * WalDurability (a file database), not before that commit's WAL frames have
 * been synced off the main thread (the batch commits with synchronous=NORMAL,
 * see wal-durability.ts); other transactions of the connection keep FULL.
 */
import type Database from 'better-sqlite3';
import type { WalDurability } from './wal-durability.js';

interface Pending {
  work: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export class GroupCommit {
  private queue: Pending[] = [];
  private scheduled = false;
  /** Batches committed and units of work in them (for tests and metrics). */
  readonly stats = { batches: 0, units: 0, largest: 0 };

  private readonly relax: Database.Statement | null;
  private readonly restore: Database.Statement | null;

  constructor(private readonly db: Database.Database, private readonly durability: WalDurability | null = null, private readonly maxBatch = 512) {
    this.relax = durability ? db.prepare('PRAGMA synchronous = NORMAL') : null;
    this.restore = durability ? db.prepare('PRAGMA synchronous = FULL') : null;
  }

  /** Resolves when every batch committed so far is on disk. */
  synced(): Promise<void> {
    return this.durability ? this.durability.barrier() : Promise.resolve();
  }

  /** After the last commit has synced: closes the WAL descriptor the syncs keep open. */
  release(): void {
    this.durability?.release();
  }

  /** Runs `work` inside the next group transaction; resolves after that transaction is durable. */
  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits whatever is queued now (also called before the database is closed). */
  flush(): void {
    this.scheduled = false;
    while (this.queue.length) {
      const items = this.queue.splice(0, this.maxBatch);
      this.commit(items);
    }
  }

  private commit(items: Pending[]): void {
    const outcomes: Outcome[] = [];
    try {
      this.durability?.assertWritable();
      this.relax?.run();
      try {
        this.db.transaction(() => {
          for (const it of items) {
            try {
              outcomes.push({ ok: true, value: this.db.transaction(it.work)() });
            } catch (error) {
              outcomes.push({ ok: false, error });
            }
          }
        }).immediate();
      } finally {
        this.restore?.run();
      }
    } catch (e) {
      for (const it of items) it.reject(e);
      return;
    }
    this.stats.batches++;
    this.stats.units += items.length;
    if (items.length > this.stats.largest) this.stats.largest = items.length;
    const onDisk = this.durability?.committedNow();
    items.forEach((it, i) => {
      const o = outcomes[i]!;
      if (!o.ok) it.reject(o.error);
      else if (onDisk) onDisk.then(() => it.resolve(o.value), it.reject);
      else it.resolve(o.value);
    });
  }
}
