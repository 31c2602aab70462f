/** Progress of a file another process or thread is writing: its size, polled twice a second. */
import { statSync } from 'node:fs';
import type { SnapshotProgress } from './store.js';

export function watchFileGrowth(file: string, total: number | undefined, onProgress?: SnapshotProgress): () => void {
  if (!onProgress) return () => undefined;
  const size = (): number => { try { return statSync(file).size; } catch { return 0; } };
  const timer = setInterval(() => onProgress(size(), total), 500);
  timer.unref();
  return () => {
    clearInterval(timer);
    onProgress(size(), total);
  };
}
