/**
 * ACME (RFC 8555) side by side: Rampart's ACME server against pebble (Let's
 * Encrypt's in-memory ACME test server), in the same run, with the same client
 * (acme-client), the same key type (ECDSA P-256 account and certificate keys)
 * and the same http-01 responder. Everything on 127.0.0.1.
 *
 * Measured: complete orders per second with 1 and 8 concurrent clients (each
 * client its own account, created before any timing) and the p50 / p99 latency
 * of one order (newOrder -> authorization -> http-01 challenge -> poll ->
 * finalize -> poll -> certificate download). Each level: an unrecorded warm-up
 * on both servers, then a fixed number of orders per server in two legs, in
 * ABBA order (Rampart, pebble, pebble, Rampart), combined.
 *
 * Part of `npm run bench` (bench/run.ts); also runs alone:
 *   node --import tsx bench/acme-vs-pebble.ts
 * Writes bench/results/acme-vs-pebble.json and bench/results/acme-vs-pebble.md.
 *
 * Knobs: BENCH_ACME_ORDERS_C1 (default 60), BENCH_ACME_ORDERS_C8 (default 160),
 * BENCH_ACME_POLL_MS (first poll backoff, default 25 ms).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type acme from 'acme-client';
import { call } from '../test/helpers/api-client.js';
import { removeDir, startNode, tempDir, type NodeProcess } from '../test/helpers/node-process.js';
import {
  RESULTS_DIR, ROOT, envNumber, failedResult, fmtInt, fmtMs, fmtPct, installAbortHandlers, LatencyRecorder, machine, meets, onAbort, round, writeResult,
  type BenchResult, type LatencyStats, type Target,
} from './bench-util.js';
import {
  PHASES, configureClient, createAccount, driveOrders, prepareOrders, takeStats,
  type LegResult, type OriginStats, type Phase, type PollOptions,
} from './acme/driver.js';
import { PEBBLE_ENV, startPebble, type Pebble } from './acme/pebble.js';
import { startResponder, type Responder } from './acme/responder.js';

export const ACME_NAME = 'acme-vs-pebble';
const TITLE = 'ACME orders: Rampart vs pebble (http-01, acme-client, ECDSA P-256)';

/** Issue 16: complete orders/s at 8 clients at least twice pebble's (in-memory, no durable storage) in the same run. */
export const ACME_TARGET: Target = {
  description: 'Rampart complete orders/s at 8 clients >= 2x pebble (in-memory, no durable storage) in the same run (issue 16)',
  metric: 'rampartPercentOfPebbleC8', comparator: '>=', value: 200, unit: '%',
};

const MAX_ORDERS = 250;
const ordersFor = (name: string, dflt: number): number => {
  const n = Math.floor(envNumber(name, dflt));
  if (n < 2 || n > MAX_ORDERS) throw new Error(`${name} must be between 2 and ${MAX_ORDERS} (Rampart's default per-account order limit is 300 per 3 h), got ${n}`);
  return n;
};

interface Level { concurrency: number; orders: number; warmup: number }
const levels = (): Level[] => [
  { concurrency: 1, orders: ordersFor('BENCH_ACME_ORDERS_C1', 60), warmup: 3 },
  { concurrency: 8, orders: ordersFor('BENCH_ACME_ORDERS_C8', 160), warmup: 8 },
];
const pollOptions = (): PollOptions => ({ backoffMinMs: envNumber('BENCH_ACME_POLL_MS', 25), backoffMaxMs: 1_000, backoffAttempts: 12 });
const ORDER_TIMEOUT_MS = 60_000;

/** Rampart settings for the run (env overrides, see src/config/load.ts). */
const RAMPART_ENV = (responderPort: number): Record<string, string> => ({
  RAMPART_ACME__VALIDATION__CONNECT_ADDRESS: '127.0.0.1',
  RAMPART_ACME__VALIDATION__HTTP_PORT: String(responderPort),
  // pebble runs with PEBBLE_AUTHZREUSE=0: every order validates afresh on both sides.
  RAMPART_ACME__AUTHORIZATION_REUSE_HOURS: '0',
});

type ServerKey = 'rampart' | 'pebble';
interface Server { key: ServerKey; label: string; directoryUrl: string; origin: string; pid: number | undefined; clients: acme.Client[] }

