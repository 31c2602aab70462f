/**
 * Where a PostgreSQL issuance run saturates, observed cheaply around each
 * recorded leg (a snapshot right before it, one right after it; the driver
 * has no request in flight at either point):
 *
 * - each Rampart node's /metrics on its plain-HTTP listener:
 *   rampart_issuance_stage_seconds _sum/_count per stage (parse, policy,
 *   encode, lint, sign, commit), rampart_certificates_issued_total and the
 *   process CPU counter of prom-client's default metrics (exported as
 *   rampart_process_process_cpu_seconds_total: the registry prefixes
 *   'rampart_process_' to prom-client's own 'process_cpu_seconds_total');
 * - from /proc (Linux): the CPU time of each PostgreSQL server (postmaster,
 *   its live children, and the children it already reaped), of HAProxy,
 *   and the host's busy time (/proc/stat);
 * - the bench process's own CPU (the load generator).
 *
 * Everything is a difference of cumulative counters, divided by the wall
 * time between the snapshots: "CPU s/s" is cores kept busy.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { postmasterPid } from '../src/dr/drill-environment.js';
import { parseMetrics } from './issuance-wrk-bench.js';
import { fmtInt, round } from './bench-util.js';

/** A process (tree) whose CPU time is read from /proc. */
export interface ProcSource { label: string; pids: () => number[]; tree?: boolean }
export interface NodeSource { id: string; httpUrl: string }

interface NodeSnap { cpu: number | null; issued: number | null; stages: Map<string, { sum: number; count: number }> | null; error?: string }
export interface SaturationSnapshot {
  at: number;
  nodes: Map<string, NodeSnap>;
  procs: Map<string, number | null>;
  host: { busy: number; total: number } | null;
  client: number;
}

export interface StageMean { stage: string; count: number; meanMs: number; sharePercent: number }
export interface Saturation {
  seconds: number;
  /** Stage means over every node's issuances in the leg (each stage as the node times it; waiting inside a stage counts). */
  stages: StageMean[];
  /** Cores kept busy by each node (from its /metrics), and what it issued in the leg. */
  nodes: Array<{ id: string; cpuSecondsPerSecond: number | null; issued: number | null; error?: string }>;
  /** Cores kept busy by PostgreSQL, HAProxy and the load generator (from /proc and process.cpuUsage()). */
  processes: Record<string, number | null>;
  /** Busy cores of the whole host over the leg (/proc/stat), out of `cores`. */
  hostBusyCores: number | null;
  cores: number;
  /** The heuristic reading of the above (see verdict()). */
  verdict: string;
  /** One compact line for the report. */
  line: string;
  source: string;
}

const STAGE_ORDER = ['parse', 'policy', 'build', 'encode', 'lint', 'sign', 'commit', 'respond'];
const rank = (s: string): number => { const i = STAGE_ORDER.indexOf(s); return i < 0 ? STAGE_ORDER.length : i; };

let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5_000 });
    const n = Number(r.stdout?.trim());
    clkTck = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return clkTck;
}

interface ProcStat { ppid: number; ticks: number }
function procStat(pid: number): ProcStat | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // f[0] = field 3 (state)
    // fields 14..17: utime stime cutime cstime (cutime/cstime: children already reaped)
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) };
  } catch {
    return null;
  }
}

/** CPU seconds of `roots` and (tree) their live children; null when none of the roots exists. */
function procCpuSeconds(roots: number[], tree: boolean): number | null {
  const live = roots.map((p) => [p, procStat(p)] as const).filter(([, s]) => s !== null);
  if (!live.length) return null;
  let ticks = live.reduce((a, [, s]) => a + s!.ticks, 0);
  if (tree) {
    const parents = new Set(live.map(([p]) => p));
    let entries: string[] = [];
    try { entries = readdirSync('/proc'); } catch { /* no /proc */ }
    for (const e of entries) {
      if (!/^\d+$/.test(e) || parents.has(Number(e))) continue;
      const s = procStat(Number(e));
      if (s && parents.has(s.ppid)) ticks += s.ticks;
    }
  }
  return ticks / ticksPerSecond();
}

