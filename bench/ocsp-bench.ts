/**
 * OCSP throughput: cached GET and cached POST against the running Rampart
 * node, side by side with the CEILING (bench/ceiling-server.ts: plain
 * node:http returning the same bytes with no work), both driven by autocannon
 * with identical settings.
 */
import autocannon from 'autocannon';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { mustOpenssl } from '../test/helpers/openssl.js';
import { p256SignRate } from './reference-rates.js';
import {
  LatencyRecorder, durationSeconds, fmtInt, fmtMs, fmtPct, machine, meets, round, spawnTs, stopChild, waitForLine, warmupSeconds,
  type BenchResult, type LatencyStats, type Target,
} from './bench-util.js';

export interface OcspContext {
  httpUrl: string;
  /** DER OCSPRequest made by `openssl ocsp -no_nonce -reqout`. */
  reqDer: Buffer;
  /** Rampart's (cached) response to it, and the headers it came with. */
  respDer: Buffer;
  respHeaders: Record<string, string>;
  workDir: string;
}

/** Issue 16: cached OCSP at >= 0.80 of the plain node:http ceiling in the same run. */
export const OCSP_TARGET: Target = { description: '>= 80 % of the ceiling req/s (issue 16)', metric: 'rampartPercentOfCeiling', comparator: '>=', value: 80, unit: '%' };
/** Issue 17: uncached OCSP (every answer signed) at >= 5k/s on this machine. */
export const OCSP_SIGNED_TARGET: Target = { description: '>= 5,000 signed responses/s (issue 17)', metric: 'rampartSignedPerSecond', comparator: '>=', value: 5000, unit: '/s' };

export const CONNECTIONS = 32;
export const PIPELINING = 1;
/**
 * Both servers answer at most 10,000 requests per keep-alive connection
 * (maxRequestsPerSocket, then 503s); autocannon does not act on
 * "Connection: close", so each connection reconnects after this many requests.
 */
export const RECONNECT_EVERY = 5_000;

export interface Leg { rps: number; ok2xx: number; requests: number; non2xx: number; errors: number; timeouts: number; durationS: number; bytes: number }

interface LoadRun {
  /** 2xx responses per second over all measured legs. */
  rps: number;
  legs: Leg[];
  requests: number;
  ok2xx: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  durationS: number;
  bytesPerResponse: number;
  latencyMs: LatencyStats;
}

export interface Target1 { url: string; method: 'GET' | 'POST'; body?: Buffer }

/** One autocannon leg against an OCSP URL (also used by bench/scale-bench.ts). */
export function load(t: Target1, seconds: number, lat?: LatencyRecorder): Promise<Leg> {
  return new Promise((resolve, reject) => {
    const inst = autocannon({
      url: t.url, method: t.method, body: t.body, connections: CONNECTIONS, pipelining: PIPELINING, duration: seconds, reconnectRate: RECONNECT_EVERY,
      headers: t.body ? { 'content-type': 'application/ocsp-request' } : {}, timeout: 10,
    }, (err: unknown, r: autocannon.Result) => {
      if (err) return reject(err instanceof Error ? err : new Error(String(err)));
      const ok = r['2xx'];
      resolve({
        rps: round(ok / r.duration, 1), ok2xx: ok, requests: r.requests.total, non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts,
        durationS: r.duration, bytes: r.throughput.total,
      });
    });
    if (lat) inst.on('response', (_c: unknown, status: number, _bytes: number, ms: number) => { if (status >= 200 && status < 300) lat.add(ms); });
  });
}

function combine(legs: Leg[], lat: LatencyRecorder): LoadRun {
  const sum = (k: keyof Leg): number => legs.reduce((a, l) => a + l[k], 0);
  const ok = sum('ok2xx');
  return {
    rps: round(ok / sum('durationS'), 1), legs, requests: sum('requests'), ok2xx: ok, non2xx: sum('non2xx'), errors: sum('errors'),
    timeouts: sum('timeouts'), durationS: sum('durationS'), bytesPerResponse: ok ? Math.round(sum('bytes') / ok) : 0, latencyMs: lat.stats(),
  };
}

/**
 * Warms both servers, then measures in ABBA order (Rampart, ceiling, ceiling,
 * Rampart), each leg the full duration, so drift on a shared host and
 * first/second effects fall equally on both.
 */
