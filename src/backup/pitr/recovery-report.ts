/** Reading what recovery did: the new timeline's history file, the server log's recovery lines, gaps in the archive. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WAL_SEGMENT, segmentRange } from './wal-names.js';

/** Last line of pg_wal/<tli>.history: parent timeline, switch LSN, reason ("before 2026-... +00"). */
export function readTimelineHistory(pgdata: string, timeline: number): { switchLsn: string; reason: string } | null {
  const f = join(pgdata, 'pg_wal', `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`);
  if (!existsSync(f)) return null;
  const last = readFileSync(f, 'utf8').trim().split('\n').filter((l) => l && !l.startsWith('#')).at(-1);
  const parts = last?.split('\t');
  return parts && parts.length >= 3 ? { switchLsn: parts[1]!, reason: parts.slice(2).join('\t') } : null;
}

export function parseRecoveryLog(log: string): { lastTransactionAt: string | null; stoppedBefore: string | null; restored: number } {
  const last = [...log.matchAll(/last completed transaction was at log time (.+)$/gm)].at(-1)?.[1] ?? null;
  const before = /recovery stopping before (?:commit|abort) of transaction \d+, time (.+)$/m.exec(log)?.[1] ?? null;
  const restored = new Set([...log.matchAll(/restored log file "([0-9A-F]{24})" from archive/g)].map((x) => x[1])).size;
  return { lastTransactionAt: last?.trim() ?? null, stoppedBefore: before?.trim() ?? null, restored };
}

/** The last segment of the unbroken run of archived segments that starts at `from` (same timeline). */
export function firstGapAfter(archived: string[], from: string, segmentSize: number): string {
  const have = new Set(archived.filter((n) => WAL_SEGMENT.test(n) && n.slice(0, 8) === from.slice(0, 8)));
  const all = [...have].sort();
  const lastName = all.at(-1);
  if (!lastName || lastName < from) return from;
  let prev = from;
  for (const s of segmentRange(from, lastName, segmentSize)) {
    if (!have.has(s)) return prev;
    prev = s;
  }
  return prev;
}
