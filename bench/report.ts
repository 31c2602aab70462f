/** Writes bench/results/README.md: the side-by-side table of one `npm run bench` run. */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { wrkReportSection } from './issuance-wrk-bench.js';
import { CONNECTIONS, PIPELINING, RECONNECT_EVERY } from './ocsp-bench.js';
import { clusterSeconds } from './pg-bench.js';
import { RESULTS_DIR, durationSeconds, fmtInt, fmtMiB, fmtMs, machine, warmupSeconds, type BenchResult } from './bench-util.js';

const esc = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function row(cells: string[]): string {
  return `| ${cells.map(esc).join(' | ')} |`;
}

function table(head: string[], rows: string[][]): string[] {
  return [row(head), row(head.map(() => '---')), ...rows.map(row)];
}

function met(r: BenchResult): string {
  if (r.error) return r.summary.rampart === 'not measured' ? r.error : `**no** (invalid: ${r.error})`;
  if (r.target.informative) return `${r.pass ? 'yes' : '**no**'} (informative)`;
  return r.pass ? 'yes' : '**no**';
}

function get(o: unknown, ...path: string[]): unknown {
  let cur = o;
  for (const p of path) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[p] : undefined;
  return cur;
}
const num = (v: unknown): number => (typeof v === 'number' ? v : NaN);

const ms = (v: unknown): string => (typeof v === 'number' ? `${(v / 1000).toFixed(2)} s` : 'n/a');
const lat = (o: unknown): string => `${fmtMs(num(get(o, 'p50')))} / ${fmtMs(num(get(o, 'p99')))}, max ${fmtMs(num(get(o, 'max')))} (${fmtInt(num(get(o, 'samples')))} requests)`;
const errs = (o: unknown): string => {
  const e = Object.entries((o ?? {}) as Record<string, number>);
  return e.length ? e.map(([k, v]) => `${v} × ${k}`).join(', ') : 'none';
};

/** SQLite next to PostgreSQL, one node next to three: certs/s (p50 / p99) per concurrency level. */
function storeTopologyTable(results: BenchResult[]): string[] {
  const cols = [['SQLite, 1 node', 'sqlite'], ['PostgreSQL, 1 node (direct)', 'pg-1node'], ['PostgreSQL + synchronous standby, 1 node (direct)', 'pg-sync-1node'],
    ['PostgreSQL, 3 nodes behind HAProxy', 'pg-3nodes-haproxy']] as const;
  const levels = [...new Set(results.filter((r) => r.name.startsWith('issuance-rest-')).map((r) => Number(/-c(\d+)$/.exec(r.name)?.[1])))].sort((a, b) => a - b);
  if (!levels.length) return [];
  const cell = (key: string, c: number): string => {
    const r = results.find((x) => x.name === `issuance-rest-${key}-c${c}`);
    if (!r) return 'not run';
    if (r.error) return 'failed';
    const run = r.measurements.rampart;
    return `${fmtInt(num(get(run, 'perSecond')))}/s (${fmtMs(num(get(run, 'latencyMs', 'p50')))} / ${fmtMs(num(get(run, 'latencyMs', 'p99')))})`;
  };
  return ['## REST issuance by store and topology', '',
    'Certificates per second (p50 / p99 latency), POST /api/v1/certificates with an ECDSA P-256 CSR, profile server, a fresh Idempotency-Key per request; all on this host.', '',
    ...table(['Concurrency', ...cols.map(([t]) => t)], levels.map((c) => [`c=${c}`, ...cols.map(([, k]) => cell(k, c))])), ''];
}

/**
 * Where each PostgreSQL issuance run saturates (pg-saturation.ts): per
 * topology, certs/s from level to level, then one line per level with the
 * heuristic reading, CPU per process and the stage means.
 */
