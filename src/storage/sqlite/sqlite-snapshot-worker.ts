/**
 * The SQLite snapshot worker (a worker thread with its own connections, so a
 * running node's main thread, which answers OCSP, is never blocked):
 * VACUUM INTO copies one consistent read snapshot of the live database into
 * the temporary file (writers keep committing meanwhile, and unlike the online
 * backup API it never restarts when they do), then the manifest facts are
 * read from that copy, so they describe exactly what was copied.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { lowerThreadPriority } from '../../core/thread-priority.js';
import { storeFacts } from '../database-snapshot.js';
import { SqliteStore } from './sqlite-store.js';

const { source, dest } = workerData as { source: string; dest: string };
// The copy gives way to the thread that answers OCSP (core/thread-priority.ts).
lowerThreadPriority();

async function run(): Promise<void> {
  const live = new Database(source, { readonly: true, fileMustExist: true });
  try {
    live.pragma('busy_timeout = 5000');
    live.prepare('VACUUM INTO ?').run(dest);
  } finally {
    live.close();
  }
  const copy = new SqliteStore({ path: dest });
  let facts;
  try {
    facts = await storeFacts(copy);
  } finally {
    // Closes the copy's own reader thread too: leaving WAL mode needs the only connection.
    await copy.close();
  }
  const single = new Database(dest, { fileMustExist: true });
  try {
    single.pragma('journal_mode = DELETE');
  } finally {
    single.close();
  }
  parentPort!.postMessage({ ok: true, facts });
}

run().catch((e: Error) => parentPort!.postMessage({ ok: false, error: e.message }));
