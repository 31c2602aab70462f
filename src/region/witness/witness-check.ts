/**
 * Health and metrics of the region witness: the `witness` check (pass while
 * the node's region holds leadership, or while it is a replica and the
 * quorum answers; warn when the active region cannot renew or another
 * region leads; never critical: validation goes on) and its gauges.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { HealthRegistry } from '../../health/health.js';
import type { RegionMonitor } from '../region-monitor.js';
import type { RegionWitness } from './region-witness.js';

export function registerWitnessCheck(health: HealthRegistry, witness: RegionWitness, region: RegionMonitor): void {
  health.add('witness', async () => {
    const w = witness.status();
    const err = w.error ? ` (last error: ${w.error})` : '';
    const leader = w.leader === undefined ? 'not read yet' : w.leader === null ? 'free' : `held by region ${w.leader}`;
    const active = w.active ? `; active record: ${w.active.region} epoch ${w.active.epoch}` : '';
    if (w.held) return { status: 'pass', detail: `region ${w.region} holds leadership (lease ${w.leaseId}, ${(w.remainingMs / 1000).toFixed(1)} s before this node stops without a renewal); via ${w.endpoint}` };
    if (!region.shouldLead()) {
      return w.error ? { status: 'warn', detail: `witness quorum unreachable${err}` } : { status: 'pass', detail: `region ${w.region} does not lead; leadership ${leader}${active}` };
    }
    return { status: 'warn', detail: `region ${w.region} is active in its database but does not hold leadership: ${w.reason}; leadership ${leader}${active}${err}` };
  }, { critical: false });
}

export function registerWitnessMetrics(registry: Registry, witness: RegionWitness): void {
  const labels = ['region'];
  new Gauge({
    name: 'rampart_region_witness_held', help: '1 while this node\'s region holds the witness leadership lease (renewed in time)', labelNames: labels, registers: [registry],
    collect() { const w = witness.status(); this.set({ region: w.region }, w.held ? 1 : 0); },
  });
  new Gauge({
    name: 'rampart_region_witness_remaining_seconds', help: 'Seconds this node may still write without renewing the witness lease (0 when not held)', labelNames: labels, registers: [registry],
    collect() { const w = witness.status(); this.set({ region: w.region }, w.remainingMs / 1000); },
  });
  new Gauge({
    name: 'rampart_region_witness_contact_age_seconds', help: 'Seconds since the witness quorum last answered this node', labelNames: labels, registers: [registry],
    collect() {
      const w = witness.status();
      this.reset();
      if (w.lastContact) this.set({ region: w.region }, (Date.now() - Date.parse(w.lastContact)) / 1000);
    },
  });
  new Counter({
    name: 'rampart_region_witness_failed_rounds_total', help: 'Witness rounds that got no answer from the quorum', labelNames: labels, registers: [registry],
    collect() { const w = witness.status(); this.reset(); this.inc({ region: w.region }, w.failedRounds); },
  });
}
