/**
 * A bounded in-memory history of the node's own metrics for the dashboard
 * charts: every `sampleSeconds` one point is read from the node's registry
 * (no Prometheus needed) into a ring buffer of `points` points (default 10 s
 * × 360 = one hour). A point holds the issuance and OCSP rates since the last
 * one, the OCSP p99 latency of that interval (from the bucket deltas of
 * rampart_ocsp_request_duration_seconds), the replication lag gauge, and the
 * requests and 5xx answers of each listener, from which the view computes
 * the error budget left over the window against the tier availability.
 * Memory is fixed: a few numbers per point.
 */
import type { Registry } from 'prom-client';
import { Periodic } from '../core/periodic.js';

export interface HistoryPoint {
  /** Unix time of the sample, seconds. */
  t: number;
  issuancePerSecond: number;
  ocspPerSecond: number;
  /** p99 of the OCSP answers in the interval (ms); null when there were none. */
  ocspP99Ms: number | null;
  replicationLagSeconds: number | null;
  requests: { validation: number; issuance: number };
  errors: { validation: number; issuance: number };
}

export interface MetricHistoryOptions {
  registry: Registry;
  sampleSeconds: number;
  points: number;
  /** Availability targets in percent (tiers.validation, tiers.issuance). */
  availability: { validation: number | null; issuance: number | null };
  onError?: (e: unknown) => void;
}

interface Totals {
  at: number;
  issued: number;
  ocsp: number;
  buckets: Map<number, number>;
  requests: { validation: number; issuance: number };
  errors: { validation: number; issuance: number };
}

type Sample = { value: number; labels: Record<string, string | number | undefined>; metricName?: string };

async function values(registry: Registry, name: string): Promise<Sample[]> {
  const m = registry.getSingleMetric(name);
  return m ? (await m.get()).values as Sample[] : [];
}

const sum = (xs: Sample[]) => xs.reduce((a, v) => a + v.value, 0);

/** The q-quantile from cumulative bucket counts (le → count), interpolated within the bucket. */
export function histogramQuantile(q: number, buckets: Map<number, number>): number | null {
  const les = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Infinity) ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const le of les) {
    const c = buckets.get(le)!;
    if (c >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, c - prevCount);
    }
    prevLe = le;
    prevCount = c;
  }
  return prevLe;
}

export class MetricHistory {
  private readonly ring: HistoryPoint[] = [];
  private last: Totals | null = null;
  private periodic: Periodic | null = null;

  constructor(private readonly o: MetricHistoryOptions) {}

  start(): void {
    if (this.periodic) return;
    this.periodic = new Periodic(this.o.onError ?? (() => {}));
    void this.sample().catch(this.o.onError ?? (() => {}));
    this.periodic.every(this.o.sampleSeconds * 1000, () => this.sample());
  }

  stop(): void {
    this.periodic?.stop();
    this.periodic = null;
  }

  private async totals(): Promise<Totals> {
    const buckets = new Map<number, number>();
    for (const v of await values(this.o.registry, 'rampart_ocsp_request_duration_seconds')) {
      if (v.metricName?.endsWith('_bucket')) {
        const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
        buckets.set(le, (buckets.get(le) ?? 0) + v.value);
      }
    }
    const requests = { validation: 0, issuance: 0 };
    const errors = { validation: 0, issuance: 0 };
    for (const v of await values(this.o.registry, 'rampart_http_request_duration_seconds')) {
      if (!v.metricName?.endsWith('_count')) continue;
      const role = v.labels.listener === 'http' ? 'validation' : 'issuance';
      requests[role] += v.value;
      if (String(v.labels.code).startsWith('5')) errors[role] += v.value;
    }
    // OCSP is answered ahead of the router: its answers count as validation requests, its 500s as errors.
    for (const v of await values(this.o.registry, 'rampart_ocsp_responses_total')) {
      requests.validation += v.value;
      if (v.labels.source === 'error' && v.labels.status === 'internalError') errors.validation += v.value;
    }
    return {
      at: Date.now(), buckets, requests, errors,
      issued: sum(await values(this.o.registry, 'rampart_certificates_issued_total')),
      ocsp: sum(await values(this.o.registry, 'rampart_ocsp_responses_total')),
    };
  }

  /** Takes one point now (the timer calls this; tests may too). */
  async sample(): Promise<void> {
    const now = await this.totals();
    const lagValues = await values(this.o.registry, 'rampart_replication_lag_seconds');
    const prev = this.last;
    this.last = now;
    if (!prev) return;
    const dt = Math.max(0.001, (now.at - prev.at) / 1000);
    const delta = new Map<number, number>();
    for (const [le, c] of now.buckets) delta.set(le, c - (prev.buckets.get(le) ?? 0));
    const p99 = histogramQuantile(0.99, delta);
    const diff = (k: 'validation' | 'issuance', a: Totals['requests'], b: Totals['requests']) => Math.max(0, a[k] - b[k]);
    this.ring.push({
      t: Math.round(now.at / 1000),
      issuancePerSecond: (now.issued - prev.issued) / dt,
      ocspPerSecond: (now.ocsp - prev.ocsp) / dt,
      ocspP99Ms: p99 === null ? null : p99 * 1000,
      replicationLagSeconds: lagValues.length ? Math.max(...lagValues.map((v) => v.value)) : null,
      requests: { validation: diff('validation', now.requests, prev.requests), issuance: diff('issuance', now.requests, prev.requests) },
      errors: { validation: diff('validation', now.errors, prev.errors), issuance: diff('issuance', now.errors, prev.errors) },
    });
    if (this.ring.length > this.o.points) this.ring.splice(0, this.ring.length - this.o.points);
  }

  /**
   * Column arrays for the charts (uPlot's data shape). Error budget left, in
   * percent of the budget, over the window up to each point:
   * 100 × (1 − error ratio ÷ (1 − availability)); 100 with no requests yet.
   */
  view() {
    const budget = (k: 'validation' | 'issuance') => {
      const target = this.o.availability[k];
      let req = 0;
      let err = 0;
      return this.ring.map((p) => {
        req += p.requests[k];
        err += p.errors[k];
        if (target === null || req === 0) return target === null ? null : 100;
        return Math.round(10 * 100 * (1 - err / req / (1 - target / 100))) / 10;
      });
    };
    return {
      sampleSeconds: this.o.sampleSeconds,
      points: this.o.points,
      availability: this.o.availability,
      t: this.ring.map((p) => p.t),
      issuancePerSecond: this.ring.map((p) => p.issuancePerSecond),
      ocspPerSecond: this.ring.map((p) => p.ocspPerSecond),
      ocspP99Ms: this.ring.map((p) => p.ocspP99Ms),
      replicationLagSeconds: this.ring.map((p) => p.replicationLagSeconds),
      errorBudgetRemaining: { validation: budget('validation'), issuance: budget('issuance') },
    };
  }
}
