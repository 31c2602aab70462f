/**
 * WAL checkpoints off the main thread.
 *
 * By default SQLite checkpoints inside the commit that takes the WAL past
 * 1,000 pages: the committing thread copies the frames into the database file
 * and fsyncs it. For a serving node that thread is the one answering OCSP, and
 * under issuance load it checkpointed several times a second.
 *
 * With `start()`, a worker thread (sqlite-checkpoint-worker.mjs) runs passive
 * checkpoints on its own connection every `intervalMs`; the store's
 * connections keep an automatic checkpoint only as a backstop at
 * BACKSTOP_AUTOCHECKPOINT_PAGES (if the thread falls behind or is gone, the WAL
 * stays bounded, and the main thread's checkpoint then finds most frames
 * already copied). A thread that dies is started again after a second.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';

const ENTRY = new URL('./sqlite-checkpoint-worker.mjs', import.meta.url);
/** wal_autocheckpoint of the store's connections while the checkpointer runs (pages; ~40 MB of WAL at 4 KiB pages). */
export const BACKSTOP_AUTOCHECKPOINT_PAGES = 10_000;
const RESTART_DELAY_MS = 1000;
const STOP_TIMEOUT_MS = 5000;

export interface CheckpointerStats {
  /** Checkpoints that copied something new, or found a reader or writer in the way. */
  reports: number;
  /** Frames in the WAL and frames copied, at the last report. */
  logFrames: number;
  checkpointedFrames: number;
  errors: number;
  lastError: string | null;
  /** Threads started (a restarted one counts again). */
  started: number;
}

interface WorkerReport { log?: number; checkpointed?: number; busy?: number; error?: string }

export class SqliteCheckpointer {
  private worker: Worker | null = null;
  private running = false;
  private restartTimer: NodeJS.Timeout | null = null;
  readonly stats: CheckpointerStats = { reports: 0, logFrames: 0, checkpointedFrames: 0, errors: 0, lastError: null, started: 0 };

  constructor(private readonly path: string, private readonly intervalMs = 100) {}

  get active(): boolean { return this.running; }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.spawn();
  }

  private spawn(): void {
    const w = new Worker(ENTRY, { workerData: { path: this.path, intervalMs: this.intervalMs } });
    w.unref();
    this.worker = w;
    this.stats.started++;
    w.on('message', (m: WorkerReport) => {
      this.stats.reports++;
      if (m.error !== undefined) {
        this.stats.errors++;
        this.stats.lastError = m.error;
        return;
      }
      this.stats.logFrames = m.log ?? 0;
      this.stats.checkpointedFrames = m.checkpointed ?? 0;
    });
    w.on('error', (e) => {
      this.stats.errors++;
      this.stats.lastError = e.message;
    });
    w.on('exit', () => {
      if (this.worker !== w) return;
      this.worker = null;
      if (!this.running) return;
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (this.running && !this.worker) this.spawn();
      }, RESTART_DELAY_MS);
      this.restartTimer.unref();
    });
  }

  /** Ends the thread as if it had crashed (tests). */
  async kill(): Promise<void> {
    await this.worker?.terminate();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const w = this.worker;
    this.worker = null;
    if (!w) return;
    const exited = once(w, 'exit');
    w.postMessage('stop');
    const timer = setTimeout(() => { void w.terminate(); }, STOP_TIMEOUT_MS);
    try { await exited; } finally { clearTimeout(timer); }
  }
}
