/**
 * Reads a forwarded copy of the audit log (the JSON-lines destination of
 * `audit.forward`, src/audit/forward/jsonl-sink.ts: one ForwardRecord per
 * line, at least once, in seq order) back into audit entries, one at a time
 * (the file is streamed, never held). Each entry's hash is recomputed: a
 * line whose content does not hash to its `hash` is reported, not used.
 * Duplicates (the same hash again, from a re-sent batch) are skipped.
 *
 * The path may also be a directory holding the copy as a log rotator left it
 * (audit.jsonl, audit.jsonl.1, …): every regular file in it is read, the
 * files in the order of the first entry each holds (seq), so the entries come
 * in seq order across files; a bad line names its file.
 */
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { hashEntry } from '../audit/audit-log.js';
import type { AuditEntry } from '../core/types.js';

export type ForwardedLine =
  | { kind: 'entry'; line: number; entry: AuditEntry }
  | { kind: 'bad'; line: number; reason: string };

const CHANNELS = new Set(['api', 'api-mtls', 'cli', 'system', 'ocsp', 'acme']);
const OUTCOMES = new Set(['success', 'failure', 'denied']);

export async function* readForwardedAudit(path: string): AsyncIterable<ForwardedLine> {
  const seen = new Set<string>();
  if (!statSync(path).isDirectory()) {
    yield* readFile(path, seen, '', 0);
    return;
  }
  // Line numbers run on across the files (the report's lines read); a bad line names its file and line there.
  let before = 0;
  for (const file of await filesInSeqOrder(path)) before += yield* readFile(file, seen, basename(file), before);
}

/** The regular files of a directory, ordered by the seq of the first entry each holds (files without one last, by name). */
async function filesInSeqOrder(dir: string): Promise<string[]> {
  const files = readdirSync(dir).sort().map((f) => join(dir, f)).filter((f) => statSync(f).isFile());
  const first = new Map<string, number>();
  for (const f of files) {
    for await (const item of readFile(f, new Set(), '', 0)) {
      if (item.kind === 'entry') { first.set(f, item.entry.seq); break; }
    }
  }
  const key = (f: string): number => first.get(f) ?? Number.MAX_SAFE_INTEGER;
  return files.sort((a, b) => key(a) - key(b));
}

/** Yields the file's entries and bad lines; returns how many lines it had. */
async function* readFile(path: string, seen: Set<string>, label: string, lineOffset: number): AsyncGenerator<ForwardedLine, number> {
  const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  const where = (): string => (label ? `${label} line ${n}: ` : '');
  try {
    for await (const text of rl) {
      n++;
      if (!text.trim()) continue;
      let r: Record<string, unknown>;
      try {
        r = JSON.parse(text) as Record<string, unknown>;
      } catch {
        yield { kind: 'bad', line: lineOffset + n, reason: `${where()}not JSON` };
        continue;
      }
      const e = toEntry(r);
      if (typeof e === 'string') { yield { kind: 'bad', line: lineOffset + n, reason: `${where()}${e}` }; continue; }
      if (seen.has(e.hash)) continue;
      seen.add(e.hash);
      yield { kind: 'entry', line: lineOffset + n, entry: e };
    }
  } finally {
    rl.close();
  }
  return n;
}

function toEntry(r: Record<string, unknown>): AuditEntry | string {
  const str = (k: string): string | null => (typeof r[k] === 'string' ? r[k] as string : null);
  const [time, actor, source, channel, action, target, outcome, hash, prevHash] = ['time', 'actor', 'source', 'channel', 'action', 'target', 'outcome', 'hash', 'prevHash'].map(str);
  if (!Number.isSafeInteger(r.seq) || (r.seq as number) < 1) return 'no valid seq';
  if (!time || Number.isNaN(Date.parse(time)) || actor === null || source === null || !channel || !CHANNELS.has(channel) || !action || target === null
    || !outcome || !OUTCOMES.has(outcome) || !hash || !prevHash) return 'not an audit record (a member is missing or has the wrong type)';
  const details = r.details && typeof r.details === 'object' && !Array.isArray(r.details) ? r.details as Record<string, unknown> : {};
  const e: AuditEntry = {
    seq: r.seq as number, time: new Date(time), actor, source, channel: channel as AuditEntry['channel'], action, target,
    outcome: outcome as AuditEntry['outcome'], details, prevHash, hash,
  };
  if (hashEntry(e) !== hash) return `entry ${e.seq}: its content does not match its hash (changed after it was written)`;
  return e;
}
