/**
 * Shared pieces of the benchmark suite: result records, machine description,
 * latency statistics, environment knobs and child-process helpers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem, platform, release } from 'node:os';
import { join, resolve } from 'node:path';

export const BENCH_DIR = import.meta.dirname;
export const ROOT = resolve(BENCH_DIR, '..');
export const RESULTS_DIR = join(BENCH_DIR, 'results');

export interface Machine {
  cpus: number;
  /** os.loadavg() when the record was made: other work on the host skews the numbers. */
  loadavg: number[];
  model: string;
  totalmem: number;
  totalmemGiB: number;
  platform: string;
  release: string;
  node: string;
}

export interface Target {
  /** Human-readable statement of the target, e.g. ">= 60 % of the ceiling". */
  description: string;
  metric: string;
  comparator: '>=' | '<=' | '<' | '>';
  value: number;
  unit: string;
  /** Compared for information only (e.g. against an architecture tier): the README shows the comparison, not a verdict. */
  informative?: boolean;
}

export interface BenchResult {
  name: string;
  title: string;
  date: string;
  machine: Machine;
  parameters: Record<string, unknown>;
  measurements: Record<string, unknown>;
  target: Target;
  /** The measured value compared with target.value. */
  actual: number | null;
  pass: boolean;
  /** Set when the benchmark could not produce a valid measurement. */
  error?: string;
  /** One row of the README summary table. */
  summary: SummaryRow;
}

export interface SummaryRow {
  benchmark: string;
  rampart: string;
  ceiling: string;
  ratio: string;
  detail: string;
  ceilingDetail: string;
}

export function machine(): Machine {
  const c = cpus();
  return {
    cpus: c.length, loadavg: loadavg().map((v) => round(v, 2)), model: c[0]?.model ?? 'unknown', totalmem: totalmem(),
    totalmemGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, platform: platform(), release: release(), node: process.version,
  };
}

export function meets(t: Target, actual: number | null): boolean {
  if (actual === null || !Number.isFinite(actual)) return false;
  switch (t.comparator) {
    case '>=': return actual >= t.value;
    case '>': return actual > t.value;
    case '<=': return actual <= t.value;
    case '<': return actual < t.value;
  }
}

/** A record for a benchmark that could not run (or was not measured), so the table still shows it. */
export function failedResult(name: string, title: string, target: Target, e: unknown, label = 'failed'): BenchResult {
  const error = e instanceof Error ? e.message.split('\n').slice(0, 6).join(' ') : String(e);
  return {
    name, title, date: new Date().toISOString(), machine: machine(), parameters: {}, measurements: {}, target, actual: null, pass: false, error,
    summary: { benchmark: title, rampart: label, ceiling: '—', ratio: '—', detail: '—', ceilingDetail: '—' },
  };
}

export function writeResult(r: BenchResult): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, `${r.name}.json`), `${JSON.stringify(r, null, 2)}\n`);
}

/** A positive number from the environment, or the default. */
export function envNumber(name: string, dflt: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return n;
}

/** Seconds each load phase runs (BENCH_DURATION, default 10). */
export const durationSeconds = (): number => envNumber('BENCH_DURATION', 10);
/** Seconds of unrecorded warm-up before each load phase (BENCH_WARMUP, default 2). */
export const warmupSeconds = (): number => envNumber('BENCH_WARMUP', Math.min(2, durationSeconds()));

/** Latency samples in milliseconds, kept in a bounded buffer. */
export class LatencyRecorder {
  private buf: Float64Array;
  private n = 0;
  dropped = 0;
  constructor(capacity = 4_000_000) { this.buf = new Float64Array(capacity); }
  add(ms: number): void {
    if (this.n < this.buf.length) this.buf[this.n++] = ms;
    else this.dropped++;
  }
  get count(): number { return this.n; }
  stats(): LatencyStats {
    const s = this.buf.slice(0, this.n).sort();
    const pick = (p: number): number => (s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN);
    let sum = 0;
    for (const v of s) sum += v;
    return { samples: s.length, p50: round(pick(50)), p90: round(pick(90)), p99: round(pick(99)), max: round(s.length ? s[s.length - 1]! : NaN), mean: round(s.length ? sum / s.length : NaN) };
  }
}

export interface LatencyStats { samples: number; p50: number; p90: number; p99: number; max: number; mean: number }

export const round = (v: number, digits = 3): number => (Number.isFinite(v) ? Number(v.toFixed(digits)) : v);
export const fmtInt = (v: number): string => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a');
export const fmtMs = (v: number): string => (Number.isFinite(v) ? `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms` : 'n/a');
export const fmtPct = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(1)} %` : 'n/a');
export const fmtMiB = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

const cleanups = new Set<() => Promise<void>>();

/** Registers a cleanup to run if the bench is interrupted (SIGINT/SIGTERM); returns its unregister function. */
export function onAbort(fn: () => Promise<void>): () => void {
  cleanups.add(fn);
  return () => { cleanups.delete(fn); };
}

/** On SIGINT/SIGTERM: stop every child still registered, then exit. */
export function installAbortHandlers(): void {
  const handler = (sig: NodeJS.Signals): void => {
    console.error(`\n[bench] ${sig}: stopping ${cleanups.size} child process(es) ...`);
    void Promise.allSettled([...cleanups].map((fn) => fn())).then(() => process.exit(130));
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
}

/** Runs a TypeScript file of this suite in its own Node process (through tsx); stopped on abort. */
export function spawnTs(script: string, args: string[], nodeFlags: string[] = []): ChildProcess {
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', join(BENCH_DIR, script), ...args], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env },
  });
  const untrack = onAbort(() => stopChild(child));
  child.once('exit', untrack);
  return child;
}

/** Collects a child's output and resolves with the first stdout line matching `re` (bounded by a timeout). */
export function waitForLine(child: ChildProcess, re: RegExp, timeoutMs: number): { line: Promise<RegExpExecArray>; output: () => string } {
  let out = '';
  let pending = '';
  const line = new Promise<RegExpExecArray>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re}:\n${out.slice(-4000)}`)), timeoutMs);
    const done = (fn: () => void): void => { clearTimeout(timer); fn(); };
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const l of lines) {
        const m = re.exec(l);
        if (m) return done(() => resolvePromise(m));
      }
    });
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    child.once('exit', (code, sig) => done(() => reject(new Error(`child exited (${code ?? sig}) before printing ${re}:\n${out.slice(-4000)}`))));
  });
  line.catch(() => undefined); // the caller awaits it; avoid an unhandled rejection if it never does
  return { line, output: () => out };
}

/** Stops a child process: SIGTERM, then SIGKILL after a grace period. */
export async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}