async function measurePair(a: Target1, b: Target1): Promise<[LoadRun, LoadRun]> {
  await load(a, warmupSeconds());
  await load(b, warmupSeconds());
  const latA = new LatencyRecorder();
  const latB = new LatencyRecorder();
  const a1 = await load(a, durationSeconds(), latA);
  const b1 = await load(b, durationSeconds(), latB);
  const b2 = await load(b, durationSeconds(), latB);
  const a2 = await load(a, durationSeconds(), latA);
  return [combine([a1, a2], latA), combine([b1, b2], latB)];
}

function invalid(run: LoadRun): string | null {
  if (run.ok2xx === 0) return 'no successful responses';
  if (run.non2xx || run.errors || run.timeouts) return `${run.non2xx} non-2xx, ${run.errors} errors, ${run.timeouts} timeouts`;
  return null;
}

/** Starts the ceiling server in its own process; the caller must call stop(). */
async function startCeiling(ctx: OcspContext): Promise<{ url: string; stop: () => Promise<void> }> {
  const bodyFile = join(ctx.workDir, 'ceiling-body.der');
  const headersFile = join(ctx.workDir, 'ceiling-headers.json');
  writeFileSync(bodyFile, ctx.respDer);
  writeFileSync(headersFile, JSON.stringify(ctx.respHeaders));
  const child = spawnTs('ceiling-server.ts', [bodyFile, headersFile]);
  try {
    const m = await waitForLine(child, /^CEILING_LISTENING (\d+)$/, 30_000).line;
    return { url: `http://127.0.0.1:${m[1]}`, stop: () => stopChild(child) };
  } catch (e) {
    await stopChild(child);
    throw e;
  }
}

/** Checks that a URL answers with exactly the expected body before loading it. */
async function checkOnce(t: Target1, expected: Buffer): Promise<void> {
  const r = await fetch(t.url, { method: t.method, body: t.body ? new Uint8Array(t.body) : undefined, headers: t.body ? { 'content-type': 'application/ocsp-request' } : {} });
  const got = Buffer.from(await r.arrayBuffer());
  if (r.status !== 200 || !got.equals(expected)) throw new Error(`${t.method} ${t.url}: status ${r.status}, ${got.length} bytes (expected 200, the cached response of ${expected.length} bytes)`);
}

export async function runOcspBench(ctx: OcspContext): Promise<BenchResult[]> {
  const b64 = ctx.reqDer.toString('base64');
  const getPath = `/ocsp/${encodeURIComponent(b64)}`;
  const ceiling = await startCeiling(ctx);
  const out: BenchResult[] = [];
  try {
    for (const method of ['GET', 'POST'] as const) {
      const mk = (base: string): Target1 => (method === 'GET' ? { url: `${base}${getPath}`, method } : { url: `${base}/ocsp`, method, body: ctx.reqDer });
      const rampartT = mk(ctx.httpUrl);
      const ceilingT = mk(ceiling.url);
      await checkOnce(rampartT, ctx.respDer);
      await checkOnce(ceilingT, ctx.respDer);
      console.log(`[ocsp] ${method}: warm-up ${warmupSeconds()} s each, then Rampart / ceiling / ceiling / Rampart, ${durationSeconds()} s each ...`);
      const [rampart, ceil] = await measurePair(rampartT, ceilingT);
      // The cache entry must still be the one we measured (no refresh or eviction meanwhile).
      await checkOnce(rampartT, ctx.respDer);
      console.log(`[ocsp] ${method}: Rampart ${fmtInt(rampart.rps)} req/s, ceiling ${fmtInt(ceil.rps)} req/s`);
      const ratio = (rampart.rps / ceil.rps) * 100;
      const error = invalid(rampart) ?? (invalid(ceil) ? `ceiling: ${invalid(ceil)}` : null);
      const target = OCSP_TARGET;
      const actual = error ? null : round(ratio, 1);
      out.push({
        name: `ocsp-${method.toLowerCase()}-cached`,
        title: `OCSP ${method}, cached response`,
        date: new Date().toISOString(),
        machine: machine(),
        parameters: {
          tool: 'autocannon (programmatic API), in the bench process', connections: CONNECTIONS, pipelining: PIPELINING, reconnectEveryRequests: RECONNECT_EVERY,
          durationSeconds: durationSeconds(), warmupSeconds: warmupSeconds(), method,
          order: 'warm-up both, then ABBA: Rampart, ceiling, ceiling, Rampart (each leg durationSeconds); results combine both legs',
          path: method === 'GET' ? '/ocsp/<URL-encoded base64 OCSPRequest>' : '/ocsp (body: DER OCSPRequest)',
          requestBytes: ctx.reqDer.length, responseBodyBytes: ctx.respDer.length,
          request: 'openssl ocsp -issuer int.pem -cert leaf.pem -no_nonce -reqout req.der (one certificate issued via REST)',
          ceiling: 'bench/ceiling-server.ts: node:http in its own process, same body bytes and response headers, no parsing or lookup',
          latency: 'per-response latency from autocannon response events (sub-ms), 2xx only',
        },
        measurements: { rampart, ceiling: ceil, rampartPercentOfCeiling: round(ratio, 1) },
        target, actual, pass: meets(target, actual), ...(error ? { error } : {}),
        summary: {
          benchmark: `OCSP ${method} (cached), req/s`, rampart: fmtInt(rampart.rps), ceiling: `${fmtInt(ceil.rps)} (plain node:http)`,
          ratio: fmtPct(ratio),
          detail: `${fmtMs(rampart.latencyMs.p50)} / ${fmtMs(rampart.latencyMs.p99)}`,
          ceilingDetail: `${fmtMs(ceil.latencyMs.p50)} / ${fmtMs(ceil.latencyMs.p99)}`,
        },
      });
    }
    out.push(await signedLeg(ctx));
  } finally {
    await ceiling.stop();
  }
  return out;
}

