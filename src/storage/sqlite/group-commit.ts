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

/** Waits between attempts to take the write lock another connection holds: 1, 2, 4 … 16 ms. */
const RETRY_MIN_MS = 1;
const RETRY_MAX_MS = 16;

const isBusy = (e: unknown): boolean => {
  const c = (e as { code?: unknown } | null)?.code;
  return c === 'SQLITE_BUSY' || c === 'SQLITE_BUSY_SNAPSHOT' || c === 'SQLITE_BUSY_RECOVERY';
};

export class GroupCommit {
  private queue: Pending[] = [];
  private scheduled = false;
  /** Since when the write lock has been held by another connection (a CLI beside the node), or null. */
  private lockedSince: number | null = null;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: NodeJS.Timeout | null = null;
  /** Batches committed and units of work in them; lockWaits: times the lock was found taken (for tests and metrics). */
  readonly stats = { batches: 0, units: 0, largest: 0, lockWaits: 0 };

  private readonly relax: Database.Statement | null;
  private readonly restore: Database.Statement | null;
  private readonly readTimeout: Database.Statement;
  private readonly noWait: Database.Statement;
  private readonly begin: Database.Statement;
  private readonly commitTx: Database.Statement;
  private readonly rollbackTx: Database.Statement;
  private readonly setTimeoutStmts = new Map<number, Database.Statement>();

  constructor(private readonly db: Database.Database, private readonly durability: WalDurability | null = null, private readonly maxBatch = 512) {
    this.relax = durability ? db.prepare('PRAGMA synchronous = NORMAL') : null;
    this.restore = durability ? db.prepare('PRAGMA synchronous = FULL') : null;
    this.readTimeout = db.prepare('PRAGMA busy_timeout').pluck();
    this.noWait = db.prepare('PRAGMA busy_timeout = 0');
    this.begin = db.prepare('BEGIN IMMEDIATE');
    this.commitTx = db.prepare('COMMIT');
    this.rollbackTx = db.prepare('ROLLBACK');
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
      if (!this.scheduled && !this.retryTimer) {
        this.scheduled = true;
        setImmediate(() => this.drain(false));
      }
    });
  }

  /**
   * Commits whatever is queued now, waiting for the write lock as long as the
   * connection's busy_timeout allows (before the database is closed, before
   * a change of mode).
   */
  flush(): void {
    this.drain(true);
  }

  /**
   * The scheduled commits take the write lock without waiting. When another
   * connection holds it (a CLI's tidy or revocation batch beside the node),
   * the batch is tried again on a timer instead: the event loop, which
   * answers OCSP, never sleeps in SQLite's busy handler. The connection's
   * busy_timeout stays the bound: past it every queued unit rejects with
   * SQLITE_BUSY, as before.
   */
  private drain(wait: boolean): void {
    this.scheduled = false;
    if (this.retryTimer) { clearTimeout(this.retryTimer); this.retryTimer = null; }
    while (this.queue.length) {
      const items = this.queue.slice(0, this.maxBatch);
      const outcome = this.commit(items, wait);
      if (outcome === 'locked') {
        this.waitForLock();
        return;
      }
      this.queue.splice(0, items.length);
      this.lockedSince = null;
      this.retryMs = RETRY_MIN_MS;
    }
  }

  private waitForLock(): void {
    this.stats.lockWaits++;
    const now = Date.now();
    this.lockedSince ??= now;
    const limit = Number(this.readTimeout.get());
    if (now - this.lockedSince >= limit) {
      const e = Object.assign(new Error(`database is locked (another connection held the write lock for ${now - this.lockedSince} ms)`), { code: 'SQLITE_BUSY' });
      const items = this.queue.splice(0, this.queue.length);
      this.lockedSince = null;
      this.retryMs = RETRY_MIN_MS;
      for (const it of items) it.reject(e);
      return;
    }
    this.retryTimer = setTimeout(() => { this.retryTimer = null; this.drain(false); }, this.retryMs);
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
  }

  /** Takes the write lock; without `wait`, false at once when another connection holds it. */
  private tryBegin(wait: boolean): boolean {
    if (wait) {
      this.begin.run();
      return true;
    }
    const timeout = Number(this.readTimeout.get());
    this.noWait.get();
    try {
      this.begin.run();
      return true;
    } catch (e) {
      if (isBusy(e)) return false;
      throw e;
    } finally {
      let restore = this.setTimeoutStmts.get(timeout);
      if (!restore) this.setTimeoutStmts.set(timeout, restore = this.db.prepare(`PRAGMA busy_timeout = ${Math.max(0, Math.trunc(timeout))}`));
      restore.get();
    }
  }

  private commit(items: Pending[], wait: boolean): 'locked' | 'done' {
    const outcomes: Outcome[] = [];
    try {
      this.durability?.assertWritable();
      this.relax?.run();
      try {
        if (!this.tryBegin(wait)) return 'locked';
        try {
          for (const it of items) {
            try {
              // Inside the open transaction better-sqlite3 runs each unit in a savepoint.
              outcomes.push({ ok: true, value: this.db.transaction(it.work)() });
            } catch (error) {
              outcomes.push({ ok: false, error });
            }
          }
          this.commitTx.run();
        } catch (e) {
          if (this.db.inTransaction) this.rollbackTx.run();
          throw e;
        }
      } finally {
        this.restore?.run();
      }
    } catch (e) {
      for (const it of items) it.reject(e);
      return 'done';
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
    return 'done';
  }
}
