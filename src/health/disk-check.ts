/** Health: free space in the data directory (critical below the critical threshold). */
import { statfsSync } from 'node:fs';
import type { HealthRegistry } from './health.js';

export interface DiskCheckOptions {
  health: HealthRegistry;
  dataDir: string;
  diskFreeMinBytes: number;
  diskFreeCriticalBytes: number;
}

export function registerDiskCheck(o: DiskCheckOptions): void {
  o.health.add('diskSpace', async () => {
    const s = statfsSync(o.dataDir);
    const free = s.bavail * s.bsize;
    const mib = Math.round(free / 1048576);
    if (free < o.diskFreeCriticalBytes) return { status: 'fail', detail: `${mib} MiB free in ${o.dataDir}: below the critical threshold` };
    if (free < o.diskFreeMinBytes) return { status: 'warn', detail: `${mib} MiB free in ${o.dataDir}: low` };
    return { status: 'pass', detail: `${mib} MiB free` };
  }, { critical: true });

}