export function pgSaturationSection(results: BenchResult[]): string[] {
  const level = (r: BenchResult): number => Number(/-c(\d+)$/.exec(r.name)?.[1]);
  const topologies = [['pg-1node', 'PostgreSQL, 1 node (direct)'], ['pg-sync-1node', 'PostgreSQL + synchronous standby, 1 node (direct)'],
    ['pg-3nodes-haproxy', 'PostgreSQL, 3 nodes behind HAProxy']] as const;
  const out: string[] = [];
  let source = '';
  for (const [key, label] of topologies) {
    const rows = results.filter((r) => new RegExp(`^issuance-rest-${key}-c\\d+$`).test(r.name)).sort((a, b) => level(a) - level(b));
    if (!rows.length) continue;
    const scaling = rows.map((r) => `c=${level(r)} ${r.error ? 'failed' : `${fmtInt(num(get(r.measurements.rampart, 'perSecond')))}/s`}`).join(' → ');
    out.push(`- **${label}**: ${scaling}.`);
    for (const r of rows) {
      const s = r.measurements.saturation;
      const line = get(s, 'line');
      const err = get(s, 'error');
      if (typeof get(s, 'source') === 'string') source = String(get(s, 'source'));
      out.push(`  - c=${level(r)}: ${typeof line === 'string' ? line : typeof err === 'string' ? err : r.error ? `not measured (${r.error})` : 'not observed'}`);
    }
  }
  if (!out.length) return [];
  return ['## Where PostgreSQL issuance saturates', '',
    'Observed around each recorded leg (snapshots right before and after it). "CPU s/s" is cores kept busy: each node from its own /metrics, '
      + 'PostgreSQL and HAProxy from /proc, client = the bench process (load generator), host = all CPUs. '
      + 'The first words are a heuristic: host CPU when >= 85 % of the cores are busy, node CPU when one node uses >= 0.85 of a core (a node handles requests on one event loop), otherwise waiting, '
      + 'and on what the largest stage suggests (commit: PostgreSQL round trip, WAL flush, with a standby its confirmation, or the node\'s connection pool, 10 by default). '
      + 'Under CPU saturation the async stages (commit above all) also hold the wait for the busy event loop, so there the largest stage is no separate cause.', '',
    ...out, '', ...(source ? [`Source: ${source}.`, ''] : [])];
}

/** What happened in each recovery scenario, from its record. */
function recoverySection(results: BenchResult[]): string[] {
  const by = (name: string): BenchResult | undefined => results.find((r) => r.name === name && !r.error);
  const out: string[] = [];
  const loss = by('rto-node-loss');
  if (loss) {
    const m = loss.measurements;
    out.push(`- **Node loss** (${String(loss.parameters.load)}): ${String(loss.parameters.killed)} killed after ${String(loss.parameters.secondsBeforeKill)} s; `
      + `HAProxy marked it DOWN after ${ms(m.haproxyMarkedDownMs)}. ${fmtInt(num(m.issued))} issued (${fmtInt(num(m.issuedAfterKill))} sent after the kill; `
      + `${fmtInt(num(m.replayedAnswers))} answered 200 as idempotent replays: HAProxy re-sent a request whose first answer was lost), `
      + `${fmtInt(num(m.failedRequests))} failed (${errs(m.failedByError)}); ${fmtInt(num(m.inFlightAtKill))} requests in flight at the kill. `
      + `Latency p50 / p99 before the kill ${lat(m.latencyBeforeKillMs)}; around the kill ${lat(m.latencyAroundKillMs)}; after ${lat(m.latencyAfterKillMs)}. `
      + `Longest gap between two successful answers: ${fmtMs(num(m.longestGapBetweenSuccessesMs))}. Acknowledged issuances not in the database: ${fmtInt(num(m.acknowledgedNotStored))}.`);
  }
  const ap = by('rto-active-passive-takeover');
  if (ap) {
    const m = ap.measurements;
    out.push(`- **Active-passive takeover** (takeoverSeconds ${String(ap.parameters.takeoverSeconds)}, heartbeat ${String(ap.parameters.heartbeatSeconds)} s): after kill -9 of the active node `
      + `the standby answered /readyz?write=1 after ${ms(m.standbyWritableMs)}, issued its first certificate after ${ms(m.firstIssuanceOnStandbyMs)}; `
      + `HAProxy's stats page showed it UP after ${ms(m.haproxyStandbyUpMs)} (polled every ~100 ms) and the first issuance through HAProxy completed after ${ms(m.firstIssuanceThroughHaproxyMs)}. `
      + `Failed probe attempts: on the standby ${errs(get(m.probes, 'standby', 'errors'))}; through HAProxy ${errs(get(m.probes, 'haproxy', 'errors'))}. `
      + `Leader afterwards: ${JSON.stringify(m.leaderAfter)}.`);
  }
  const db = by('rto-db-failover');
  const rpo = by('rpo-db-failover');
  if (db) {
    const m = db.measurements;
    out.push(`- **Database failover** (${String(db.parameters.topology)}; ${String(db.parameters.killed)}): the monitor marked the primary unhealthy after ${ms(m.monitorUnhealthyMs)}, `
      + `assigned the failover after ${ms(m.monitorFailoverAssignedMs)} and ${String(m.promoted)} was primary after ${ms(m.promotedMs)} (pg_auto_failover's own detection and promotion, `
      + `polled); the first issuance sent after the kill succeeded ${ms(m.rtoMs)} after it. Failed client attempts meanwhile: ${errs(m.failedAttempts)}. `
      + `RPO: ${fmtInt(num(m.acknowledgedMissingOnPromoted))} of ${fmtInt(num(m.acknowledged))} acknowledged certificates missing on the promoted server.`);
  } else if (rpo) out.push('- Database failover: see the RPO row.');
  if (!out.length) return [];
  return ['## Recovery', '',
    'Each scenario once per run, on real processes (SIGKILL), bounded; targets from the issue where it gives them, otherwise compared with the architecture tiers (issuance RTO 1 h, RPO 0).', '',
    ...out, ''];
}

