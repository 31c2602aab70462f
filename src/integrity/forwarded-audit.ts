/**
 * Reads a forwarded copy of the audit log (the JSON-lines destination of
 * `audit.forward`, src/audit/forward/jsonl-sink.ts: one ForwardRecord per
 * line, at least once, in seq order) back into audit entries, one at a time
 * (the file is streamed, never held). Each entry's hash is recomputed: a
 * line whose content does not hash to its `hash` is reported, not used.
 * Duplicates (the same hash again, from a re-sent batch) are skipped.
 */
import { createReadStream } from 'node:fs';
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
  const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  for await (const text of rl) {
    n++;
    if (!text.trim()) continue;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(text) as Record<string, unknown>;
    } catch {
      yield { kind: 'bad', line: n, reason: 'not JSON' };
      continue;
    }
    const e = toEntry(r);
    if (typeof e === 'string') { yield { kind: 'bad', line: n, reason: e }; continue; }
    if (seen.has(e.hash)) continue;
    seen.add(e.hash);
    yield { kind: 'entry', line: n, entry: e };
  }
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
