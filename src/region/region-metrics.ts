/**
 * Region gauges, read from the monitor's last check at scrape time:
 * replication lag (seconds since the newest replayed heartbeat; WAL bytes
 * behind), whether this node's region is writable or fenced, its epoch, and
 * on a primary the lag of each streaming standby. Alert rules:
 * deploy/prometheus/rampart-rules.yml.
 */
import { Gauge, type Registry } from 'prom-client';
import type { RegionMonitor } from './region-monitor.js';

export function registerRegionMetrics(registry: Registry, region: RegionMonitor): void {
  const labels = ['region'];
  new Gauge({
    name: 'rampart_replication_lag_seconds', help: 'Replica regions: age of the newest replayed heartbeat of the active region', labelNames: labels, registers: [registry],
    collect() {
      this.reset();
      const s = region.status();
      if (s.dbRole === 'replica' && s.lagSeconds !== null) this.set({ region: s.region }, s.lagSeconds);
    },
  });
  new Gauge({
    name: 'rampart_replication_lag_bytes', help: 'Replica regions: WAL bytes behind the primary (or received but not replayed)', labelNames: labels, registers: [registry],
    collect() {
      this.reset();
      const s = region.status();
      if (s.dbRole === 'replica' && s.lagBytes !== null) this.set({ region: s.region }, s.lagBytes);
    },
  });
  new Gauge({
    name: 'rampart_region_writable', help: '1 when this node\'s region accepts issuance now', labelNames: labels, registers: [registry],
    collect() { this.set({ region: region.region }, region.status().writable ? 1 : 0); },
  });
  new Gauge({
    name: 'rampart_region_fenced', help: '1 when this node\'s region was fenced by a failover to another region', labelNames: labels, registers: [registry],
    collect() { this.set({ region: region.region }, region.status().fenced ? 1 : 0); },
  });
  new Gauge({
    name: 'rampart_region_epoch', help: 'Region epoch in this node\'s database (bumped by every regional failover)', labelNames: labels, registers: [registry],
    collect() {
      const e = region.status().epoch;
      if (e !== null) this.set({ region: region.region }, Number(e));
    },
  });
  new Gauge({
    name: 'rampart_replication_standby_lag_bytes', help: 'Primary only: WAL bytes each streaming standby has not replayed', labelNames: ['region', 'standby', 'sync_state'], registers: [registry],
    collect() {
      this.reset();
      const s = region.status();
      for (const sb of s.standbys) if (sb.lagBytes !== null) this.set({ region: s.region, standby: sb.name, sync_state: sb.syncState }, sb.lagBytes);
    },
  });
}
