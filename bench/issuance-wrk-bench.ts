/**
 * REST issuance under wrk, Rampart side by side with cfssl serve, in one run.
 *
 * At each concurrency level (8, then 32 connections; wrk -t2 --latency with a
 * generated Lua script, bench/wrk-runner.ts), first Rampart, then cfssl:
 * - Rampart: the bench node (bench/node-setup.ts: SQLite, WAL,
 *   synchronous=FULL; API rate limits off through its rampart.yaml),
 *   `POST /api/v1/certificates` over HTTPS keep-alive, body
 *   `{"csr": <PEM>, "profile": "server"}`, `Authorization: Bearer <token>`,
 *   no Idempotency-Key (every request issues a new certificate);
 * - cfssl serve (bench/cfssl-peer.ts): its own P-256 root and intermediate,
 *   profile `server` (90 days, digitalSignature, serverAuth), a SQLite certdb
 *   that stores every certificate it signs, `POST /api/v1/cfssl/sign` over
 *   plain HTTP (auth-less), body `{"certificate_request": <PEM>, "profile": "server"}`;
 * both with the same ECDSA P-256 CSR. Each side: an unrecorded warm-up
 * (BENCH_WARMUP), then the recorded run (BENCH_DURATION).
 *
 * The figure is 2xx responses per second; non-2xx answers (503 overload
 * shedding among them) are counted per status and shown. Every recorded run
 * is checked against what the server stored: Rampart's
 * rampart_certificates_issued_total and the rows of cfssl's certdb must grow
 * by at least the 2xx count and by at most that plus the connections (requests
 * still in flight when wrk stops). After each Rampart run the node's
 * `rampart_issuance_stage_seconds` histogram (label `stage`), if exported, gives
 * where the time of one issuance goes.
 *
 * Part of `npm run bench` (bench/run.ts, on the node of the SQLite issuance
 * benchmark); also runs alone, with its own node:
 *   node --import tsx bench/issuance-wrk-bench.ts
 * which writes bench/results/issuance-wrk-sqlite-c*.json and issuance-wrk-sqlite.md.
 */
import { X509Certificate } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { call } from '../test/helpers/api-client.js';
import {
  RESULTS_DIR, durationSeconds, failedResult, fmtInt, fmtMs, fmtPct, installAbortHandlers, machine, meets, round, warmupSeconds, writeResult,
  type BenchResult, type Target,
} from './bench-util.js';
import { CFSSL_PROFILE, startCfsslPeer, type CertdbSettings, type CfsslPeer, type CfsslProbe } from './cfssl-peer.js';
import { BENCH_NODE_CONFIG, setUpNode, tearDownNode, type NodeContext } from './node-setup.js';
import { WRK_THREADS, requireWrk, socketErrorTotal, warmupAndRun, wrkVersion, type WrkOptions, type WrkResult } from './wrk-runner.js';

export const WRK_NAME = 'issuance-wrk-sqlite';
/** Concurrency levels (wrk connections). */
export const WRK_LEVELS = [8, 32];
/** Rampart over cfssl, 2xx certificates per second, at every level. */
export const RATIO_MIN = 2.5;
/** The issue's absolute goal, at c=32. */
export const GOAL = { concurrency: 32, certsPerSecond: 2000, p99Ms: 50 } as const;
/** wrk's latency covers every response; its p99 counts for the goal only when at most this share of them were non-2xx. */
export const MAX_NON2XX_SHARE_FOR_P99 = 0.01;
/** wrk --timeout: long enough that no slow answer drops out of the latency histogram (the node's own request timeout is 30 s). */
const WRK_TIMEOUT_SECONDS = 30;

export const WRK_TARGET: Target = {
  description: `>= ${RATIO_MIN} × cfssl serve certs/s (2xx only, same run) at each level; at c=${GOAL.concurrency} also >= ${fmtInt(GOAL.certsPerSecond)} certs/s `
    + `with p99 <= ${GOAL.p99Ms} ms (the issue's goal; wrk's p99 covers every response, so it counts only with <= ${MAX_NON2XX_SHARE_FOR_P99 * 100} % non-2xx)`,
  metric: 'ratioRampartToCfssl', comparator: '>=', value: RATIO_MIN, unit: '×',
};

export const wrkResultName = (c: number): string => `${WRK_NAME}-c${c}`;
export const wrkTitle = (c: number): string => `REST issuance under wrk on SQLite vs cfssl serve, concurrency ${c}`;
const summaryName = (c: number): string => `REST issuance (wrk), SQLite, c=${c}: Rampart vs cfssl serve, certs/s`;