export interface ServerRun {
  orders: number;
  completed: number;
  failed: number;
  seconds: number;
  ordersPerSecond: number;
  latencyMs: LatencyStats;
  /** Mean and largest milliseconds per phase of a completed order. */
  phaseMeanMs: Record<Phase, number>;
  phaseMaxMs: Record<Phase, number>;
  /** finalize answers by order status (valid at once, or processing and polled). */
  finalizeStatus: Record<string, number>;
  http: { requests: number; requestsPerOrder: number; connections: number; connectionsPerOrder: number; resumedConnections: number;
    headContentLength: OriginStats['headContentLength']; byMethod: Record<string, number>; statuses: Record<string, number>; failures: OriginStats['failures'] };
  /** CPU time of the server process(es) during the recorded legs (utime + stime from /proc). */
  serverCpuMsPerOrder: number | null;
  /** CPU time of the bench process (acme-client, the responder, CSR checks) during the recorded legs, per completed order. */
  clientCpuMsPerOrder: number;
  /** Key types along the downloaded chain, leaf first. */
  chain: string | null;
  errors: string[];
}

export interface LevelRun {
  concurrency: number; warmupOrders: number; legs: string[]; rampart: ServerRun | null; pebble: ServerRun;
  /** The Rampart node's own view over the recorded legs of this level (its /metrics): largest event-loop delay, GC pauses. */
  rampartNode: { eventLoopLagMaxMs: number | null; gcMs: number | null; gcCount: number | null } | null;
}

/** utime + stime of a process in ms (Linux /proc), or null. */
function cpuMs(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // fields 14, 15; USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/** From the node's /metrics: the largest event-loop delay since the previous scrape (prom-client resets it), and cumulative GC time. */
interface NodeProbe { lagMaxMs: number | null; gcMs: number | null; gcCount: number | null }
async function probeNode(httpUrl: string): Promise<NodeProbe> {
  try {
    const r = await call(`${httpUrl}/metrics`);
    const text = String(r.body);
    const lag = /^rampart_process_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text);
    let gcSum = 0, gcCount = 0, seen = false;
    for (const m of text.matchAll(/^rampart_process_nodejs_gc_duration_seconds_(sum|count)\{[^}]*\} (\S+)$/gm)) {
      seen = true;
      if (m[1] === 'sum') gcSum += Number(m[2]);
      else gcCount += Number(m[2]);
    }
    return { lagMaxMs: lag ? round(Number(lag[1]) * 1000, 1) : null, gcMs: seen ? gcSum * 1000 : null, gcCount: seen ? gcCount : null };
  } catch {
    return { lagMaxMs: null, gcMs: null, gcCount: null };
  }
}

function combine(legs: LegResult[], http: OriginStats, cpu: number | null, clientCpu: number): ServerRun {
  const rec = new LatencyRecorder(10_000);
  const phaseSum = Object.fromEntries(PHASES.map((p) => [p, 0])) as Record<Phase, number>;
  const phaseMax = Object.fromEntries(PHASES.map((p) => [p, 0])) as Record<Phase, number>;
  const finalizeStatus: Record<string, number> = {};
  let completed = 0, failed = 0, seconds = 0, orders = 0;
  const errors: string[] = [];
  for (const l of legs) {
    orders += l.orders; completed += l.completed; failed += l.failed; seconds += l.seconds;
    errors.push(...l.errors);
    for (const t of l.timings) {
      rec.add(t.totalMs);
      for (const p of PHASES) { phaseSum[p] += t.phases[p]; phaseMax[p] = Math.max(phaseMax[p], t.phases[p]); }
      finalizeStatus[t.finalizeStatus] = (finalizeStatus[t.finalizeStatus] ?? 0) + 1;
    }
  }
  const phaseMeanMs = Object.fromEntries(PHASES.map((p) => [p, completed ? round(phaseSum[p] / completed) : NaN])) as Record<Phase, number>;
  return {
    orders, completed, failed, seconds: round(seconds), ordersPerSecond: round(completed / seconds, 2), latencyMs: rec.stats(), phaseMeanMs,
    phaseMaxMs: Object.fromEntries(PHASES.map((p) => [p, round(phaseMax[p])])) as Record<Phase, number>, finalizeStatus,
    http: {
      requests: http.requests, requestsPerOrder: round(http.requests / Math.max(1, orders), 2),
      connections: http.connections, connectionsPerOrder: round(http.connections / Math.max(1, orders), 2), resumedConnections: http.resumed,
      headContentLength: http.headContentLength, byMethod: http.byMethod, statuses: http.statuses, failures: http.failures },
    serverCpuMsPerOrder: cpu === null ? null : round(cpu / Math.max(1, completed), 2),
    clientCpuMsPerOrder: round(clientCpu / Math.max(1, completed), 2),
    chain: legs.find((l) => l.chain)?.chain ?? null,
    errors: errors.slice(0, 10),
  };
}

