/**
 * A consistent copy of a SQLite database file, made in a worker thread
 * (sqlite-snapshot-worker.ts), with progress from the copy's growing size.
 */
import { statSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { SnapshotFacts, SnapshotProgress } from '../store.js';
import { watchFileGrowth } from '../file-growth.js';

const ENTRY = new URL('./sqlite-snapshot-entry.mjs', import.meta.url);

export async function snapshotSqliteFile(source: string, dest: string, onProgress?: SnapshotProgress): Promise<SnapshotFacts> {
  const total = statSync(source).size;
  const stop = watchFileGrowth(dest, total, onProgress);
  const worker = new Worker(ENTRY, { workerData: { source, dest } });
  try {
    return await new Promise<SnapshotFacts>((resolve, reject) => {
      worker.once('message', (m: { ok: boolean; facts?: SnapshotFacts; error?: string }) => (m.ok ? resolve(m.facts!) : reject(new Error(`SQLite snapshot failed: ${m.error}`))));
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the SQLite snapshot worker exited (code ${code})`)));
    });
  } finally {
    stop();
    await worker.terminate();
  }
}