function hostTimes(): { busy: number; total: number } | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    const idle = f[3]! + (f[4] ?? 0); // idle + iowait
    return { busy: (total - idle) / ticksPerSecond(), total: total / ticksPerSecond() };
  } catch {
    return null;
  }
}

function parseCpu(text: string): number | null {
  const m = /^rampart_process_(?:process_)?cpu_seconds_total(?:\{[^}]*\})?\s+(\S+)/m.exec(text);
  return m ? Number(m[1]) : null;
}

async function scrapeNode(httpUrl: string): Promise<NodeSnap> {
  try {
    const r = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
    const text = await r.text();
    if (r.status !== 200) return { cpu: null, issued: null, stages: null, error: `GET /metrics: HTTP ${r.status}` };
    const m = parseMetrics(text);
    return { cpu: parseCpu(text), issued: m.issued, stages: m.stages };
  } catch (e) {
    return { cpu: null, issued: null, stages: null, error: `GET /metrics: ${(e as Error).message}` };
  }
}

/** The PIDs of a PostgreSQL server's postmaster, from its data directory. */
export const postmasterOf = (dataDir: string) => (): number[] => {
  const pid = postmasterPid(dataDir);
  return pid === null ? [] : [pid];
};

export async function snapshot(nodes: NodeSource[], procs: ProcSource[]): Promise<SaturationSnapshot> {
  const scraped = await Promise.all(nodes.map(async (n) => [n.id, await scrapeNode(n.httpUrl)] as const));
  const u = process.cpuUsage();
  return {
    at: performance.now(),
    nodes: new Map(scraped),
    procs: new Map(procs.map((p) => [p.label, procCpuSeconds(p.pids(), p.tree ?? false)])),
    host: hostTimes(),
    client: (u.user + u.system) / 1e6,
  };
}

const rate = (a: number | null | undefined, b: number | null | undefined, s: number): number | null =>
  (a === null || a === undefined || b === null || b === undefined || s <= 0 ? null : round((b - a) / s, 2));
const f2 = (v: number | null): string => (v === null ? 'n/a' : v.toFixed(2));
const fStageMs = (v: number): string => (v < 10 ? v.toFixed(2) : v.toFixed(1));

/**
 * A heuristic reading: the host's CPUs (>= 85 % of the cores busy), one
 * node's CPU (>= 0.85 of a core: a node's request work runs on one event
 * loop; the process total also counts GC and libuv threads), or neither:
 * then the issuances are waiting, and the largest stage says on what
 * (commit: the PostgreSQL round trip, WAL flush and, with a synchronous
 * standby, its confirmation; or a node's connection pool). Under CPU
 * saturation the async stages (commit above all) also hold the wait for
 * the busy event loop, so there the largest stage is no separate cause.
 */
function verdict(s: Omit<Saturation, 'verdict' | 'line' | 'source'>): string {
  const top = [...s.stages].sort((a, b) => b.sharePercent - a.sharePercent)[0];
  const topText = top ? `; largest stage ${top.stage} (${fStageMs(top.meanMs)} ms mean, ${top.sharePercent.toFixed(0)} % of stage time)` : '';
  const consumers: Array<[string, number]> = [
    ...s.nodes.filter((n) => n.cpuSecondsPerSecond !== null).map((n) => [n.id, n.cpuSecondsPerSecond!] as [string, number]),
    ...Object.entries(s.processes).filter(([, v]) => v !== null) as Array<[string, number]>,
  ].sort((a, b) => b[1] - a[1]);
  const biggest = consumers[0] ? `, biggest consumer ${consumers[0][0]} ${consumers[0][1].toFixed(2)} cores` : '';
  if (s.hostBusyCores !== null && s.hostBusyCores >= 0.85 * s.cores) return `host CPU (${s.hostBusyCores.toFixed(2)} of ${s.cores} cores busy${biggest})${topText}`;
  const hot = s.nodes.filter((n) => (n.cpuSecondsPerSecond ?? 0) >= 0.85);
  if (hot.length) return `node CPU (${hot.map((n) => `${n.id} ${f2(n.cpuSecondsPerSecond)} cores`).join(', ')}; a node handles requests on one event loop)${topText}`;
  return `no CPU saturated (host ${f2(s.hostBusyCores)} of ${s.cores} cores busy): waiting${topText}`;
}

