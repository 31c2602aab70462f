/**
 * The history a fault-lab workload records, one JSON object per line:
 * every operation with its invoke and complete times (ms since the epoch, on
 * the client host's clock), the node that answered (HAProxy's X-Rampart-Node,
 * or the node asked directly) and its outcome: 'ok' (acknowledged), 'failed'
 * (refused, or never reached a node) or 'unknown' (no answer: a timeout, a
 * cut connection, a gateway timeout).
 */
import { appendFileSync, readFileSync } from 'node:fs';

export type Outcome = 'ok' | 'failed' | 'unknown';

interface OpBase {
  /** Unique per operation (idempotent retries keep theirs). */
  id: string;
  invoke: number;
  complete: number;
  /** Node id that answered, when known. */
  node: string | null;
  outcome: Outcome;
  /** HTTP status or error text, for the report. */
  detail?: string;
}

export interface IssueOp extends OpBase {
  type: 'issue';
  /** The Idempotency-Key sent. */
  key: string;
  /** The request's unique common name (the certificate is found by it even when the answer was lost). */
  cn: string;
  serial?: string;
  /** base64 DER of the acknowledged certificate. */
  der?: string;
}

export interface RevokeOp extends OpBase {
  type: 'revoke';
  serial: string;
}

export interface OcspOp extends OpBase {
  type: 'ocsp';
  serial: string;
  /** The certificate status answered (outcome ok only). */
  status?: 'good' | 'revoked' | 'unknown';
  /** The response's thisUpdate and nextUpdate (ms; outcome ok only). */
  thisUpdate?: number;
  nextUpdate?: number;
  /** A post-heal probe sent to one node directly (the checker's revocation bound applies to these). */
  probe?: boolean;
}

/** A read of the lease row straight from the database (the observer's view; never from a node). */
export interface LeaseOp extends OpBase {
  type: 'lease';
  lease: string;
  holder?: string | null;
  epoch?: string;
  /** Database clock, ms: the lease's expiry and the time of the read. */
  expiresAt?: number | null;
  dbNow?: number;
}

/** Marks in the run: fault injected, healed, load started/stopped. */
export interface MarkOp extends OpBase {
  type: 'mark';
  what: string;
}

export type Op = IssueOp | RevokeOp | OcspOp | LeaseOp | MarkOp;

export class History {
  readonly ops: Op[] = [];
  constructor(private readonly file?: string) {}

  add(op: Op): void {
    this.ops.push(op);
    if (this.file) appendFileSync(this.file, `${JSON.stringify(op)}\n`);
  }

  mark(what: string): void {
    const now = Date.now();
    this.add({ type: 'mark', id: `mark-${this.ops.length}`, what, invoke: now, complete: now, node: null, outcome: 'ok' });
  }

  markTime(what: string): number | undefined {
    return this.ops.find((o) => o.type === 'mark' && o.what === what)?.invoke;
  }
}

export function readHistory(file: string): Op[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Op);
}