/** Records for levels that could not be measured. */
export function wrkFailedRows(e: unknown, levels = WRK_LEVELS): BenchResult[] {
  return levels.map((c) => {
    const r = failedResult(wrkResultName(c), wrkTitle(c), WRK_TARGET, e);
    r.summary.benchmark = summaryName(c);
    return r;
  });
}

// ---------------------------------------------------------------------------
// The node's /metrics: certificates issued, and the issuance stage histogram.

interface StageTotals { sum: number; count: number }
export interface MetricsSnapshot {
  /** Sum of rampart_certificates_issued_total over its labels, or null when absent. */
  issued: number | null;
  /** rampart_issuance_stage_seconds _sum and _count per stage (summed over other labels), or null when the metric is absent. */
  stages: Map<string, StageTotals> | null;
  error?: string;
}

export interface StageRow { stage: string; count: number; meanMs: number; sharePercent: number; seconds: number }
export interface StageProfile {
  source: string;
  stages: StageRow[];
  /** Sum of the stage means: one issuance that goes through every stage once. */
  sumOfMeansMs: number;
  /** All stage time over the certificates issued in the run (when both are known). */
  stageMsPerIssuance: number | null;
}

const STAGE_ORDER = ['parse', 'policy', 'build', 'encode', 'lint', 'sign', 'commit', 'respond'];
const stageRank = (s: string): number => { const i = STAGE_ORDER.indexOf(s); return i < 0 ? STAGE_ORDER.length : i; };

export function parseMetrics(text: string): MetricsSnapshot {
  let issued: number | null = null;
  for (const m of text.matchAll(/^rampart_certificates_issued_total(?:\{[^}]*\})?\s+(\S+)/gm)) issued = (issued ?? 0) + Number(m[1]);
  let stages: Map<string, StageTotals> | null = null;
  for (const m of text.matchAll(/^rampart_issuance_stage_seconds_(sum|count)\{([^}]*)\}\s+(\S+)/gm)) {
    const stage = /(?:^|,)\s*stage="((?:[^"\\]|\\.)*)"/.exec(m[2]!)?.[1];
    if (stage === undefined) continue;
    stages ??= new Map();
    const t = stages.get(stage) ?? { sum: 0, count: 0 };
    if (m[1] === 'sum') t.sum += Number(m[3]);
    else t.count += Number(m[3]);
    stages.set(stage, t);
  }
  return { issued, stages };
}

async function scrape(httpUrl: string): Promise<MetricsSnapshot> {
  try {
    const r = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
    const text = await r.text();
    if (r.status !== 200) return { issued: null, stages: null, error: `GET /metrics: HTTP ${r.status}` };
    return parseMetrics(text);
  } catch (e) {
    return { issued: null, stages: null, error: `GET /metrics: ${(e as Error).message}` };
  }
}

/** After a run: scrapes until the issued counter stops moving (requests in flight when wrk stopped), 5 s at most. */
async function settledScrape(httpUrl: string): Promise<MetricsSnapshot> {
  let prev = await scrape(httpUrl);
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    const cur = await scrape(httpUrl);
    if (cur.issued === prev.issued) return cur;
    prev = cur;
  }
  return prev;
}

export function stageProfile(before: MetricsSnapshot, after: MetricsSnapshot, issued: number | null): StageProfile | null {
  if (!after.stages) return null;
  const rows: StageRow[] = [];
  for (const [stage, t] of after.stages) {
    const b = before.stages?.get(stage) ?? { sum: 0, count: 0 };
    const count = t.count - b.count;
    const seconds = t.sum - b.sum;
    if (count <= 0) continue;
    rows.push({ stage, count, seconds: round(seconds, 6), meanMs: round((seconds / count) * 1000, 4), sharePercent: 0 });
  }
  const total = rows.reduce((a, r) => a + r.seconds, 0);
  for (const r of rows) r.sharePercent = total > 0 ? round((r.seconds / total) * 100, 1) : 0;
  rows.sort((a, b) => stageRank(a.stage) - stageRank(b.stage) || a.stage.localeCompare(b.stage));
  return {
    source: 'rampart_issuance_stage_seconds (_sum and _count per stage) on the node\'s /metrics, after the run minus before it (warm-up excluded); '
      + 'each stage as the node times it (concurrent issuances overlap, so a stage\'s mean includes any waiting inside it)',
    stages: rows,
    sumOfMeansMs: round(rows.reduce((a, r) => a + r.meanMs, 0), 3),
    stageMsPerIssuance: issued && issued > 0 ? round((total / issued) * 1000, 4) : null,
  };
}

