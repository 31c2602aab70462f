/**
 * The REST issuance load driver shared by the throughput and the recovery
 * benchmarks: `concurrency` workers POST /api/v1/certificates (the same
 * ECDSA P-256 CSR, profile 'server', a fresh Idempotency-Key per request)
 * over HTTPS keep-alive to a node or to the HAProxy TLS frontend, bounded by
 * time, by count, by failures and by an optional stop condition.
 */
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:https';
import { LatencyRecorder, round, type LatencyStats } from './bench-util.js';

export interface IssuanceTarget {
  /** Base URL of the HTTPS API: a node, or the HAProxy TLS frontend. */
  apiUrl: string;
  /** PEM bundle trusted for that URL. */
  ca: string;
  token: string;
  csrPem: string;
}

export interface DriveOptions {
  concurrency: number;
  seconds: number;
  maxCount: number;
  /** Record latencies and serials (false for a warm-up). */
  record?: boolean;
  /** Stop once this many requests failed (default 100). */
  maxFailures?: number;
  /** Client-side timeout of one request (default 30 s). */
  timeoutMs?: number;
  /** A worker waits this long after a failed request (default 0). */
  pauseAfterFailureMs?: number;
  /** Keep every request's start, end and outcome (recovery measurements). */
  timeline?: boolean;
  /** Stop early once this returns true (checked before every request). */
  until?: () => boolean;
  /** Called when each request finishes. */
  onSample?: (s: RequestSample) => void;
}

/** One request; times in epoch milliseconds (sub-millisecond, monotonic: see now()). */
export interface RequestSample { start: number; end: number; ok: boolean; serial?: string; replayed?: boolean; error?: string }

export interface IssuanceRun {
  concurrency: number;
  /** 2xx answers: 201 new certificates, plus 200 replays (see replayed). */
  issued: number;
  /**
   * 200 answers: an earlier attempt with the same key had issued the certificate
   * (HAProxy retried a request whose first answer was lost); the client still gets it.
   */
  replayed: number;
  failed: number;
  distinctSerials: number;
  seconds: number;
  perSecond: number;
  latencyMs: LatencyStats;
  stoppedBy: 'time' | 'count' | 'failures' | 'condition';
  idempotencyKey: 'a fresh UUID per request';
  firstError?: string;
}

export interface Drive { run: IssuanceRun; samples: RequestSample[] }

/** Epoch milliseconds from the monotonic clock (comparable with Date.now() to within a few ms). */
export const now = (): number => performance.timeOrigin + performance.now();

interface Reply { status: number; body: string }

function post(url: URL, agent: Agent, headers: Record<string, string>, payload: Buffer, timeoutMs: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('client timeout'), { code: 'CLIENT_TIMEOUT' })));
    req.on('error', reject);
    req.end(payload);
  });
}

function describeFailure(r: Reply): string {
  let type = '';
  try { type = String((JSON.parse(r.body) as { type?: string }).type ?? '').split(/[/:]/).pop() ?? ''; } catch { /* not JSON */ }
  return `HTTP ${r.status}${type ? ` ${type}` : ''}`;
}

export async function drive(t: IssuanceTarget, o: DriveOptions): Promise<Drive> {
  const url = new URL('/api/v1/certificates', t.apiUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency, ca: t.ca });
  const payload = Buffer.from(JSON.stringify({ csr: t.csrPem, profile: 'server' }));
  const base = { authorization: `Bearer ${t.token}`, 'content-type': 'application/json', 'content-length': String(payload.length) };
  const maxFailures = o.maxFailures ?? 100;
  const timeoutMs = o.timeoutMs ?? 30_000;
  const lat = new LatencyRecorder(o.maxCount);
  const serials = new Set<string>();
  const samples: RequestSample[] = [];
  let started = 0;
  let issued = 0;
  let replayed = 0;
  let failed = 0;
  let stoppedByCondition = false;
  let firstError: string | undefined;
  const t0 = performance.now();
  const deadline = t0 + o.seconds * 1000;
  const finish = (s: RequestSample): void => {
    if (o.timeline) samples.push(s);
    o.onSample?.(s);
  };
  const worker = async (): Promise<void> => {
    while (started < o.maxCount && performance.now() < deadline && failed < maxFailures) {
      if (o.until?.()) { stoppedByCondition = true; return; }
      started++;
      const start = now();
      try {
        const r = await post(url, agent, { ...base, 'idempotency-key': randomUUID() }, payload, timeoutMs);
        const end = now();
        if (r.status === 201 || r.status === 200) {
          issued++;
          if (r.status === 200) replayed++;
          const serial = String((JSON.parse(r.body) as { serial: string }).serial);
          if (o.record) { lat.add(end - start); serials.add(serial); }
          finish({ start, end, ok: true, serial, ...(r.status === 200 ? { replayed: true } : {}) });
          continue;
        }
        failed++;
        firstError ??= `HTTP ${r.status}: ${r.body.slice(0, 300)}`;
        finish({ start, end, ok: false, error: describeFailure(r) });
      } catch (e) {
        failed++;
        firstError ??= (e as Error).message;
        finish({ start, end: now(), ok: false, error: (e as NodeJS.ErrnoException).code ?? (e as Error).message });
      }
      if (o.pauseAfterFailureMs) await new Promise((r) => setTimeout(r, o.pauseAfterFailureMs));
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency }, worker));
  } finally {
    agent.destroy();
  }
  const ms = performance.now() - t0;
  const stoppedBy = stoppedByCondition ? 'condition' : started >= o.maxCount ? 'count' : failed >= maxFailures ? 'failures' : 'time';
  return {
    run: {
      concurrency: o.concurrency, issued, replayed, failed, distinctSerials: serials.size, seconds: round(ms / 1000), perSecond: round((issued / ms) * 1000, 1),
      latencyMs: lat.stats(), stoppedBy, idempotencyKey: 'a fresh UUID per request', ...(firstError ? { firstError } : {}),
    },
    samples,
  };
}

/** Called right before and right after each recorded run (after the warm-up; no request in flight at either point). */
export interface LevelHooks {
  beforeRecord?: (concurrency: number) => Promise<void>;
  afterRecord?: (concurrency: number, run: IssuanceRun) => Promise<void>;
}

/** Warm-up, then a recorded run, at each concurrency level in turn. */
export async function driveLevels(t: IssuanceTarget, label: string, levels: number[], warmup: number, seconds: number, maxCount: number, hooks: LevelHooks = {}): Promise<IssuanceRun[]> {
  const runs: IssuanceRun[] = [];
  for (const concurrency of levels) {
    console.log(`[${label}] c=${concurrency}: ${warmup} s warm-up + ${seconds} s (max ${maxCount}) ...`);
    await drive(t, { concurrency, seconds: warmup, maxCount: 500 });
    await hooks.beforeRecord?.(concurrency);
    const { run } = await drive(t, { concurrency, seconds, maxCount, record: true });
    await hooks.afterRecord?.(concurrency, run);
    console.log(`[${label}] c=${concurrency}: ${Math.round(run.perSecond)} issuances/s, p99 ${run.latencyMs.p99} ms${run.failed ? `, ${run.failed} failed` : ''}`);
    runs.push(run);
  }
  return runs;
}

/** Why a throughput run is not a valid measurement, if it is not. */
export function invalidRun(run: IssuanceRun): string | undefined {
  if (run.failed) return `${run.failed} failed requests; first: ${run.firstError}`;
  if (run.distinctSerials !== run.issued) return `${run.issued} issued but ${run.distinctSerials} distinct serials`;
  if (run.issued === 0) return 'nothing issued';
  return undefined;
}
