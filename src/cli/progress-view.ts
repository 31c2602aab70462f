/**
 * Progress of a long command on stderr (stdout keeps only the result): a
 * self-updating line when stderr is a terminal, JSON lines with --json (at
 * most one a second per phase, and the end of each phase), nothing otherwise.
 */
import type { BackupProgress, ProgressFn } from '../backup/progress.js';
import type { GlobalOptions } from './context.js';

const mib = (n: number): string => (n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(2)} GiB` : `${(n / 1048576).toFixed(1)} MiB`);
const clock = (s: number): string => `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;

export function progressLine(p: BackupProgress): string {
  const of = p.total ? ` / ${mib(p.total)} (${Math.min(100, Math.floor((100 * p.bytes) / Math.max(1, p.total)))}%)` : '';
  const eta = p.etaSeconds !== undefined && !p.done ? `, ETA ${clock(p.etaSeconds)}` : '';
  return `${p.phase}: ${mib(p.bytes)}${of} at ${mib(p.rate)}/s${eta}${p.done ? ', done' : ''}`;
}

export function progressView(g: GlobalOptions, out: NodeJS.WriteStream = process.stderr): ProgressFn | undefined {
  if (g.json) {
    const last = new Map<string, number>();
    return (p) => {
      const now = Date.now();
      if (!p.done && now - (last.get(p.phase) ?? 0) < 1000) return;
      last.set(p.phase, now);
      out.write(`${JSON.stringify({ progress: p })}\n`);
    };
  }
  if (!out.isTTY) return undefined;
  return (p) => out.write(`\r\x1b[K${progressLine(p)}${p.done ? '\n' : ''}`);
}