// ---------------------------------------------------------------------------
// One side of one level.

export interface SideRun {
  /** The recorded wrk run. */
  wrk: WrkResult;
  warmup: { seconds: number; ok2xx: number; okPerSecond: number; non2xx: Record<string, number>; socketErrors: number };
  /** What the server stored over the recorded run (issued counter or certdb rows), after in-flight requests settled. */
  stored: { before: number | null; after: number | null; delta: number | null; check: string };
}

/** Stored must lie in [2xx, 2xx + connections]: each 2xx stored one certificate; requests cut off by wrk's stop may have been stored unseen. */
function storedCheck(what: string, ok2xx: number, connections: number, before: number | null, after: number | null): SideRun['stored'] {
  if (before === null || after === null) return { before, after, delta: null, check: `${what} not available: not checked` };
  const delta = after - before;
  const ok = delta >= ok2xx && delta <= ok2xx + connections;
  return { before, after, delta, check: ok ? 'ok' : `${what} grew by ${delta} for ${ok2xx} 2xx responses (expected ${ok2xx}..${ok2xx + connections})` };
}

function warmupOf(w: WrkResult): SideRun['warmup'] {
  return { seconds: w.seconds, ok2xx: w.ok2xx, okPerSecond: w.okPerSecond, non2xx: w.non2xx, socketErrors: socketErrorTotal(w) };
}

