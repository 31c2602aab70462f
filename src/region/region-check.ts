/**
 * The `region` health check: replica lag against the warning and critical
 * thresholds, or whether this region is active, fenced or waiting for a
 * peer. Never critical for the node: a replica region's nodes must keep
 * serving OCSP and CRLs however far behind they are (a "critical" lag fails
 * the check, which makes the node degraded, not unhealthy).
 */
import type { HealthRegistry } from '../health/health.js';
import type { RegionMonitor } from './region-monitor.js';

export interface RegionCheckOptions {
  health: HealthRegistry;
  region: RegionMonitor;
  lagWarnSeconds: number;
  lagCriticalSeconds: number;
}

const mib = (b: number | null) => (b === null ? 'unknown' : b < 1024 * 1024 ? `${b} bytes` : `${(b / 1024 / 1024).toFixed(1)} MiB`);

export function registerRegionCheck(o: RegionCheckOptions): void {
  o.health.add('region', async () => {
    const s = o.region.status();
    const err = s.error ? ` (last check: ${s.error})` : '';
    if (s.dbRole === 'unknown') return { status: 'warn', detail: `region ${s.region}: database state unknown${err}` };
    if (s.dbRole === 'replica') {
      const upstream = s.walReceiver ? `${s.walReceiver.status} from ${s.walReceiver.sender ?? '?'}` : 'no WAL receiver';
      if (s.lagSeconds === null) return { status: 'warn', detail: `replica of region ${s.activeRegion ?? '?'}: no heartbeat of the active region replayed yet; ${upstream}${err}` };
      const detail = `replica of region ${s.activeRegion ?? '?'}: lag ${s.lagSeconds.toFixed(1)} s, ${mib(s.lagBytes)} behind; ${upstream}${err}`;
      if (s.lagSeconds > o.lagCriticalSeconds) return { status: 'fail', detail: `CRITICAL (> ${o.lagCriticalSeconds} s): ${detail}` };
      if (s.lagSeconds > o.lagWarnSeconds) return { status: 'warn', detail: `WARNING (> ${o.lagWarnSeconds} s): ${detail}` };
      return { status: 'pass', detail };
    }
    const standbys = s.standbys.length ? `; standbys: ${s.standbys.map((x) => `${x.name} ${x.state}/${x.syncState} ${mib(x.lagBytes)} behind`).join(', ')}` : '';
    const peers = s.peers.length ? `; peers: ${s.peers.map((p) => `${p.region} ${p.reachable ? p.role : 'unreachable'}`).join(', ')}` : '';
    if (s.fenced) return { status: 'warn', detail: `${s.reason}${peers}${err}` };
    if (!s.writable) return { status: 'warn', detail: `${s.reason}${peers}${err}` };
    return { status: 'pass', detail: `region ${s.region}: ${s.reason}${standbys}${peers}${err}` };
  }, { critical: false });
}
