/**
 * Durability of group commits without an fsync on the main thread.
 *
 * In WAL mode, SQLite's synchronous=FULL differs from NORMAL by one thing: an
 * fsync of the WAL file after each commit (https://sqlite.org/pragma.html#pragma_synchronous).
 * The group commit (group-commit.ts) commits with NORMAL — the WAL frames are
 * written, not synced — and then asks this class for that one fsync, done
 * as fdatasync on libuv's thread pool: the main thread (which also answers
 * OCSP) is not blocked on the disk, and the next batch can be committed while
 * the previous one's sync runs. A caller's promise resolves only after a sync
 * that began after its commit finished, so nothing is acknowledged before it
 * is on disk, as with FULL.
 *
 * What differs from FULL: other connections see a commit a little before it
 * is durable (FULL syncs before publishing it). A read that acknowledges
 * something (an idempotent replay) waits for `barrier()` first.
 *
 * A failed sync leaves the page cache in an unknown state (the kernel may
 * have dropped the dirty pages): every waiter gets the error and every later
 * write is refused until the node is restarted.
 */
import { closeSync, fdatasync, open as fsOpen } from 'node:fs';
import { RampartError } from '../../core/errors.js';

interface Waiter { seq: number; resolve: () => void; reject: (e: unknown) => void }

export class WalDurability {
  private committed = 0;
  private synced = 0;
  private running = false;
  private waiters: Waiter[] = [];
  private failed: RampartError | null = null;
  /** Syncs run and commits they covered (for tests and metrics). */
  readonly stats = { syncs: 0 };

  constructor(private readonly sync: () => Promise<void>) {}

  /**
   * A file's data on disk (fdatasync). The descriptor is opened on the first
   * sync and kept: the store's own connection stays open as long as this
   * object is used, so SQLite never deletes the WAL under it (a reset or a
   * TRUNCATE checkpoint keeps the inode). A WAL not there yet has nothing to sync.
   */
  static forFile(path: string): WalDurability {
    let fd: number | null = null;
    const d = new WalDurability(async () => {
      if (fd === null) {
        try {
          fd = await new Promise<number>((resolve, reject) => fsOpen(path, 'r', (e, f) => (e ? reject(e) : resolve(f))));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
          throw e;
        }
      }
      const f = fd;
      await new Promise<void>((resolve, reject) => fdatasync(f, (e) => (e ? reject(e) : resolve())));
    });
    d.release = () => {
      if (fd !== null) closeSync(fd);
      fd = null;
    };
    return d;
  }

  /** Closes what the sync keeps open; called once the last sync has finished. */
  release: () => void = () => undefined;

  /** Throws when an earlier sync failed: nothing more may be written. */
  assertWritable(): void {
    if (this.failed) throw this.failed;
  }

  /** Records a commit just made; resolves when a sync that began after it has finished. */
  committedNow(): Promise<void> {
    return this.until(++this.committed);
  }

  /** Resolves when every commit made so far is on disk. */
  barrier(): Promise<void> {
    return this.until(this.committed);
  }

  private until(seq: number): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (seq <= this.synced) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ seq, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.running || this.failed) return;
    this.running = true;
    // Every commit up to here has written its frames (commits run synchronously on this thread) before the sync starts.
    const covers = this.committed;
    this.sync().then(() => {
      this.stats.syncs++;
      this.synced = covers;
      const left: Waiter[] = [];
      for (const w of this.waiters) {
        if (w.seq <= covers) w.resolve();
        else left.push(w);
      }
      this.waiters = left;
    }, (e: unknown) => {
      this.failed = new RampartError('unavailable', `the database's write-ahead log could not be synced to disk (${(e as Error).message}); `
        + 'writes are refused until the node is restarted (the last writes may not be durable)');
      for (const w of this.waiters.splice(0)) w.reject(this.failed);
    }).finally(() => {
      this.running = false;
      if (this.waiters.length) this.kick();
    });
  }
}