async function runRampart(ctx: NodeContext, connections: number): Promise<{ side: SideRun; profile: StageProfile | null; profileNote?: string }> {
  const o: WrkOptions = {
    url: `${ctx.node.httpsUrl}/api/v1/certificates`, connections, seconds: durationSeconds(), threads: WRK_THREADS, timeoutSeconds: WRK_TIMEOUT_SECONDS,
    body: JSON.stringify({ csr: ctx.csrPem, profile: 'server' }),
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${ctx.token}` },
  };
  let before: MetricsSnapshot = { issued: null, stages: null };
  const { warmup, run } = await warmupAndRun(o, warmupSeconds(), async () => { before = await settledScrape(ctx.node.httpUrl); });
  const after = await settledScrape(ctx.node.httpUrl);
  const stored = storedCheck('rampart_certificates_issued_total', run.ok2xx, connections, before.issued, after.issued);
  const profile = stageProfile(before, after, stored.delta);
  const profileNote = profile ? undefined
    : after.error ? `no stage profile: ${after.error}` : 'no stage profile: the node exports no rampart_issuance_stage_seconds histogram (not in this build)';
  return { side: { wrk: run, warmup: warmupOf(warmup), stored }, profile, ...(profileNote ? { profileNote } : {}) };
}

/** cfssl's certdb rows, once they stop changing (requests in flight when wrk stopped), 5 s at most. */
async function settledRows(peer: CfsslPeer): Promise<number> {
  let prev = peer.rowCount();
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    const cur = peer.rowCount();
    if (cur === prev) return cur;
    prev = cur;
  }
  return prev;
}

async function runCfssl(peer: CfsslPeer, csrPem: string, connections: number): Promise<SideRun> {
  const o: WrkOptions = {
    url: peer.signUrl, connections, seconds: durationSeconds(), threads: WRK_THREADS, timeoutSeconds: WRK_TIMEOUT_SECONDS,
    body: JSON.stringify({ certificate_request: csrPem, profile: CFSSL_PROFILE }),
    headers: { 'Content-Type': 'application/json' },
  };
  let before: number | null = null;
  const { warmup, run } = await warmupAndRun(o, warmupSeconds(), async () => { before = await settledRows(peer); });
  const after = await settledRows(peer);
  return { wrk: run, warmup: warmupOf(warmup), stored: storedCheck("cfssl's certdb rows", run.ok2xx, connections, before, after) };
}

// ---------------------------------------------------------------------------
// Records.

export interface LevelMeasurements {
  rampart: SideRun;
  cfssl: SideRun;
  rampartCertsPerSecond: number;
  cfsslCertsPerSecond: number;
  ratioRampartToCfssl: number | null;
  /** Rampart's non-2xx answers of the recorded run, per status (503 = overload shedding). */
  rampartNon2xx: Record<string, number>;
  rampartNon2xxShare: number;
  goal: { applies: boolean; certsPerSecond: number; p99Ms: number; p99Counts: boolean; met: boolean | null };
  stageProfile: StageProfile | null;
  stageProfileNote?: string;
  /** /readyz of the node after all levels (the node is shared with the rest of the suite). */
  nodeReadyAfter?: boolean;
}

function invalid(m: Pick<LevelMeasurements, 'rampart' | 'cfssl'>): string | undefined {
  const r = m.rampart.wrk;
  const c = m.cfssl.wrk;
  const problems: string[] = [];
  if (r.ok2xx === 0) problems.push(`Rampart answered no 2xx (statuses ${JSON.stringify(r.statuses)}, socket errors ${JSON.stringify(r.socketErrors)})`);
  if (r.non2xx['429']) problems.push(`Rampart answered ${r.non2xx['429']} × 429: its API rate limits are on (the bench node's rampart.yaml is not in effect)`);
  if (m.rampart.stored.check !== 'ok' && m.rampart.stored.delta !== null) problems.push(`Rampart: ${m.rampart.stored.check}`);
  if (c.ok2xx === 0) problems.push(`cfssl answered no 2xx (statuses ${JSON.stringify(c.statuses)}, socket errors ${JSON.stringify(c.socketErrors)})`);
  if (m.cfssl.stored.check !== 'ok') problems.push(`cfssl: ${m.cfssl.stored.check} (the comparison needs cfssl to store each certificate it signs)`);
  return problems.length ? problems.join('; ') : undefined;
}

const non2xxText = (n: Record<string, number>): string => Object.entries(n).map(([k, v]) => `${fmtInt(v)} × ${k}`).join(', ');

function levelRecord(c: number, m: Omit<LevelMeasurements, 'goal' | 'ratioRampartToCfssl' | 'rampartCertsPerSecond' | 'cfsslCertsPerSecond' | 'rampartNon2xx' | 'rampartNon2xxShare'>,
  parameters: Record<string, unknown>): BenchResult {
  const r = m.rampart.wrk;
  const cf = m.cfssl.wrk;
  const error = invalid(m);
  const ratio = cf.okPerSecond > 0 ? r.okPerSecond / cf.okPerSecond : NaN;
  const share = r.responses > 0 ? r.non2xxTotal / r.responses : 0;
  const applies = c === GOAL.concurrency;
  const p99Counts = share <= MAX_NON2XX_SHARE_FOR_P99;
  const goalMet = r.okPerSecond >= GOAL.certsPerSecond && r.latencyMs.p99 <= GOAL.p99Ms && p99Counts;
  const actual = error || !Number.isFinite(ratio) ? null : round(ratio, 2);
  const pass = actual !== null && actual >= RATIO_MIN && (!applies || goalMet);
  const measurements: LevelMeasurements = {
    ...m,
    rampartCertsPerSecond: r.okPerSecond, cfsslCertsPerSecond: cf.okPerSecond, ratioRampartToCfssl: Number.isFinite(ratio) ? round(ratio, 3) : null,
    rampartNon2xx: r.non2xx, rampartNon2xxShare: round(share, 5),
    goal: { applies, certsPerSecond: GOAL.certsPerSecond, p99Ms: GOAL.p99Ms, p99Counts, met: applies ? goalMet : null },
  };
  const shed = r.non2xxTotal ? `; non-2xx ${non2xxText(r.non2xx)}` : '';
  return {
    name: wrkResultName(c), title: wrkTitle(c), date: new Date().toISOString(), machine: machine(),
    parameters: { ...parameters, connections: c }, measurements: measurements as unknown as Record<string, unknown>,
    target: WRK_TARGET, actual, pass, ...(error ? { error } : {}),
    summary: {
      benchmark: summaryName(c),
      rampart: `${fmtInt(r.okPerSecond)}/s, p99 ${fmtMs(r.latencyMs.p99)}${shed}`,
      ceiling: `${fmtInt(cf.okPerSecond)}/s, p99 ${fmtMs(cf.latencyMs.p99)} (cfssl serve, SQLite certdb)${cf.non2xxTotal ? `; non-2xx ${non2xxText(cf.non2xx)}` : ''}`,
      ratio: Number.isFinite(ratio) ? `${ratio.toFixed(2)} ×` : 'n/a',
      detail: `${fmtMs(r.latencyMs.p50)} / ${fmtMs(r.latencyMs.p99)}`,
      ceilingDetail: `${fmtMs(cf.latencyMs.p50)} / ${fmtMs(cf.latencyMs.p99)}`,
    },
  };
}

async function nodeReady(httpUrl: string, timeoutMs = 15_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(`${httpUrl}/readyz`, { signal: AbortSignal.timeout(5_000) });
      await r.arrayBuffer();
      if (r.status === 200) return true;
    } catch { /* retry */ }
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 250));
  }
}

function certProfile(pem: string): { validityDays: number; extKeyUsage: string[] } {
  const c = new X509Certificate(pem);
  return { validityDays: Math.round((Date.parse(c.validTo) - Date.parse(c.validFrom)) / 86_400_000), extKeyUsage: c.keyUsage ?? [] };
}

