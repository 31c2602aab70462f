/**
 * A lower CPU priority for background work. On Linux every thread has its
 * own nice value (setpriority on the thread's id), and a new thread starts
 * with its creator's. The node's background threads (inventory reads and
 * exports, backup snapshots, integrity checks, WAL checkpoints) and the
 * operator's heavy commands (backup, tidy) take it, so that when they and
 * the thread that answers OCSP want the same core, the scheduler favours
 * validation (CFS weights: nice 10 gets about a tenth of what nice 0 gets).
 * Raising one's own nice value needs no privilege. Best effort: false where
 * it cannot be done (not Linux, no /proc).
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

export const BACKGROUND_NICE = 10;

/** The kernel's id of the calling thread (Linux), or null. */
export function threadId(): number | null {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : null;
  } catch {
    return null;
  }
}

/** Gives the calling thread (and the threads it starts later) nice `nice`; false when it could not. */
export function lowerThreadPriority(nice = BACKGROUND_NICE): boolean {
  const tid = threadId();
  if (tid === null) return false;
  try {
    setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}
