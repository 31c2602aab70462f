/**
 * Audits refused requests that a client can repeat at will (rate-limit
 * refusals, failed ACME request authentication) without letting a flood
 * write a flood of audit entries: the first refusal of each (action, key)
 * in a window is audited at once, outcome denied, with its source address,
 * channel and target; later refusals of the same pair within the window are
 * only counted, and the count goes into the next entry of that pair
 * (`suppressedBefore`). Metrics still count every refusal. The table of
 * pairs is bounded: past `maxKeys`, the oldest pairs are forgotten (their
 * next refusal is audited).
 */
import type { AuditEntryInput } from '../core/types.js';

export interface Denial {
  action: string;
  /** What the refusal is counted by, with the action: an address (or /64), a token digest. */
  key: string;
  actor?: string;
  source: string;
  channel: AuditEntryInput['channel'];
  target: string;
  details?: Record<string, unknown>;
}

export interface ThrottledDenialAuditOptions {
  record: (e: AuditEntryInput) => Promise<unknown>;
  onError: (e: unknown) => void;
  now?: () => number;
  windowMs?: number;
  maxKeys?: number;
}

interface Slot { auditedAt: number; suppressed: number }

export class ThrottledDenialAudit {
  private readonly slots = new Map<string, Slot>();
  private readonly now: () => number;
  private readonly windowMs: number;
  private readonly maxKeys: number;

  constructor(private readonly o: ThrottledDenialAuditOptions) {
    this.now = o.now ?? Date.now;
    this.windowMs = o.windowMs ?? 60_000;
    this.maxKeys = o.maxKeys ?? 10_000;
  }

  /** Notes one refusal; returns true when it was written to the audit log. */
  note(d: Denial): boolean {
    const id = `${d.action}\u0000${d.key}`;
    const t = this.now();
    const slot = this.slots.get(id);
    if (slot && t - slot.auditedAt < this.windowMs) {
      slot.suppressed++;
      return false;
    }
    const suppressedBefore = slot?.suppressed ?? 0;
    // Re-insert so that Map order is the order of the last audit (oldest first).
    this.slots.delete(id);
    this.slots.set(id, { auditedAt: t, suppressed: 0 });
    while (this.slots.size > this.maxKeys) this.slots.delete(this.slots.keys().next().value!);
    this.o.record({
      actor: d.actor ?? 'anonymous', source: d.source, channel: d.channel, action: d.action, target: d.target, outcome: 'denied',
      details: { ...d.details, windowSeconds: this.windowMs / 1000, ...(suppressedBefore > 0 ? { suppressedBefore } : {}) },
    }).catch(this.o.onError);
    return true;
  }

  /** Pairs currently remembered (tests, metrics). */
  size(): number {
    return this.slots.size;
  }
}
