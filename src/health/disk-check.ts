/**
 * Health: free space in the data directory. Below the warning threshold the
 * node is degraded; below the critical one the check fails, still without
 * taking the node out of validation (a full disk stops writes, not reads:
 * OCSP, CRLs and CA certificates keep being served), and `hasRoom()` turns
 * false so /readyz?write=1 answers 503 and HAProxy sends writes elsewhere.
 * Writes that reach the full disk anyway are refused with 503
 * (core/out-of-space.ts) and succeed again once space is freed.
 */
import { statfsSync } from 'node:fs';
import type { HealthRegistry } from './health.js';

export interface DiskCheckOptions {
  health: HealthRegistry;
  dataDir: string;
  diskFreeMinBytes: number;
  diskFreeCriticalBytes: number;
}

export interface DiskRoom {
  /** False while the data directory's free space is below the critical threshold (or cannot be read). */
  hasRoom(): boolean;
}

export function registerDiskCheck(o: DiskCheckOptions): DiskRoom {
  const free = (): number => { const s = statfsSync(o.dataDir); return s.bavail * s.bsize; };
  o.health.add('diskSpace', async () => {
    const bytes = free();
    const mib = Math.round(bytes / 1048576);
    if (bytes < o.diskFreeCriticalBytes) return { status: 'fail', detail: `${mib} MiB free in ${o.dataDir}: below the critical threshold; writes are refused, validation goes on` };
    if (bytes < o.diskFreeMinBytes) return { status: 'warn', detail: `${mib} MiB free in ${o.dataDir}: low` };
    return { status: 'pass', detail: `${mib} MiB free` };
  }, { critical: false });
  return {
    hasRoom() {
      try { return free() >= o.diskFreeCriticalBytes; } catch { return false; }
    },
  };
}
