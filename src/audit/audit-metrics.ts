/**
 * Audit gauges and counters, read at scrape time from the chain verifier
 * and the forwarder (the pattern of src/region/region-metrics.ts):
 *
 * - rampart_audit_chain_ok: 1 when the last verification passed, 0 when the
 *   chain is broken (absent before the first run);
 * - rampart_audit_forward_lag_entries{sink}: entries not yet acknowledged by
 *   a destination (on the forwarding node only);
 * - rampart_audit_forwarded_total{sink}: entries this process forwarded;
 * - rampart_audit_forward_failing{sink}: 1 while a destination fails.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ChainVerifier } from './chain-verifier.js';
import type { AuditForwarder } from './forward/audit-forwarder.js';

export function registerAuditMetrics(registry: Registry, o: { verifier: ChainVerifier; forwarder: AuditForwarder }): void {
  new Gauge({
    name: 'rampart_audit_chain_ok', help: '1 when the last audit hash chain verification passed, 0 when the chain is broken', registers: [registry],
    collect() {
      this.reset();
      const r = o.verifier.state().result;
      if (r) this.set(r.ok ? 1 : 0);
    },
  });
  new Gauge({
    name: 'rampart_audit_forward_lag_entries', help: 'Audit entries a forwarding destination has not acknowledged yet (forwarding node only)', labelNames: ['sink'], registers: [registry],
    collect() {
      this.reset();
      for (const s of o.forwarder.status().sinks) if (s.lag !== null) this.set({ sink: s.name }, s.lag);
    },
  });
  new Counter({
    name: 'rampart_audit_forwarded_total', help: 'Audit entries this process forwarded to a destination (acknowledged batches)', labelNames: ['sink'], registers: [registry],
    collect() {
      this.reset();
      for (const s of o.forwarder.status().sinks) this.inc({ sink: s.name }, s.forwarded);
    },
  });
  new Gauge({
    name: 'rampart_audit_forward_failing', help: '1 while forwarding to a destination fails (it is retried with backoff)', labelNames: ['sink'], registers: [registry],
    collect() {
      this.reset();
      const st = o.forwarder.status();
      if (st.active) for (const s of st.sinks) this.set({ sink: s.name }, s.failing ? 1 : 0);
    },
  });
}
