/**
 * The `integrity` health check and the rampart_integrity_* metrics, read from
 * the monitor's last verdict (the check itself runs on its schedule in a
 * worker thread, never inside a health request).
 *
 * The check is non-critical on purpose: `fail` makes the node degraded, not
 * unready, so load balancers keep sending it OCSP and CRL requests, which a
 * damaged database does not stop it answering; issuance is refused by the
 * monitor itself (503), and `/readyz?write=1` is 503 (canWrite is false).
 *
 * - rampart_integrity_ok: 1 when the last check found no damage, 0 when it did (absent before the first check);
 * - rampart_integrity_last_check_timestamp_seconds: when the last check started;
 * - rampart_integrity_check_duration_seconds: how long it took;
 * - rampart_integrity_complete: 1 when it checked everything, 0 when part could not be checked.
 */
import { Gauge, type Registry } from 'prom-client';
import type { HealthRegistry } from '../health/health.js';
import { summarize } from './integrity-report.js';
import type { IntegrityMonitor } from './integrity-monitor.js';

export function registerIntegrityCheck(health: HealthRegistry, monitor: IntegrityMonitor): void {
  health.add('integrity', async () => {
    const { report: r, error } = monitor.state();
    if (!monitor.enabled) return { status: 'pass', detail: 'integrity checks are off (integrity.enabled: false)' };
    if (!r) return error ? { status: 'warn', detail: `the integrity check could not run: ${error.message}` } : { status: 'pass', detail: 'the first integrity check has not run yet' };
    if (r.status === 'corrupt') {
      return {
        status: 'fail',
        detail: `DATABASE CORRUPTION found by the integrity check at ${r.at}: ${summarize(r)}. Issuance is stopped on this node (503); OCSP and CRLs keep being served. `
          + 'Restore the last clean backup and reconcile from the audit stream (docs/runbooks/database-corruption.md).',
      };
    }
    if (r.status === 'incomplete') return { status: 'warn', detail: `the integrity check at ${r.at} found no damage but did not check everything: ${summarize(r)}` };
    if (error) return { status: 'warn', detail: `the last integrity check could not run (${error.message}); the one at ${r.at} passed` };
    return { status: 'pass', detail: `integrity check at ${r.at} (${r.durationMs} ms): ${summarize(r)}` };
  }, { critical: false });
}

export function registerIntegrityMetrics(registry: Registry, monitor: IntegrityMonitor): void {
  const last = () => monitor.state().report;
  new Gauge({
    name: 'rampart_integrity_ok', help: '1 when the last integrity check found no corruption, 0 when it found some (absent before the first check)', registers: [registry],
    collect() { this.reset(); const r = last(); if (r) this.set(r.status === 'corrupt' ? 0 : 1); },
  });
  new Gauge({
    name: 'rampart_integrity_complete', help: '1 when the last integrity check checked everything, 0 when part could not be checked', registers: [registry],
    collect() { this.reset(); const r = last(); if (r) this.set(r.status === 'incomplete' ? 0 : 1); },
  });
  new Gauge({
    name: 'rampart_integrity_last_check_timestamp_seconds', help: 'When the last integrity check started', registers: [registry],
    collect() { this.reset(); const r = last(); if (r) this.set(Date.parse(r.at) / 1000); },
  });
  new Gauge({
    name: 'rampart_integrity_check_duration_seconds', help: 'How long the last integrity check took', registers: [registry],
    collect() { this.reset(); const r = last(); if (r) this.set(r.durationMs / 1000); },
  });
}

/** What /healthz adds: whether this node issues, and the integrity verdict behind it. */
export function livenessOf(monitor: IntegrityMonitor): Record<string, unknown> {
  const r = monitor.state().report;
  return {
    issuing: monitor.issuable(),
    integrity: r ? { status: r.status, at: r.at, summary: summarize(r) } : { status: monitor.enabled ? 'pending' : 'off' },
  };
}