let seq = 0;
const runId = randomBytes(3).toString('hex');
/** Fresh names, each its own registered domain (so no per-domain limit is shared between orders). */
const names = (server: ServerKey, n: number, tag: string): string[] =>
  Array.from({ length: n }, () => `www.${server}-${tag}-${++seq}-${runId}.test`);

async function leg(s: Server, level: Level, n: number, tag: string, responder: Responder): Promise<LegResult> {
  const orders = await prepareOrders(names(s.key, n, tag));
  return driveOrders(s.clients, level.concurrency, orders, responder, ORDER_TIMEOUT_MS);
}

async function runLevel(level: Level, rampart: Server | null, pebble: Server, responder: Responder, rampartHttpUrl?: string): Promise<LevelRun> {
  const servers = rampart ? [rampart, pebble] : [pebble];
  for (const s of servers) {
    const w = await leg(s, level, level.warmup, `w${level.concurrency}`, responder);
    if (w.failed) throw new Error(`${s.label} warm-up at ${level.concurrency} client(s): ${w.failed} of ${w.orders} orders failed: ${w.errors.join(' | ')}`);
  }
  const half = [Math.ceil(level.orders / 2), Math.floor(level.orders / 2)];
  // ABBA: Rampart, pebble, pebble, Rampart (pebble alone when Rampart is not available).
  const plan: Array<[Server, number]> = rampart ? [[rampart, half[0]!], [pebble, half[0]!], [pebble, half[1]!], [rampart, half[1]!]] : [[pebble, half[0]!], [pebble, half[1]!]];
  const legs = new Map<ServerKey, LegResult[]>();
  const cpu = new Map<ServerKey, number | null>();
  const http = new Map<ServerKey, OriginStats>();
  const clientCpu = new Map<ServerKey, number>();
  for (const s of servers) { takeStats(s.origin); cpu.set(s.key, 0); }
  const probe0 = rampart && rampartHttpUrl ? await probeNode(rampartHttpUrl) : null;
  for (const [i, [s, n]] of plan.entries()) {
    const orders = await prepareOrders(names(s.key, n, `c${level.concurrency}l${i}`));
    const c0 = cpuMs(s.pid);
    const u0 = process.cpuUsage();
    const r = await driveOrders(s.clients, level.concurrency, orders, responder, ORDER_TIMEOUT_MS);
    const u1 = process.cpuUsage(u0);
    const c1 = cpuMs(s.pid);
    clientCpu.set(s.key, (clientCpu.get(s.key) ?? 0) + (u1.user + u1.system) / 1000);
    const prev = cpu.get(s.key);
    cpu.set(s.key, prev === null || prev === undefined || c0 === null || c1 === null ? null : prev + (c1 - c0));
    legs.set(s.key, [...(legs.get(s.key) ?? []), r]);
    console.log(`[acme] c=${level.concurrency} leg ${i + 1}/${plan.length} ${s.label}: ${r.completed}/${r.orders} orders in ${r.seconds.toFixed(2)} s`
      + `${r.failed ? ` (${r.failed} failed: ${r.errors[0] ?? ''})` : ''}`);
    // Take the counters now: the legs of the other server go to another origin anyway.
    const got = takeStats(s.origin);
    const acc: OriginStats = http.get(s.key) ?? { requests: 0, connections: 0, resumed: 0, headContentLength: { present: 0, absent: 0 }, byMethod: {}, statuses: {}, failures: [] };
    acc.headContentLength.present += got.headContentLength.present;
    acc.headContentLength.absent += got.headContentLength.absent;
    acc.requests += got.requests;
    acc.connections += got.connections;
    acc.resumed += got.resumed;
    for (const [k, v] of Object.entries(got.byMethod)) acc.byMethod[k] = (acc.byMethod[k] ?? 0) + v;
    for (const [k, v] of Object.entries(got.statuses)) acc.statuses[k] = (acc.statuses[k] ?? 0) + v;
    acc.failures = [...acc.failures, ...got.failures].slice(-10);
    http.set(s.key, acc);
  }
  const probe1 = probe0 && rampartHttpUrl ? await probeNode(rampartHttpUrl) : null;
  const rampartNode = probe0 && probe1 ? {
    eventLoopLagMaxMs: probe1.lagMaxMs,
    gcMs: probe0.gcMs !== null && probe1.gcMs !== null ? round(probe1.gcMs - probe0.gcMs, 1) : null,
    gcCount: probe0.gcCount !== null && probe1.gcCount !== null ? probe1.gcCount - probe0.gcCount : null,
  } : null;
  const runOf = (k: ServerKey): ServerRun => combine(legs.get(k) ?? [], http.get(k)!, cpu.get(k) ?? null, clientCpu.get(k) ?? 0);
  return {
    concurrency: level.concurrency, warmupOrders: level.warmup, legs: plan.map(([s, n]) => `${s.key}:${n}`),
    rampart: rampart ? runOf('rampart') : null, pebble: runOf('pebble'), rampartNode,
  };
}

