// The SQLite checkpointer thread (sqlite-checkpointer.ts): its own connection
// on the database file copies committed WAL frames back into the database
// (PRAGMA wal_checkpoint(PASSIVE): it never waits for, nor blocks, the writer
// or the readers) every `intervalMs`, so neither the copy nor the fsync of the
// database file that ends it runs on the node's main thread.
//
// Plain JavaScript on purpose: it needs no TypeScript loader, so the thread
// starts in milliseconds with every node.
import Database from 'better-sqlite3';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';

const { path, intervalMs } = workerData;
// Checkpoints give way to the thread that answers OCSP (as core/thread-priority.ts does for the
// other background threads; repeated here so that this file stays plain JavaScript): on Linux a
// thread's nice value is its own, set through its thread id.
try {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid) && tid > 0) setPriority(tid, 10);
} catch { /* not Linux: the default priority */ }
const db = new Database(path, { fileMustExist: true });
// wal_checkpoint(PASSIVE) does not call the busy handler; nothing else runs here.
db.pragma('busy_timeout = 0');
let lastCheckpointed = -1;

function run() {
  const t0 = performance.now();
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    if (r.checkpointed !== lastCheckpointed || r.busy) {
      lastCheckpointed = r.checkpointed;
      parentPort.postMessage({ log: r.log, checkpointed: r.checkpointed, busy: r.busy, ms: performance.now() - t0 });
    }
  } catch (e) {
    parentPort.postMessage({ error: String(e && e.message || e) });
  }
}

const timer = setInterval(run, intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