/**
 * Runs both levels on the given node (left running and ready for the rest of
 * the suite) and a cfssl serve it starts and stops itself. Throws only when
 * nothing could be measured; a level that fails becomes a record with its error.
 */
export async function runIssuanceWrkBench(ctx: NodeContext): Promise<BenchResult[]> {
  requireWrk();
  const version = await wrkVersion();
  // The same request wrk sends, once, before any load.
  const check = await call(`${ctx.node.httpsUrl}/api/v1/certificates`, { token: ctx.token, ca: ctx.caBundle, json: { csr: ctx.csrPem, profile: 'server' } });
  if (check.status !== 201) throw new Error(`Rampart: POST /api/v1/certificates answered ${check.status} ${JSON.stringify(check.body).slice(0, 300)}`);

  console.log('[issuance-wrk] starting cfssl serve ...');
  const peer = await startCfsslPeer();
  const out: BenchResult[] = [];
  try {
    const probe: CfsslProbe = await peer.probe(ctx.csrPem);
    const settingsBefore: CertdbSettings = peer.settings();
    console.log(`[issuance-wrk] ${peer.version} at ${peer.url}: ${probe.requests} probe issuances stored (certdb rows ${probe.rowsBefore} -> ${probe.rowsAfterEach.join(', ')}); `
      + `certdb ${settingsBefore.journalMode}, synchronous ${settingsBefore.synchronous}, ${settingsBefore.syncCallsPerIssuance ?? 'n/a'} fdatasync/fsync per issuance`);

    const rampartLeaf = certProfile(ctx.leafPem);
    const parameters = (settings: CertdbSettings): Record<string, unknown> => ({
      tool: `${version}, -t${WRK_THREADS} --latency --timeout ${WRK_TIMEOUT_SECONDS}s, a generated Lua script (bench/wrk-runner.ts): the same POST every request, status codes counted per wrk thread in response() and merged in done()`,
      durationSeconds: durationSeconds(), warmupSeconds: warmupSeconds(),
      order: 'per level: Rampart (warm-up, then recorded), then cfssl (warm-up, then recorded); levels c=8 then c=32; the idle side keeps running',
      csr: 'ECDSA P-256, CN + 1 DNS SAN (bench/node-setup.ts), the same CSR for every request to both servers',
      figure: '2xx responses per second of the recorded run; non-2xx counted per status; latency from wrk\'s histogram over every response read (non-2xx included)',
      rampart: {
        endpoint: 'POST /api/v1/certificates over HTTPS keep-alive (wrk does not verify the server certificate)',
        request: 'body {"csr": <PEM>, "profile": "server"}, headers Content-Type: application/json and Authorization: Bearer <admin token>; no Idempotency-Key',
        node: 'bin/rampart.mjs serve via test/helpers/node-process.ts startNode: first-run hierarchy, SQLite store (WAL, synchronous=FULL), log level warn',
        config: BENCH_NODE_CONFIG.trim(),
        certificate: { profile: 'server', ...rampartLeaf },
        storedCheck: 'rampart_certificates_issued_total on /metrics grows by 2xx .. 2xx + connections over the recorded run',
      },
      cfssl: {
        version: peer.version,
        endpoint: 'POST /api/v1/cfssl/sign over plain HTTP keep-alive (auth-less; no TLS, no token: less work per request than Rampart\'s side)',
        request: `body {"certificate_request": <PEM>, "profile": "${CFSSL_PROFILE}"}, header Content-Type: application/json`,
        ca: 'ECDSA P-256 root and intermediate (CA, path length 0) made with cfssl gencert -initca and cfssl sign; leaves signed by the intermediate',
        certificate: { profile: CFSSL_PROFILE, validityDays: probe.validityDays, keyUsage: probe.keyUsage, extKeyUsage: probe.extKeyUsage },
        serve: 'cfssl serve -address 127.0.0.1 -ca int.pem -ca-key int-key.pem -config config.json -db-config db-config.json -loglevel 2',
        certdb: settings,
        certdbSchema: "cfssl's certdb/sqlite migrations (001_CreateCertificates, 002_AddMetadataToCertificates), created by the bench",
        probe: { ...probe, note: 'before any load: each sign request succeeded, returned a certificate signed by the bench intermediate, and added one certdb row' },
        storedCheck: 'rows of the certdb certificates table grow by 2xx .. 2xx + connections over the recorded run',
      },
      host: 'wrk, the Rampart node and cfssl share this host\'s CPUs; everything on 127.0.0.1',
    });

    const levels: Array<{ c: number; m: Omit<LevelMeasurements, 'goal' | 'ratioRampartToCfssl' | 'rampartCertsPerSecond' | 'cfsslCertsPerSecond' | 'rampartNon2xx' | 'rampartNon2xxShare'> } | { c: number; error: unknown }> = [];
    for (const c of WRK_LEVELS) {
      try {
        console.log(`[issuance-wrk] c=${c}: Rampart, ${warmupSeconds()} s warm-up + ${durationSeconds()} s ...`);
        const rampart = await runRampart(ctx, c);
        const r = rampart.side.wrk;
        console.log(`[issuance-wrk] c=${c}: Rampart ${fmtInt(r.okPerSecond)} certs/s, p99 ${fmtMs(r.latencyMs.p99)}${r.non2xxTotal ? `, non-2xx ${non2xxText(r.non2xx)}` : ''}; cfssl, ${warmupSeconds()} s warm-up + ${durationSeconds()} s ...`);
        const cfssl = await runCfssl(peer, ctx.csrPem, c);
        console.log(`[issuance-wrk] c=${c}: cfssl ${fmtInt(cfssl.wrk.okPerSecond)} certs/s, p99 ${fmtMs(cfssl.wrk.latencyMs.p99)}${cfssl.wrk.non2xxTotal ? `, non-2xx ${non2xxText(cfssl.wrk.non2xx)}` : ''}`);
        levels.push({ c, m: { rampart: rampart.side, cfssl, stageProfile: rampart.profile, ...(rampart.profileNote ? { stageProfileNote: rampart.profileNote } : {}) } });
      } catch (e) {
        console.error(`[issuance-wrk] c=${c} failed:`, e);
        levels.push({ c, error: e });
      }
    }
    out.push(await overloadRecord(ctx));
    const ready = await nodeReady(ctx.node.httpUrl);
    if (!ready) console.error('[issuance-wrk] the node did not answer /readyz 200 within 15 s after the runs');
    const settings = peer.settings();
    for (const l of levels) {
      if ('error' in l) out.push(...wrkFailedRows(l.error, [l.c]));
      else out.push(levelRecord(l.c, { ...l.m, nodeReadyAfter: ready }, parameters(settings)));
    }
  } finally {
    await peer.stop();
  }
  return out;
}

