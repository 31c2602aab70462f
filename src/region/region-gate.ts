/**
 * The write gate of a node in a multi-region deployment: the cluster's own
 * gate (leases) and, on top, the region's decision (src/region/
 * region-monitor.ts). Every fence it hands out carries the region fence, so
 * the store re-checks the region inside the write's transaction.
 */
import type { Fence } from '../core/types.js';
import { regionOnlyFence } from '../core/types.js';
import { RampartError } from '../core/errors.js';
import type { WriteGate } from '../cluster/cluster.js';
import type { RegionMonitor } from './region-monitor.js';

export class RegionGate implements WriteGate {
  constructor(private readonly cluster: WriteGate, private readonly region: RegionMonitor) {}

  private regionFence() {
    const f = this.region.fence();
    if (!f) {
      const s = this.region.status();
      throw new RampartError('notWritable', `region ${s.region} does not accept issuance or revocation now: ${s.reason}`, {
        region: s.region, activeRegion: s.activeRegion, dbRole: s.dbRole,
      });
    }
    return f;
  }

  writeFence(): Fence | undefined {
    const region = this.regionFence();
    const lease = this.cluster.writeFence();
    return lease ? { ...lease, region } : regionOnlyFence(region);
  }

  leaderFence(): Fence | undefined {
    const region = this.regionFence();
    const lease = this.cluster.leaderFence();
    return lease ? { ...lease, region } : regionOnlyFence(region);
  }

  isLeader(): boolean { return this.cluster.isLeader(); }

  canWrite(): boolean { return this.region.writable() && this.cluster.canWrite(); }
}