export function writeReport(results: BenchResult[], startedAt: Date, loadStart: number[]): string {
  const m = machine();
  const lines: string[] = [
    '# Rampart benchmark results',
    '',
    `Generated by \`npm run bench\` (bench/run.ts) on ${startedAt.toISOString()}; every number below comes from this one run. `
      + 'Raw records: the JSON files next to this README.',
    '',
    `Machine: ${m.cpus} × ${m.model}, ${m.totalmemGiB} GiB RAM, ${m.platform} ${m.release}, Node ${m.node}. `
      + `Load average at start ${loadStart.join(' / ')}, at end ${m.loadavg.join(' / ')}.`,
    '',
    `Load settings: OCSP with autocannon, ${CONNECTIONS} connections, pipelining ${PIPELINING}, reconnect every ${fmtInt(RECONNECT_EVERY)} requests per connection, the same for Rampart and the ceiling: ${warmupSeconds()} s warm-up each, `
      + `then ${durationSeconds()} s legs in ABBA order (Rampart, ceiling, ceiling, Rampart), both legs combined; REST issuance ${warmupSeconds()} s warm-up + ${durationSeconds()} s (or the count limit) per concurrency level on SQLite, `
      + `${warmupSeconds()} s warm-up + ${clusterSeconds()} s on PostgreSQL (one node direct at c=1 and 8, three nodes through HAProxy at c=1, 8 and 32, `
      + 'one node direct on a primary with a synchronous standby at c=8 and 32); '
      + `REST issuance under wrk (2 threads, 8 and 32 connections) ${warmupSeconds()} s warm-up + ${durationSeconds()} s per side and level, Rampart then cfssl serve; each recovery scenario once.`,
    '',
    '## Summary',
    '',
    ...table(['Benchmark', 'Rampart', 'Ceiling / reference', 'Rampart vs ceiling', 'Target', 'Met?'],
      results.map((r) => [r.summary.benchmark, r.summary.rampart, r.summary.ceiling, r.summary.ratio, r.target.description, met(r)])),
    '',
    '## Latency (p50 / p99) and memory',
    '',
    ...table(['Benchmark', 'Rampart', 'Ceiling / reference'], results.map((r) => [r.summary.benchmark, r.summary.detail, r.summary.ceilingDetail])),
    '',
  ];

  lines.push(...storeTopologyTable(results));
  lines.push(...pgSaturationSection(results));
  // The autocannon-style REST runs (issuance-driver.ts); the wrk records have their own section.
  const issuance = results.filter((r) => r.name.startsWith('issuance-rest-') && !r.error);
  const sqlite = issuance.find((r) => r.name.startsWith('issuance-rest-sqlite-'));
  if (sqlite) {
    const ref = sqlite.measurements.reference;
    const signMs = num(get(ref, 'p256SignPerSecond', 'meanMs'));
    const insMs = num(get(ref, 'sqliteDurableInsertPerSecond', 'meanMs'));
    lines.push('## Where issuance time goes', '',
      `Measured in the bench process in this run (node idle, before and after the issuance runs, merged): one raw P-256 signature (node:crypto) takes ${fmtMs(signMs)} `
        + `(${fmtInt(num(get(ref, 'p256SignPerSecond', 'perSecond')))}/s); one durable SQLite insert (WAL, synchronous=FULL, one row per transaction, `
        + `through SqliteStore.insertCertificate) takes ${fmtMs(insMs)} (${fmtInt(num(get(ref, 'sqliteDurableInsertPerSecond', 'perSecond')))}/s). `
        + 'One issuance at a time needs at least one signature and one durable transaction (certificate row, idempotency key and audit entry together), '
        + `so ${fmtMs(signMs + insMs)} of unavoidable work; the reference bound is its inverse (concurrent issuances share commits, so above c=1 it is a reference, not a limit). `
        + 'Everything above that is TLS, HTTP and JSON, authentication, CSR parsing and policy, certificate encoding and the audit hash chain.', '');
    for (const r of issuance) {
      const run = r.measurements.rampart;
      lines.push(`- ${r.title}: ${fmtInt(num(get(run, 'issued')))} certificates in ${num(get(run, 'seconds'))} s `
        + `(stopped by ${String(get(run, 'stoppedBy'))}), ${fmtInt(num(get(run, 'distinctSerials')))} distinct serials, mean ${fmtMs(num(get(run, 'latencyMs', 'mean')))}.`);
    }
    lines.push('');
  }
  lines.push(...wrkReportSection(results));

  const crl = results.find((r) => r.name.startsWith('crl-') && !r.error);
  if (crl) {
    const runs = (crl.measurements.runs as Array<Record<string, number>>) ?? [];
    lines.push('## CRL generation runs', '',
      ...table(['Run', 'Time', 'Peak RSS growth', 'Peak heap growth', 'RSS samples'], runs.map((x, i) => [
        `${i + 1}${i === 0 ? ' (cold)' : ''}`, `${(num(x.generateMs) / 1000).toFixed(2)} s`, fmtMiB(num(x.rssGrowth)), fmtMiB(num(x.heapGrowth)), String(x.rssSamples),
      ])),
      '',
      `Inserting the rows took ${(num(crl.measurements.insertMs) / 1000).toFixed(2)} s (one transaction, not part of the generation time). `
        + `openssl lists ${fmtInt(num(get(crl.measurements.openssl, 'serialNumberLines')))} serial numbers; `
        + `signature check: ${String(get(crl.measurements.openssl, 'verifyOutput'))}.`, '');
  }

  lines.push(...recoverySection(results));

  const errors = results.filter((r) => r.error);
  if (errors.length) lines.push('## Errors', '', ...errors.map((r) => `- ${r.name}: ${r.error}`), '');

  lines.push('## Notes', '',
    '- Rampart runs as a real child process (`bin/rampart.mjs serve`, first-run hierarchy, SQLite store) on 127.0.0.1; the ceiling server is a plain '
      + '`node:http` server in its own child process answering every request with the exact bytes and response headers of Rampart\'s cached OCSP '
      + 'response, without parsing the request. The ratio is Rampart\'s share of what Node\'s HTTP stack alone can serve on this machine.',
    '- autocannon runs inside the bench process on the same host, so load generator and server share the CPUs — equally for Rampart and the ceiling. '
      + 'Other work on the host (see the load averages) moves all numbers; compare the columns of one run, not runs on different machines.',
    '- OCSP latencies come from autocannon\'s per-response events (sub-millisecond resolution); REST issuance latency is measured around each HTTPS request.',
    '- PostgreSQL runs are real child processes too: PostgreSQL 15 from test/helpers/postgres.ts (one server, fsync and synchronous_commit on; '
      + 'for the synchronous-standby rows a primary and one streaming standby made by pg_basebackup -R, synchronous_standby_names \'*\', sync_state \'sync\' checked before and after the load), '
      + 'nodes started with the cluster settings of test/helpers/cluster.ts (heartbeat 1 s, takeoverSeconds 10), HAProxy with the configuration '
      + '`rampart haproxy-config` writes (health checks every 1 s, 500 ms timeout, fall 3, rise 2). All of them share the same 2 CPUs with the load '
      + 'generator: three nodes can spread Node\'s single-threaded request work over both cores, but they compete with PostgreSQL, HAProxy (TLS in and out) '
      + 'and the client for them, so the three-node row is no forecast for three machines.',
    '- Every issuance request of the REST driver (issuance-driver.ts) carries a fresh Idempotency-Key (stored with the certificate in the same transaction); the wrk runs send none.',
    '- The bench node (bench/node-setup.ts) runs with its per-address and per-token API rate limits off (rampart.yaml in its data directory); overload shedding (503) stays at its defaults.',
    '- Environment knobs: BENCH_DURATION, BENCH_WARMUP, BENCH_CLUSTER_DURATION, BENCH_NODE_LOSS_BEFORE, BENCH_NODE_LOSS_AFTER (seconds), BENCH_PG_SKIP_RTO=1 (skips node loss and takeover), '
      + 'BENCH_ISSUE_MAX, BENCH_CRL_ENTRIES, BENCH_CRL_RUNS, BENCH_CFSSL_SQLITE_SYNC (cfssl certdb synchronous mode; default: cfssl\'s own).', '');

  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, 'README.md');
  writeFileSync(path, lines.join('\n'));
  return path;
}
