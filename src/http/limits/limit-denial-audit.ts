/**
 * Audits requests refused by a rate limit (429) without letting a flood
 * write a flood of audit entries: the first refusal of each (limit, key) in
 * a window is audited at once (`ratelimit.denied`, outcome denied, with the
 * source address, channel and path); later refusals of the same pair within
 * the window are only counted, and the count goes into the next entry of
 * that pair (`suppressedBefore`). Every refusal is still counted in
 * `rampart_rate_limited_total`. The table of pairs is bounded: past
 * `maxKeys`, the oldest pairs are forgotten (their next refusal is audited).
 */
import type { AuditEntryInput } from '../../core/types.js';

export interface LimitDenial {
  limit: string;
  /** The key the limit counted: an address (or /64) or a token digest. */
  key: string;
  source: string;
  channel: 'api' | 'acme';
  path: string;
  method: string;
  retryAfterSeconds: number;
}

export interface LimitDenialAuditOptions {
  record: (e: AuditEntryInput) => Promise<unknown>;
  onError: (e: unknown) => void;
  now?: () => number;
  windowMs?: number;
  maxKeys?: number;
}

interface Slot { auditedAt: number; suppressed: number }

export class LimitDenialAudit {
  private readonly slots = new Map<string, Slot>();
  private readonly now: () => number;
  private readonly windowMs: number;
  private readonly maxKeys: number;

  constructor(private readonly o: LimitDenialAuditOptions) {
    this.now = o.now ?? Date.now;
    this.windowMs = o.windowMs ?? 60_000;
    this.maxKeys = o.maxKeys ?? 10_000;
  }

  /** Notes one refusal; returns true when it was written to the audit log. */
  note(d: LimitDenial): boolean {
    const id = `${d.limit}\u0000${d.key}`;
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
      actor: 'anonymous', source: d.source, channel: d.channel, action: 'ratelimit.denied', target: `${d.method} ${d.path}`, outcome: 'denied',
      details: {
        limit: d.limit, retryAfterSeconds: d.retryAfterSeconds, windowSeconds: this.windowMs / 1000,
        ...(suppressedBefore > 0 ? { suppressedBefore } : {}),
      },
    }).catch(this.o.onError);
    return true;
  }

  /** Pairs currently remembered (tests, metrics). */
  size(): number {
    return this.slots.size;
  }
}