/** Whether Rampart's node serves an ACME directory; the problem as text when it does not. */
async function rampartDirectory(node: NodeProcess, ca: string): Promise<{ url: string; error?: string }> {
  const url = `${node.httpsUrl}/acme/directory`;
  try {
    const r = await call(url, { ca });
    const body = typeof r.body === 'string' ? r.body : Buffer.isBuffer(r.body) ? r.body.toString('utf8') : JSON.stringify(r.body);
    if (r.status !== 200) return { url, error: `GET ${url} answered ${r.status}: ${body.slice(0, 500)}` };
    if (!r.body || typeof r.body !== 'object' || typeof (r.body as Record<string, unknown>).newOrder !== 'string') return { url, error: `GET ${url}: not an ACME directory: ${body.slice(0, 500)}` };
    return { url };
  } catch (e) {
    return { url, error: `GET ${url} failed: ${(e as Error).message}` };
  }
}

function acmeClientVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'acme-client', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function invalid(run: ServerRun | null, label: string, c: number): string | undefined {
  if (!run) return undefined;
  if (run.failed) return `${label}, ${c} client(s): ${run.failed} of ${run.orders} orders failed: ${run.errors[0] ?? ''}`;
  if (run.completed !== run.orders) return `${label}, ${c} client(s): ${run.completed} of ${run.orders} orders completed`;
  return undefined;
}

function record(runs: LevelRun[], params: Record<string, unknown>, rampartError: string | undefined): BenchResult {
  const errors = [rampartError, ...runs.flatMap((r) => [invalid(r.rampart, 'Rampart', r.concurrency), invalid(r.pebble, 'pebble', r.concurrency)])].filter((x): x is string => !!x);
  const error = errors.length ? errors.join('; ').slice(0, 2_000) : undefined;
  const at = (c: number): LevelRun | undefined => runs.find((r) => r.concurrency === c);
  const pct = (c: number): number => {
    const r = at(c);
    return r?.rampart ? (r.rampart.ordersPerSecond / r.pebble.ordersPerSecond) * 100 : NaN;
  };
  const actual = error ? null : round(pct(8), 1);
  const cs = runs.map((r) => r.concurrency);
  const join2 = (f: (r: LevelRun) => string): string => runs.map(f).join(' / ');
  const lat = (s: ServerRun | null): string => (s ? `${fmtMs(s.latencyMs.p50)} / ${fmtMs(s.latencyMs.p99)}` : 'n/a');
  const perSecond = (s: ServerRun | null): string => (s ? s.ordersPerSecond.toFixed(1) : 'n/a');
  return {
    name: ACME_NAME, title: TITLE, date: new Date().toISOString(), machine: machine(), parameters: params,
    measurements: {
      levels: runs,
      ordersPerSecond: Object.fromEntries(runs.map((r) => [`c${r.concurrency}`, { rampart: r.rampart?.ordersPerSecond ?? null, pebble: r.pebble.ordersPerSecond }])),
      rampartPercentOfPebble: Object.fromEntries(runs.map((r) => [`c${r.concurrency}`, Number.isFinite(pct(r.concurrency)) ? round(pct(r.concurrency), 1) : null])),
      ...(rampartError ? { rampartError } : {}),
    },
    target: ACME_TARGET, actual, pass: meets(ACME_TARGET, actual), ...(error ? { error } : {}),
    summary: {
      benchmark: `ACME complete orders/s (http-01), ${cs.map((c) => `c=${c}`).join(' / ')}`,
      rampart: runs.some((r) => r.rampart) ? join2((r) => perSecond(r.rampart)) : 'not measured',
      ceiling: `${join2((r) => perSecond(r.pebble))} (pebble)`,
      ratio: runs.some((r) => r.rampart) ? join2((r) => fmtPct(pct(r.concurrency))) : '—',
      detail: runs.map((r) => `c=${r.concurrency}: ${lat(r.rampart)}`).join('; '),
      ceilingDetail: runs.map((r) => `c=${r.concurrency}: ${lat(r.pebble)}`).join('; '),
    },
  };
}

