/**
 * Reads the audit table from a position: the entries with seq greater than
 * `afterSeq`, in seq order, at most `limit` of them. The forwarder and the
 * chain verifier follow the table this way (never AuditLog.record), so they
 * see entries written by any node or CLI process, including the ones
 * appended inside other transactions (issuance, revocation).
 *
 * The stores start their keyset-paginated scan after `afterSeq`
 * (`Store.iterateAudit(afterSeq)`), so following the log costs what is new.
 */
import type { AuditEntry } from '../../core/types.js';

export interface AuditFollowStore {
  /** Entries with seq > afterSeq, in seq order. */
  iterateAudit(afterSeq?: number): AsyncIterable<AuditEntry>;
  lastAudit(): Promise<AuditEntry | null>;
}

/** Up to `limit` entries with seq > afterSeq, in seq order. */
export async function readAuditAfter(store: AuditFollowStore, afterSeq: number, limit: number): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  if (limit <= 0) return out;
  for await (const e of store.iterateAudit(afterSeq)) {
    if (e.seq <= afterSeq) continue;
    out.push(e);
    if (out.length >= limit) break;
  }
  return out;
}

/** Every entry with seq > afterSeq, in seq order (for verification). */
export async function* auditAfter(store: AuditFollowStore, afterSeq: number): AsyncIterable<AuditEntry> {
  for await (const e of store.iterateAudit(afterSeq)) {
    if (e.seq > afterSeq) yield e;
  }
}
