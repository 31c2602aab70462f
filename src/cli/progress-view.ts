/**
 * Progress of a long command (backup, restore, PITR restore, drills, region
 * failover and failback) on stderr; stdout keeps only the result.
 * - stderr a terminal: a cli-progress bar per phase with the counts (bytes or
 *   steps), percentage, rate and ETA; text lines (a drill's steps) print
 *   above the bar.
 * - `--json`: JSON lines `{"progress": {...}}` (core/progress.ts), at most
 *   one a second per phase for bytes, every step, and the end of each phase.
 * - otherwise (a pipe, a log file): no bar, the text lines only.
 */
import cliProgress from 'cli-progress';
import { isStepProgress, type OnProgress, type Progress } from '../core/progress.js';
import type { GlobalOptions } from './context.js';

export interface ProgressView {
  /** What long work reports to; undefined when progress is not shown. */
  readonly onProgress: OnProgress | undefined;
  /** A line for a person watching: above the bar on a terminal, plain on stderr otherwise, not with --json. */
  log(line: string): void;
  /** Leaves the bars as they are (the last state stays on screen). */
  close(): void;
}

const size = (n: number): string => (n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(2)} GiB` : `${(n / 1048576).toFixed(1)} MiB`);
const clock = (s: number): string => `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;

/** The counts part of a line: "12.0 MiB / 300.0 MiB at 50.0 MiB/s" or "3/9 steps: fence A". */
export function progressAmount(p: Progress): string {
  if (isStepProgress(p)) return `${p.steps}${p.total ? `/${p.total}` : ''} steps${p.step ? `: ${p.step}` : ''}`;
  return `${size(p.bytes)}${p.total ? ` / ${size(p.total)}` : ''} at ${size(p.rate)}/s`;
}

const value = (p: Progress): number => (isStepProgress(p) ? p.steps : p.bytes);

export function progressView(g: GlobalOptions, out: NodeJS.WriteStream = process.stderr): ProgressView {
  if (g.json) {
    const last = new Map<string, number>();
    return {
      onProgress: (p) => {
        const now = Date.now();
        if (!p.done && !isStepProgress(p) && now - (last.get(p.phase) ?? 0) < 1000) return;
        last.set(p.phase, now);
        out.write(`${JSON.stringify({ progress: p })}\n`);
      },
      log: () => undefined,
      close: () => undefined,
    };
  }
  if (!out.isTTY) return { onProgress: undefined, log: (line) => { out.write(`${line}\n`); }, close: () => undefined };

  const bars = new cliProgress.MultiBar({
    stream: out, hideCursor: true, clearOnComplete: false, stopOnComplete: false, gracefulExit: true, etaBuffer: 20,
    format: '{phase} |{bar}| {percentage}% | {amount} | ETA {etaText}', barsize: 30, autopadding: true,
  }, cliProgress.Presets.shades_classic);
  let current: { phase: string; bar: cliProgress.SingleBar } | null = null;
  let closed = false;
  return {
    onProgress: (p) => {
      if (closed) return;
      const payload = { phase: p.phase, amount: progressAmount(p), etaText: p.done ? 'done' : p.etaSeconds === undefined ? '?' : clock(p.etaSeconds) };
      // An unknown total: bytes show a full bar of what was read so far, steps one step to go.
      const total = Math.max(1, p.total ?? (isStepProgress(p) && !p.done ? p.steps + 1 : value(p)));
      if (!current || current.phase !== p.phase) current = { phase: p.phase, bar: bars.create(total, value(p), payload) };
      current.bar.setTotal(total);
      current.bar.update(value(p), payload);
      if (p.done) bars.update();
    },
    // Before the first bar and after the end there is nothing to print above: write the line itself.
    log: (line) => { if (current && !closed) bars.log(`${line}\n`); else out.write(`${line}\n`); },
    close: () => {
      if (closed) return;
      closed = true;
      bars.stop();
    },
  };
}

/** Runs long work with a progress view, closed (the bar left as it ended) before the result is printed. */
export async function withProgress<T>(g: GlobalOptions, fn: (view: ProgressView) => Promise<T>): Promise<T> {
  const view = progressView(g);
  try {
    return await fn(view);
  } finally {
    view.close();
  }
}