const num2 = (v: number | null | undefined, f: (x: number) => string): string => (v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : f(v));
const cell = (v: string): string => v.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const tableMd = (head: string[], rows: string[][]): string[] => [head, head.map(() => '---'), ...rows].map((r) => `| ${r.map(cell).join(' | ')} |`);

/** bench/results/acme-vs-pebble.md: the side-by-side tables of this benchmark. */
export function writeAcmeMarkdown(r: BenchResult): string {
  const runs = (r.measurements.levels as LevelRun[] | undefined) ?? [];
  const p = r.parameters;
  const m = r.machine;
  const lines = [
    `# ${TITLE}`, '',
    `Generated by \`node --import tsx bench/acme-vs-pebble.ts\` (also part of \`npm run bench\`) on ${r.date}. Raw record: acme-vs-pebble.json.`, '',
    `Machine: ${m.cpus} × ${m.model}, ${m.totalmemGiB} GiB RAM, ${m.platform} ${m.release}, Node ${m.node}; load average at the end ${m.loadavg.join(' / ')}.`, '',
  ];
  if (r.error) lines.push(`**Error:** ${r.error}`, '');
  const ops = (s: ServerRun | null): string => (s ? `${s.ordersPerSecond.toFixed(1)}/s` : 'not measured');
  const lat = (s: ServerRun | null): string => (s ? `${fmtMs(s.latencyMs.p50)} / ${fmtMs(s.latencyMs.p99)}` : '—');
  const ratio = (l: LevelRun): string => (l.rampart ? fmtPct((l.rampart.ordersPerSecond / l.pebble.ordersPerSecond) * 100) : '—');
  lines.push('## Complete orders per second and order latency', '',
    ...tableMd(['Clients', 'Orders per server', 'Rampart', 'pebble', 'Rampart vs pebble', 'Rampart p50 / p99', 'pebble p50 / p99'],
      runs.map((l) => [String(l.concurrency), String(l.pebble.orders), ops(l.rampart), ops(l.pebble), ratio(l), lat(l.rampart), lat(l.pebble)])),
    '',
    'An order is timed from newOrder to the downloaded certificate; orders/s = completed orders / wall time of the recorded legs. '
      + `With ${runs[0]?.pebble.orders ?? '?'} orders, p99 is close to the slowest order.`, '');
  const cols = runs.flatMap((l) => [[`Rampart c=${l.concurrency}`, l.rampart], [`pebble c=${l.concurrency}`, l.pebble]] as Array<[string, ServerRun | null]>);
  if (cols.length) {
    const num = (v: number | null | undefined, f: (x: number) => string): string => (v === null || v === undefined || !Number.isFinite(v) ? '—' : f(v));
    lines.push('## Where an order\'s time goes', '',
      'Mean milliseconds per step of a completed order (acme-client fetches a fresh nonce with HEAD newNonce before every signed request, on both servers).', '',
      ...tableMd(['Step', ...cols.map(([t]) => t)], [
        ...PHASES.map((ph) => [ph, ...cols.map(([, s]) => num(s?.phaseMeanMs[ph], fmtMs))]),
        ['total (mean)', ...cols.map(([, s]) => num(s?.latencyMs.mean, fmtMs))],
        ['HTTP requests per order', ...cols.map(([, s]) => num(s?.http.requestsPerOrder, (x) => x.toFixed(1)))],
        ['new TLS connections per order (resumed sessions)', ...cols.map(([, s]) => (s ? `${s.http.connectionsPerOrder.toFixed(1)} (${s.http.connections ? fmtPct((s.http.resumedConnections / s.http.connections) * 100) : '—'})` : '—'))],
        ['server CPU per order', ...cols.map(([, s]) => num(s?.serverCpuMsPerOrder, fmtMs))],
        ['client CPU per order (bench process)', ...cols.map(([, s]) => num(s?.clientCpuMsPerOrder, fmtMs))],
        [`CPU-bound ceiling (${m.cpus} CPUs / (server + client CPU per order))`, ...cols.map(([, s]) => (s && s.serverCpuMsPerOrder !== null
          ? `${((m.cpus * 1000) / (s.serverCpuMsPerOrder + s.clientCpuMsPerOrder)).toFixed(1)}/s` : '—'))],
        ['largest phase of any order (max)', ...cols.map(([, s]) => (s ? fmtMs(Math.max(...PHASES.map((ph) => s.phaseMaxMs[ph]))) : '—'))],
        ['finalize answered', ...cols.map(([, s]) => (s ? Object.entries(s.finalizeStatus).map(([k, v]) => `${v} × ${k}`).join(', ') || '—' : '—'))],
        ['HTTP statuses', ...cols.map(([, s]) => (s ? Object.entries(s.http.statuses).map(([k, v]) => `${v} × ${k}`).join(', ') : '—'))],
      ]), '',
      'Steps: newOrder (POST newOrder); authorization (POST-as-GET of the authorization); challenge (key authorization registered with the responder, POST to the challenge); '
        + 'validation (polling the authorization until valid: the server fetches the token from the responder); finalize (POST the CSR); '
        + 'issuance (polling the order until valid, when finalize did not answer valid); download (POST-as-GET of the certificate). '
        + 'Server CPU: utime + stime of the server process (Rampart node; pebble without challtestsrv) over the recorded legs, divided by the completed orders; client CPU: the same for the bench process (acme-client, the responder). '
        + `The host has ${m.cpus} CPUs shared by client, responder and server.`, '');
  }
  const headNote = (k: ServerKey, label: string): string => {
    let present = 0, absent = 0;
    for (const l of runs) { present += l[k]?.http.headContentLength.present ?? 0; absent += l[k]?.http.headContentLength.absent ?? 0; }
    if (!present && !absent) return `${label} not measured`;
    return absent === 0 ? `${label} with Content-Length` : present === 0 ? `${label} without Content-Length` : `${label} ${absent} of ${present + absent} without Content-Length`;
  };
  const nodeNotes = runs.filter((l) => l.rampartNode).map((l) => `${l.concurrency} client(s): largest event-loop delay ${num2(l.rampartNode!.eventLoopLagMaxMs, fmtMs)}, `
    + `GC ${num2(l.rampartNode!.gcMs, fmtMs)} in ${num2(l.rampartNode!.gcCount, (x) => String(x))} pauses`);
  const chainOf = (k: ServerKey): string => runs.map((l) => l[k]?.chain).find((c) => c) ?? 'n/a';
  lines.push('## Notes', '',
    '- pebble keeps everything in memory; Rampart stores accounts, orders, authorizations, used nonces, rate-limit events, certificates and audit entries durably '
      + `in SQLite (WAL, synchronous=FULL). Key types of the downloaded chains (leaf first): Rampart ${chainOf('rampart')}; pebble ${chainOf('pebble')} (each server's own issuer keys).`,
    `- HEAD newNonce answers: ${headNote('rampart', 'Rampart')}; ${headNote('pebble', 'pebble')}. Without a Content-Length (allowed for HEAD) Node's HTTP client `
      + 'does not keep the connection (nodejs/node#28438), so acme-client opens a new TLS connection for the signed request that follows each nonce; '
      + 'the connection counts (and the share that resumed a TLS session) are in the table above.',
    '- pebble validates and issues asynchronously (authorization and order polled), Rampart answered finalize with the order already valid in this run; '
      + 'acme-client polls with its own backoff (see Setup), the same for both.',
    ...(nodeNotes.length ? [`- The Rampart node's own /metrics over the recorded legs (both servers' legs of a level; pebble has no such metrics): ${nodeNotes.join('; ')}.`] : []),
    '- Client, responder and server share this host\'s CPUs: when orders/s comes close to the CPU-bound ceiling row, the host (not one server) is the limit, '
      + 'and the orders/s ratio understates the difference in server CPU per order.',
    '- Other work on the host moves all numbers (load average in the JSON record); the ABBA legs expose both servers to the same drift. Compare the columns of one run.', '');
  lines.push('## Setup', '');
  for (const [k, v] of Object.entries(p)) lines.push(`- ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  lines.push('');
  const failures = runs.flatMap((l) => [['Rampart', l.rampart], ['pebble', l.pebble]] as Array<[string, ServerRun | null]>)
    .filter(([, s]) => s && (s.errors.length || s.http.failures.length));
  if (failures.length || r.error) {
    lines.push('## Errors and non-2xx answers', '');
    for (const [label, s] of failures) {
      for (const e of s!.errors) lines.push(`- ${label} order: ${e}`);
      for (const f of s!.http.failures) lines.push(`- ${label} HTTP: ${f.method} ${f.url} -> ${f.status}: ${f.body}`);
    }
    const rampartError = r.measurements.rampartError;
    if (typeof rampartError === 'string') lines.push(`- Rampart: ${rampartError}`);
    lines.push('');
  }
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${ACME_NAME}.md`);
  writeFileSync(path, lines.join('\n'));
  return path;
}

