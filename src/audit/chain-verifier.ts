/**
 * Periodic, incremental verification of the audit hash chain (the
 * `auditChain` health check and `rampart_audit_chain_ok`).
 *
 * The verifier remembers the last entry it verified (seq and hash). A run
 * re-reads that entry (its hash must not have changed, and it must still be
 * there: a truncated or rewritten tail fails) and hashes only what came
 * after it. Every `fullEveryRuns` runs, and after any failure until the
 * chain verifies again, the whole chain is re-hashed from the first entry,
 * which also catches a changed entry that had been verified before.
 *
 * The remembered position lives in this process only (an attacker who can
 * write the database cannot move it): a restart begins with a full run.
 * Unlike `rampart audit verify` it so notices a tail removed or rewritten
 * since this node verified it. A database failover that lost its newest
 * transactions (asynchronous replication, a regional failover) is reported
 * the same way, correctly: those entries are gone. Such a report, like any
 * failure, stays until the chain verifies again, which for a lost tail
 * means until the node restarts and takes the new chain as its reference.
 */
import type { AuditEntry } from '../core/types.js';
import type { Clock } from '../core/clock.js';
import { GENESIS_HASH, hashEntry } from './audit-log.js';
import { auditAfter, type AuditFollowStore } from './forward/audit-reader.js';

export interface ChainVerification {
  ok: boolean;
  mode: 'full' | 'incremental';
  at: Date;
  durationMs: number;
  /** Entries hashed in this run. */
  checked: number;
  /** Last entry verified (0 for an empty log). */
  headSeq: number;
  headHash: string;
  /** First entry that fails, with the reason. */
  problem?: { seq: number; reason: string };
}

export class ChainVerifier {
  private anchor: { seq: number; hash: string } | null = null;
  private runs = 0;
  private last: ChainVerification | null = null;
  private lastFullAt: Date | null = null;
  private lastError: { at: Date; message: string } | null = null;
  private running: Promise<ChainVerification> | null = null;
  private startedAt = 0;

  constructor(private readonly o: { store: AuditFollowStore; clock: Clock; everyMs: number; fullEveryRuns: number }) {}

  /** The last completed result, when the last full run was, and a read error since, if any. */
  state(): { result: ChainVerification | null; lastFullAt: Date | null; error: { at: Date; message: string } | null; running: boolean } {
    return { result: this.last, lastFullAt: this.lastFullAt, error: this.lastError, running: this.running !== null };
  }

  /** Whether a run is due (never run, or `everyMs` since the last one started). */
  due(now = this.o.clock.now()): boolean {
    return this.running === null && (this.startedAt === 0 || now.getTime() - this.startedAt >= this.o.everyMs);
  }

  /** Runs now (single flight: a run in progress is joined). */
  verify(): Promise<ChainVerification> {
    if (this.running) return this.running;
    this.startedAt = this.o.clock.now().getTime();
    this.running = this.run()
      .then((r) => { this.last = r; this.lastError = null; if (r.mode === 'full') this.lastFullAt = r.at; return r; })
      .catch((e: unknown) => { this.lastError = { at: this.o.clock.now(), message: (e as Error).message }; throw e; })
      .finally(() => { this.running = null; });
    return this.running;
  }

  private async run(): Promise<ChainVerification> {
    const t0 = performance.now();
    const full = this.anchor === null || this.last?.ok === false || this.runs % this.o.fullEveryRuns === 0;
    this.runs++;
    const anchor = this.anchor;
    const out = (ok: boolean, checked: number, head: { seq: number; hash: string }, problem?: ChainVerification['problem']): ChainVerification => {
      if (ok) this.anchor = head;
      return {
        ok, mode: full ? 'full' : 'incremental', at: this.o.clock.now(), durationMs: Math.round(performance.now() - t0), checked,
        headSeq: head.seq, headHash: head.hash, ...(problem ? { problem } : {}),
      };
    };
    let prev = { seq: 0, hash: GENESIS_HASH };
    let checked = 0;
    let sawAnchor = anchor === null;
    // Incremental: start at the remembered entry itself (seq > anchor.seq - 1).
    for await (const e of auditAfter(this.o.store, full || !anchor ? 0 : anchor.seq - 1)) {
      if (!full && anchor && e.seq === anchor.seq && !sawAnchor) {
        if (e.hash !== anchor.hash) return out(false, checked, prev, { seq: e.seq, reason: rewritten(e.seq) });
        sawAnchor = true;
        prev = { seq: e.seq, hash: e.hash };
        continue;
      }
      if (!full && !sawAnchor) return out(false, checked, prev, { seq: anchor!.seq, reason: removed(anchor!.seq, 'is missing') });
      const problem = linkProblem(e, prev);
      checked++;
      if (problem) return out(false, checked, prev, { seq: e.seq, reason: problem });
      if (anchor && e.seq === anchor.seq) {
        if (e.hash !== anchor.hash) return out(false, checked, prev, { seq: e.seq, reason: rewritten(e.seq) });
        sawAnchor = true;
      }
      prev = { seq: e.seq, hash: e.hash };
    }
    if (anchor && !sawAnchor) {
      return out(false, checked, prev, { seq: anchor.seq, reason: removed(anchor.seq, full ? `is gone (the log ends at entry ${prev.seq})` : 'is gone') });
    }
    return out(true, checked, prev);
  }
}

// Against what this process verified before. A database failover that lost its newest
// transactions (asynchronous replication, a regional failover) looks the same, and is
// named: the entries are gone either way.
const LOST_TAIL = ' (a database failover that lost its newest transactions looks the same); reported until this node restarts';
const rewritten = (seq: number): string => `entry ${seq} no longer has the hash it had when this node verified it: the chain was rewritten from there${LOST_TAIL}`;
const removed = (seq: number, how: string): string => `entry ${seq}, verified by this node before, ${how}: the newest entries were removed${LOST_TAIL}`;

/** Why `e` does not follow `prev` in the chain (null when it does); the checks of AuditLog.verify. */
function linkProblem(e: AuditEntry, prev: { seq: number; hash: string }): string | null {
  if (e.seq !== prev.seq + 1) return `expected entry ${prev.seq + 1}, found ${e.seq}: entries removed or reordered`;
  if (e.prevHash !== prev.hash) return 'previous-hash link does not match the entry before it';
  if (hashEntry(e) !== e.hash) return 'entry content does not match its hash: entry was changed';
  return null;
}
