/**
 * The audit log: append-only and hash-chained. Each entry's hash covers its
 * own fields and the previous entry's hash, so changing, removing or
 * reordering any entry breaks verification from that point on.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { AuditEntry, AuditEntryInput } from '../core/types.js';
import type { AuditStore } from '../storage/store.js';

export const GENESIS_HASH = '0'.repeat(64);

/** Deterministic JSON: object keys sorted at every level. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v ?? null);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

export function hashEntry(e: Omit<AuditEntry, 'hash'>): string {
  const body = canonicalJson({
    seq: e.seq, time: e.time.toISOString(), actor: e.actor, source: e.source, channel: e.channel,
    action: e.action, target: e.target, outcome: e.outcome, details: e.details ?? {}, prevHash: e.prevHash,
  });
  return createHash('sha256').update(body).digest('hex');
}

export interface AuditVerification {
  ok: boolean;
  entries: number;
  headHash: string;
  /** First entry that fails, with the reason. */
  problem?: { seq: number; reason: string };
}

export interface AuditLogOptions {
  store: AuditStore;
  clock: Clock;
  /**
   * True while the database cannot take writes (a replica region's node).
   * Entries (refused requests, mostly) then go to `offChain` (the node's
   * log) instead, unchained: seq 0, empty hashes.
   */
  readOnly?: () => boolean;
  offChain?: (entry: AuditEntry) => void;
}

export class AuditLog {
  constructor(private readonly opts: AuditLogOptions) {}

  async record(input: AuditEntryInput): Promise<AuditEntry> {
    if (this.opts.readOnly?.()) {
      const e: AuditEntry = { ...input, details: input.details ?? {}, seq: 0, time: this.opts.clock.now(), prevHash: '', hash: '' };
      this.opts.offChain?.(e);
      return e;
    }
    return this.opts.store.appendAudit(this.builder(input));
  }

  /** The entry for `input`, to be appended by a store inside another write's transaction. */
  builder(input: AuditEntryInput): (prev: { seq: number; hash: string } | null) => AuditEntry {
    const time = this.opts.clock.now();
    return (prev) => {
      const partial = { ...input, details: input.details ?? {}, seq: (prev?.seq ?? 0) + 1, time, prevHash: prev?.hash ?? GENESIS_HASH };
      return { ...partial, hash: hashEntry(partial) };
    };
  }

  async verify(): Promise<AuditVerification> {
    let expectedSeq = 1;
    let prevHash = GENESIS_HASH;
    let n = 0;
    for await (const e of this.opts.store.iterateAudit()) {
      n++;
      if (e.seq !== expectedSeq) {
        return { ok: false, entries: n, headHash: prevHash, problem: { seq: e.seq, reason: `expected entry ${expectedSeq}, found ${e.seq}: entries removed or reordered` } };
      }
      if (e.prevHash !== prevHash) {
        return { ok: false, entries: n, headHash: prevHash, problem: { seq: e.seq, reason: 'previous-hash link does not match the entry before it' } };
      }
      if (hashEntry(e) !== e.hash) {
        return { ok: false, entries: n, headHash: prevHash, problem: { seq: e.seq, reason: 'entry content does not match its hash: entry was changed' } };
      }
      prevHash = e.hash;
      expectedSeq++;
    }
    return { ok: true, entries: n, headHash: prevHash };
  }
}