export function saturation(before: SaturationSnapshot, after: SaturationSnapshot): Saturation {
  const seconds = (after.at - before.at) / 1000;
  const totals = new Map<string, { sum: number; count: number }>();
  const nodes: Saturation['nodes'] = [];
  for (const [id, a] of after.nodes) {
    const b = before.nodes.get(id);
    const error = a.error ?? b?.error;
    nodes.push({
      id, cpuSecondsPerSecond: rate(b?.cpu, a.cpu, seconds),
      issued: a.issued !== null && b?.issued !== null && b?.issued !== undefined ? a.issued - b.issued : null, ...(error ? { error } : {}),
    });
    for (const [stage, t] of a.stages ?? []) {
      const bt = b?.stages?.get(stage) ?? { sum: 0, count: 0 };
      const acc = totals.get(stage) ?? { sum: 0, count: 0 };
      acc.sum += t.sum - bt.sum;
      acc.count += t.count - bt.count;
      totals.set(stage, acc);
    }
  }
  const all = [...totals.values()].reduce((x, t) => x + (t.count > 0 ? t.sum : 0), 0);
  const stages: StageMean[] = [...totals].filter(([, t]) => t.count > 0)
    .map(([stage, t]) => ({ stage, count: t.count, meanMs: round((t.sum / t.count) * 1000, 4), sharePercent: all > 0 ? round((t.sum / all) * 100, 1) : 0 }))
    .sort((x, y) => rank(x.stage) - rank(y.stage) || x.stage.localeCompare(y.stage));
  const processes: Record<string, number | null> = {};
  for (const [label, v] of after.procs) processes[label] = rate(before.procs.get(label), v, seconds);
  processes.client = rate(before.client, after.client, seconds);
  const hostBusyCores = before.host && after.host && after.host.total > before.host.total
    ? round(((after.host.busy - before.host.busy) / (after.host.total - before.host.total)) * cpus().length, 2) : null;
  const base = { seconds: round(seconds, 3), stages, nodes, processes, hostBusyCores, cores: cpus().length };
  const v = verdict(base);
  const cpuText = [...nodes.map((n) => `${n.id} ${f2(n.cpuSecondsPerSecond)}`), ...Object.entries(processes).map(([k, x]) => `${k} ${f2(x)}`)].join(', ');
  const stageText = stages.map((s) => `${s.stage} ${fStageMs(s.meanMs)}`).join(', ');
  const issued = nodes.filter((n) => n.issued !== null);
  const spread = nodes.length > 1 && issued.length === nodes.length ? `; issued per node ${issued.map((n) => `${n.id} ${fmtInt(n.issued!)}`).join(', ')}` : '';
  return {
    ...base, verdict: v,
    line: `${v}. CPU s/s: ${cpuText}; host ${f2(hostBusyCores)}/${cpus().length}. Stage means (ms): ${stageText || 'n/a'}${spread}`,
    source: 'snapshots right before and right after the recorded leg: each node\'s /metrics (rampart_issuance_stage_seconds _sum/_count per stage, summed over nodes; '
      + 'rampart_process_process_cpu_seconds_total; rampart_certificates_issued_total), /proc/<pid>/stat of PostgreSQL (postmaster, live and reaped children) and HAProxy, '
      + '/proc/stat (host busy = all but idle and iowait), process.cpuUsage() of the bench process (client). CPU s/s = cores kept busy; a stage mean includes any waiting inside it (for PostgreSQL, for a pooled connection, or for a busy event loop: on a CPU-bound node, commit grows with the queue)',
  };
}