/** Connections of the overload run: far past what the node serves at once. */
export const OVERLOAD_CONNECTIONS = 256;
export const OVERLOAD_TARGET: Target = {
  description: 'overload sheds with 503 + Retry-After instead of queueing without bound: no socket timeouts, the node ready afterwards (p99 reported)',
  metric: 'socketTimeouts', comparator: '<=', value: 0, unit: 'timeouts',
};

/** Rampart alone at OVERLOAD_CONNECTIONS: what it still issues, what it sheds, and the latency of both. */
async function overloadRecord(ctx: NodeContext): Promise<BenchResult> {
  const c = OVERLOAD_CONNECTIONS;
  const name = `${WRK_NAME}-overload-c${c}`;
  const title = `REST issuance under overload (wrk, ${c} connections), Rampart alone`;
  try {
    console.log(`[issuance-wrk] overload c=${c}: Rampart, ${warmupSeconds()} s warm-up + ${durationSeconds()} s ...`);
    const { side } = await runRampart(ctx, c);
    const w = side.wrk;
    const shed = w.non2xx['503'] ?? 0;
    const ready = await nodeReady(ctx.node.httpUrl);
    const actual = ready ? w.socketErrors.timeout : null;
    console.log(`[issuance-wrk] overload: ${fmtInt(w.okPerSecond)} certs/s, ${fmtInt(shed)} shed (503), p99 ${fmtMs(w.latencyMs.p99)}, timeouts ${w.socketErrors.timeout}`);
    return {
      name, title, date: new Date().toISOString(), machine: machine(),
      parameters: { connections: c, durationSeconds: durationSeconds(), warmupSeconds: warmupSeconds(), tool: `wrk -t${WRK_THREADS} --latency --timeout ${WRK_TIMEOUT_SECONDS}s`, latency: 'wrk histogram over every response (2xx and 503)' },
      measurements: { rampart: side, shed503: shed, shedShare: w.responses ? round(shed / w.responses, 4) : 0, socketTimeouts: w.socketErrors.timeout, nodeReadyAfter: ready },
      target: OVERLOAD_TARGET, actual, pass: meets(OVERLOAD_TARGET, actual),
      ...(ready ? {} : { error: 'the node did not answer /readyz 200 within 15 s after the run' }),
      summary: {
        benchmark: `REST issuance, overload c=${c}: certs/s issued while shedding`, rampart: fmtInt(w.okPerSecond),
        ceiling: `${fmtInt(shed)} answered 503 (${fmtPct(w.responses ? (shed / w.responses) * 100 : 0)})`, ratio: `p99 ${fmtMs(w.latencyMs.p99)}`,
        detail: `${fmtMs(w.latencyMs.p50)} / ${fmtMs(w.latencyMs.p99)}`, ceilingDetail: `max ${fmtMs(w.latencyMs.max)}`,
      },
    };
  } catch (e) {
    return failedResult(name, title, OVERLOAD_TARGET, e);
  }
}

