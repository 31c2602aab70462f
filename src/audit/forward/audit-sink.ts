/**
 * What a forwarding destination is: something that takes a batch of audit
 * entries, in seq order, and resolves once it has them (written and synced,
 * handed to a connection). The forwarder saves its cursor only after that,
 * so a batch that fails is sent again: delivery is at least once, and a
 * consumer deduplicates on `hash` (`seq` alone is not enough after a database
 * failover that lost the newest entries: their seqs are used again).
 *
 * Also the JSON form of an entry that every sink sends (the JSON-lines file
 * and the syslog MSG carry the same object).
 */
import type { AuditEntry } from '../../core/types.js';

export interface AuditSink {
  /** The configured name (cursor key and metric label). */
  readonly name: string;
  /** Human-readable destination for health details and logs, e.g. "syslog tcp 10.0.0.5:514". */
  readonly description: string;
  /** Delivers the batch; rejects when any of it may not have been delivered. */
  send(entries: readonly AuditEntry[]): Promise<void>;
  /** Drops connections and file handles; the next send opens them again. */
  close(): Promise<void>;
}

/** Who forwarded: put in every record as `rampart`. */
export interface ForwardContext {
  /** Cluster node id of the forwarding node. */
  node: string;
  /** Subject of the active issuing CA (null before the hierarchy exists). */
  ca: string | null;
}

export interface ForwardRecord {
  seq: number;
  time: string;
  actor: string;
  source: string;
  channel: string;
  action: string;
  target: string;
  outcome: string;
  details: Record<string, unknown>;
  hash: string;
  prevHash: string;
  rampart: ForwardContext;
}

export function forwardRecord(e: AuditEntry, ctx: ForwardContext): ForwardRecord {
  return {
    seq: e.seq, time: e.time.toISOString(), actor: e.actor, source: e.source, channel: e.channel, action: e.action,
    target: e.target, outcome: e.outcome, details: (e.details ?? {}) as Record<string, unknown>, hash: e.hash, prevHash: e.prevHash,
    rampart: { node: ctx.node, ca: ctx.ca },
  };
}

/**
 * JSON with every character above U+007E escaped as \uXXXX: plain ASCII, so
 * byte and character lengths agree (safe to truncate anywhere, no BOM needed)
 * and JSON.parse gives back the same value.
 */
export function asciiJson(v: unknown): string {
  return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