/**
 * Uncached OCSP: a request with a nonce (RFC 8954) is answered with a freshly
 * signed response every time, as any answer not in the cache is. The bound
 * beside it: raw P-256 signatures/s with node:crypto in the bench process.
 */
async function signedLeg(ctx: OcspContext): Promise<BenchResult> {
  const reqFile = join(ctx.workDir, 'req-nonce.der');
  mustOpenssl(['ocsp', '-issuer', join(ctx.workDir, 'int.pem'), '-cert', join(ctx.workDir, 'leaf.pem'), '-reqout', reqFile]);
  const t: Target1 = { url: `${ctx.httpUrl}/ocsp`, method: 'POST', body: readFileSync(reqFile) };
  console.log(`[ocsp] POST with a nonce (signed per request): warm-up ${warmupSeconds()} s, then 2 x ${durationSeconds()} s ...`);
  await load(t, warmupSeconds());
  const lat = new LatencyRecorder();
  const run = combine([await load(t, durationSeconds(), lat), await load(t, durationSeconds(), lat)], lat);
  const bound = p256SignRate(2, 200_000, 300);
  const error = invalid(run);
  const actual = error ? null : round(run.rps, 1);
  console.log(`[ocsp] signed: Rampart ${fmtInt(run.rps)}/s; raw P-256 signing ${fmtInt(bound.perSecond)}/s`);
  return {
    name: 'ocsp-post-signed', title: 'OCSP POST with a nonce: every answer signed (uncached)',
    date: new Date().toISOString(), machine: machine(),
    parameters: {
      tool: 'autocannon (programmatic API), in the bench process', connections: CONNECTIONS, pipelining: PIPELINING,
      durationSeconds: durationSeconds(), warmupSeconds: warmupSeconds(), request: 'openssl ocsp -issuer int.pem -cert leaf.pem -reqout (with a nonce)',
      bound: 'raw P-256 signatures/s (node:crypto, one thread, in the bench process)',
    },
    measurements: { rampart: run, rampartSignedPerSecond: round(run.rps, 1), p256SignsPerSecond: bound.perSecond },
    target: OCSP_SIGNED_TARGET, actual, pass: meets(OCSP_SIGNED_TARGET, actual), ...(error ? { error } : {}),
    summary: {
      benchmark: 'OCSP POST with a nonce (signed per request), responses/s', rampart: fmtInt(run.rps),
      ceiling: `${fmtInt(bound.perSecond)} (raw P-256 signs/s)`, ratio: fmtPct((run.rps / bound.perSecond) * 100),
      detail: `${fmtMs(run.latencyMs.p50)} / ${fmtMs(run.latencyMs.p99)}`, ceilingDetail: '',
    },
  };
}