// ---------------------------------------------------------------------------
// Markdown: a section of bench/results/README.md (report.ts), and the standalone file.

const mdRow = (cells: string[]): string => `| ${cells.map((c) => c.replace(/\|/g, '\\|').replace(/\n/g, ' ')).join(' | ')} |`;
const mdTable = (head: string[], rows: string[][]): string[] => [mdRow(head), mdRow(head.map(() => '---')), ...rows.map(mdRow)];
const lat = (w: WrkResult): string => `${fmtMs(w.latencyMs.p50)} / ${fmtMs(w.latencyMs.p90)} / ${fmtMs(w.latencyMs.p99)} / ${fmtMs(w.latencyMs.max)}`;
const sockets = (w: WrkResult): string => {
  const e = Object.entries(w.socketErrors).filter(([, v]) => v > 0);
  return e.length ? e.map(([k, v]) => `${fmtInt(v)} ${k}`).join(', ') : '0';
};

/** The wrk section: per-level table, cfssl's certdb settings, and where the time of one issuance goes. */
export function wrkReportSection(results: BenchResult[]): string[] {
  const overload = results.find((r) => r.name.startsWith(`${WRK_NAME}-overload-`));
  const rs = results.filter((r) => r.name.startsWith(`${WRK_NAME}-`) && r !== overload);
  if (!rs.length) return [];
  const ok = rs.filter((r) => !r.error && r.measurements.rampart);
  const lines: string[] = ['## REST issuance under wrk: Rampart vs cfssl serve', ''];
  const p = ok[0]?.parameters as { tool?: string; durationSeconds?: number; warmupSeconds?: number; cfssl?: { version?: string; certdb?: CertdbSettings } } | undefined;
  if (p) {
    lines.push(`${p.tool ?? 'wrk'}; per level Rampart first, then cfssl serve, each ${p.warmupSeconds} s warm-up + ${p.durationSeconds} s recorded, with the same ECDSA P-256 CSR. `
      + 'Rampart: POST /api/v1/certificates over HTTPS with a bearer token, API rate limits off (the bench node\'s rampart.yaml), SQLite WAL synchronous=FULL. '
      + `cfssl: ${p.cfssl?.version ?? 'cfssl'}, POST /api/v1/cfssl/sign over plain HTTP without authentication, profile server (90 days, digitalSignature, serverAuth), every certificate stored in its SQLite certdb. `
      + 'Rates count 2xx answers only; latencies are wrk\'s over every response (non-2xx included); each run is checked against what the server stored.', '');
  }
  lines.push(...mdTable(
    ['Connections', 'Rampart certs/s', 'cfssl certs/s', 'Rampart / cfssl', 'Rampart p50 / p90 / p99 / max', 'cfssl p50 / p90 / p99 / max', 'Rampart non-2xx', 'cfssl non-2xx', 'Socket errors (Rampart; cfssl)', 'Met?'],
    rs.map((r) => {
      const c = String(r.parameters.connections ?? /-c(\d+)$/.exec(r.name)?.[1] ?? '?');
      if (r.error || !r.measurements.rampart) return [c, 'failed', '—', '—', '—', '—', '—', '—', '—', `**no** (${r.error ?? 'no measurement'})`];
      const m = r.measurements as unknown as LevelMeasurements;
      return [c, fmtInt(m.rampartCertsPerSecond), fmtInt(m.cfsslCertsPerSecond), m.ratioRampartToCfssl === null ? 'n/a' : `${m.ratioRampartToCfssl.toFixed(2)} ×`,
        lat(m.rampart.wrk), lat(m.cfssl.wrk), m.rampart.wrk.non2xxTotal ? non2xxText(m.rampart.wrk.non2xx) : '0', m.cfssl.wrk.non2xxTotal ? non2xxText(m.cfssl.wrk.non2xx) : '0',
        `${sockets(m.rampart.wrk)}; ${sockets(m.cfssl.wrk)}`,
        r.pass ? 'yes' : `**no**${m.goal.applies && !m.goal.met ? ` (goal at c=${GOAL.concurrency}: ${fmtInt(GOAL.certsPerSecond)}/s, p99 ${GOAL.p99Ms} ms${m.goal.p99Counts ? '' : '; p99 does not count: > 1 % non-2xx'})` : ''}`];
    })), '');
  lines.push(`Target: ${WRK_TARGET.description}.`, '');
  if (overload) {
    const m = overload.measurements as { rampart?: SideRun; shed503?: number; shedShare?: number; socketTimeouts?: number; nodeReadyAfter?: boolean };
    lines.push(overload.error || !m.rampart
      ? `Overload (${OVERLOAD_CONNECTIONS} connections): failed (${overload.error ?? 'no measurement'}).`
      : `Overload (${OVERLOAD_CONNECTIONS} connections, Rampart alone): ${fmtInt(m.rampart.wrk.okPerSecond)} certs/s issued, ${fmtInt(m.shed503 ?? 0)} answers shed with 503 `
        + `(${fmtPct((m.shedShare ?? 0) * 100)} of ${fmtInt(m.rampart.wrk.responses)}), latency p50 / p90 / p99 / max ${lat(m.rampart.wrk)} over every answer, `
        + `${m.socketTimeouts ?? 0} socket timeouts, node ready afterwards: ${m.nodeReadyAfter ? 'yes' : '**no**'}.`, '');
  }
  const db = p?.cfssl?.certdb;
  if (db) {
    lines.push(`cfssl's certdb durability, as found: ${db.journalMode}, file header bytes 18/19 = ${db.headerBytes18and19.join('/')}; synchronous ${db.synchronous}: ${db.synchronousSource}. `
      + `Sync calls: ${db.syncCallsNote}. `
      + 'Rampart\'s SQLite store: WAL, synchronous=FULL, certificate row, idempotency key and audit entry in one transaction, concurrent issuances sharing one commit (group commit). '
      + 'Both acknowledge a certificate only after it reached the disk (fdatasync).', '');
  }
  for (const r of ok) {
    const m = r.measurements as unknown as LevelMeasurements;
    const c = String(r.parameters.connections);
    lines.push(`### Where the time of one issuance goes (Rampart, c=${c})`, '');
    if (!m.stageProfile) {
      lines.push(`${m.stageProfileNote ?? 'No stage profile.'}`, '');
      continue;
    }
    const sp = m.stageProfile;
    lines.push(...mdTable(['Stage', 'Mean', 'Share of stage time', 'Observations'],
      [...sp.stages.map((s) => [s.stage, fmtMs(s.meanMs), `${s.sharePercent.toFixed(1)} %`, fmtInt(s.count)]),
        ['all stages', fmtMs(sp.sumOfMeansMs), '100 %', '—']]), '');
    lines.push(`From ${sp.source}${sp.stageMsPerIssuance === null ? '' : `; stage time per certificate issued in the run ${fmtMs(sp.stageMsPerIssuance)}`}; `
      + `the client saw a mean of ${fmtMs(m.rampart.wrk.latencyMs.mean)} per request at ${c} connections (the rest is queueing, TLS, HTTP and whatever the stages do not cover).`, '');
  }
  return lines;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  installAbortHandlers();
  let results: BenchResult[] = [];
  let ctx: NodeContext | undefined;
  try {
    console.log('[issuance-wrk] starting a Rampart node ...');
    ctx = await setUpNode();
    results = await runIssuanceWrkBench(ctx);
  } catch (e) {
    console.error('[issuance-wrk] failed:', e);
    results = wrkFailedRows(e);
  } finally {
    if (ctx) await tearDownNode(ctx);
  }
  for (const r of results) writeResult(r);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const md = join(RESULTS_DIR, `${WRK_NAME}.md`);
  writeFileSync(md, `# ${WRK_NAME}\n\nGenerated by \`node --import tsx bench/issuance-wrk-bench.ts\` on ${new Date().toISOString()}.\n\n${wrkReportSection(results).join('\n')}\n`);
  console.log(`\n[issuance-wrk] wrote ${results.map((r) => `${r.name}.json`).join(', ')} and ${md}`);
  for (const r of results) console.log(`${r.pass ? 'PASS' : 'FAIL'}  ${r.summary.benchmark}: ${r.summary.rampart} vs ${r.summary.ceiling} -> ${r.summary.ratio}${r.error ? ` [${r.error}]` : ''}`);
  process.exitCode = results.some((r) => r.error) ? 1 : 0;
}