/**
 * Runs the whole comparison; never throws: a failure becomes the record's error
 * (pebble's numbers are kept when only the Rampart side failed). Writes the
 * markdown file; the caller writes the JSON record (writeResult).
 */
export async function runAcmeVsPebbleBench(): Promise<BenchResult> {
  let workDir: string | undefined;
  let responder: Responder | undefined;
  let pebble: Pebble | undefined;
  let node: NodeProcess | undefined;
  let untrackNode = (): void => undefined;
  let untrackWorkDir = (): void => undefined;
  let nodeDir: string | undefined;
  let agent: { destroy(): void } | undefined;
  let result: BenchResult;
  try {
    const lv = levels();
    const poll = pollOptions();
    workDir = tempDir('rampart-acme-bench-');
    const dir = workDir;
    untrackWorkDir = onAbort(async () => { await pebble?.stop(); removeDir(dir); });
    responder = await startResponder();
    console.log(`[acme] http-01 responder on 127.0.0.1:${responder.port}; starting pebble ...`);
    pebble = await startPebble(workDir, responder.port);
    console.log(`[acme] ${pebble.version} at ${pebble.directoryUrl}; starting a Rampart node ...`);

    let rampartError: string | undefined;
    let rampartCa = '';
    let rampartDir = '';
    try {
      nodeDir = tempDir('rampart-acme-bench-node-');
      node = await startNode({ dataDir: nodeDir, env: RAMPART_ENV(responder.port) });
      const started = node;
      untrackNode = onAbort(async () => { await started.stop(); removeDir(started.dataDir); });
      const bundle = await call(`${node.httpUrl}/ca/bundle.pem`);
      if (bundle.status !== 200) throw new Error(`GET /ca/bundle.pem: ${bundle.status}`);
      rampartCa = String(bundle.body);
      const d = await rampartDirectory(node, rampartCa);
      rampartDir = d.url;
      if (d.error) rampartError = d.error;
    } catch (e) {
      rampartError = `Rampart node: ${(e as Error).message.split('\n').slice(0, 6).join(' ')}`;
    }
    if (rampartError) console.error(`[acme] Rampart side not available, measuring pebble only: ${rampartError}`);
    else console.log(`[acme] Rampart ACME directory at ${rampartDir}`);

    // One https.Agent trusting exactly pebble's listener CA and the node's CA bundle.
    agent = configureClient(rampartCa ? [pebble.caPem, rampartCa] : [pebble.caPem]);
    const maxC = Math.max(...lv.map((l) => l.concurrency));
    const mkServer = async (key: ServerKey, label: string, directoryUrl: string, pid: number | undefined): Promise<Server> => {
      const clients: acme.Client[] = [];
      for (let i = 0; i < maxC; i++) clients.push(await createAccount(directoryUrl, poll));
      return { key, label, directoryUrl, origin: new URL(directoryUrl).origin, pid, clients };
    };
    const pebbleServer = await mkServer('pebble', 'pebble', pebble.directoryUrl, pebble.pid);
    let rampartServer: Server | null = null;
    if (!rampartError && node) {
      try {
        rampartServer = await mkServer('rampart', 'Rampart', rampartDir, node.child.pid);
      } catch (e) {
        rampartError = `Rampart newAccount failed: ${describe(e)}${failuresText(takeStats(new URL(rampartDir).origin))}`;
        console.error(`[acme] ${rampartError}`);
      }
    }
    console.log(`[acme] ${maxC} accounts on each server; levels ${lv.map((l) => `c=${l.concurrency}: ${l.warmup} warm-up + ${l.orders} orders`).join(', ')}`);

    const runs: LevelRun[] = [];
    for (const l of lv) {
      try {
        runs.push(await runLevel(l, rampartServer, pebbleServer, responder, node?.httpUrl));
      } catch (e) {
        // A Rampart failure at this level: record it and carry on with pebble alone.
        if (rampartServer && /^Rampart/.test((e as Error).message)) {
          rampartError = `${(e as Error).message}${failuresText(takeStats(rampartServer.origin))}`;
          console.error(`[acme] ${rampartError}`);
          rampartServer = null;
          runs.push(await runLevel(l, null, pebbleServer, responder));
        } else throw e;
      }
    }
    const params: Record<string, unknown> = {
      client: `acme-client ${acmeClientVersion()} (npm), the same instance settings for both servers; axios with one https.Agent (keep-alive) trusting pebble's listener CA and the Rampart node's CA bundle, no proxy`,
      keys: 'ECDSA P-256 account keys (one account per concurrent client, created before timing) and a fresh ECDSA P-256 certificate key + CSR per order (made before each leg)',
      order: 'newOrder (1 dns identifier, its own registered domain under .test) -> POST-as-GET authorization -> POST http-01 challenge -> poll authorization -> finalize -> poll order -> download certificate; the first certificate is checked for the name after each order',
      polling: `acme-client waitForValidStatus: first poll immediately, then backoff ${poll.backoffMinMs} ms doubling to at most ${poll.backoffMaxMs} ms, ${poll.backoffAttempts} attempts (acme-client ignores Retry-After while polling)`,
      levels: lv.map((l) => ({ concurrency: l.concurrency, warmupOrdersPerServer: l.warmup, recordedOrdersPerServer: l.orders })),
      legOrder: 'per level: warm-up on both servers, then two recorded legs per server in ABBA order (Rampart, pebble, pebble, Rampart), combined',
      responder: 'one node:http server on 127.0.0.1 in the bench process answers http-01 for both servers',
      pebble: `${pebble.version}, in-memory; env ${Object.entries(PEBBLE_ENV).map(([k, v]) => `${k}=${v}`).join(' ')}; -dnsserver pointing at pebble-challtestsrv (mock DNS only: A 127.0.0.1, no AAAA); httpPort = the responder`,
      rampart: `bin/rampart.mjs serve via test/helpers/node-process.ts startNode (first-run hierarchy, SQLite WAL synchronous=FULL), ACME on its HTTPS listener; env ${Object.entries(RAMPART_ENV(responder.port)).map(([k, v]) => `${k}=${k.endsWith('HTTP_PORT') ? '<responder port>' : v}`).join(' ')}; every other ACME setting (rate limits, profile server, Retry-After) at its default`,
      host: 'everything on 127.0.0.1 on this one machine: the client, the responder and the server being measured share the CPUs; the other server idles meanwhile',
      orderTimeoutMs: ORDER_TIMEOUT_MS,
    };
    result = record(runs, params, rampartError);
  } catch (e) {
    console.error('[acme] failed:', e);
    result = failedResult(ACME_NAME, TITLE, ACME_TARGET, e);
    result.summary.benchmark = 'ACME complete orders/s (http-01), c=1 / c=8';
  } finally {
    if (node) {
      await node.stop();
      untrackNode();
    }
    if (nodeDir) removeDir(nodeDir);
    await pebble?.stop();
    await responder?.close();
    agent?.destroy();
    if (workDir) removeDir(workDir);
    untrackWorkDir();
  }
  writeAcmeMarkdown(result);
  return result;
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function failuresText(s: OriginStats): string {
  return s.failures.length ? ` [responses: ${s.failures.map((f) => `${f.method} ${f.url} -> ${f.status}: ${f.body}`).join(' | ')}]` : '';
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  installAbortHandlers();
  const r = await runAcmeVsPebbleBench();
  writeResult(r);
  console.log(`\n[acme] wrote ${join(RESULTS_DIR, `${ACME_NAME}.json`)} and ${ACME_NAME}.md`);
  console.log(`${r.error ? 'ERROR' : r.pass ? 'target met' : 'target missed'}  ${r.summary.benchmark}: Rampart ${r.summary.rampart} vs ${r.summary.ceiling} -> ${r.summary.ratio}${r.error ? ` [${r.error}]` : ''}`);
  process.exitCode = r.error ? 1 : 0;
}
