/**
 * Follows the audit table and forwards every entry, in seq order, to every
 * configured destination, at least once.
 *
 * Each destination has its own cursor, the last seq it acknowledged, kept in
 * the database meta table (`audit.forward.<name>.seq`) and read again at every
 * tick: whichever node holds the lease continues where the previous leader
 * stopped. A tick reads up to `batchSize` entries after the cursor, sends
 * them, and saves the cursor only once the destination resolved; a failure
 * leaves the cursor where it was, so the batch is sent again (at least once,
 * possibly twice: consumers deduplicate on hash). A failing destination waits
 * (2 s doubling up to `retryMaxMs`, with jitter) while the others carry on;
 * destinations run concurrently, so a slow one does not delay the rest.
 *
 * The node calls `tick()` every few seconds on the cluster leader (or the
 * single node) and `standBy()` elsewhere. A new destination starts at the
 * first entry of the log.
 */
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import type { AuditSink } from './audit-sink.js';
import { readAuditAfter, type AuditFollowStore } from './audit-reader.js';

export interface ForwardMetaStore {
  getMeta(key: string): Promise<string | null>;
  setMeta(key: string, value: string): Promise<void>;
}

export interface AuditForwarderOptions {
  store: AuditFollowStore & ForwardMetaStore;
  sinks: readonly AuditSink[];
  clock: Clock;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  batchSize: number;
  /** Longest wait before a failing destination is tried again. */
  retryMaxMs: number;
  /** Batches per destination and tick (bounds one tick's work while catching up). */
  maxBatchesPerTick?: number;
}

export interface SinkStatus {
  name: string;
  description: string;
  /** Last acknowledged seq (null until read this leadership). */
  cursor: number | null;
  /** Newest seq in the log at the last tick. */
  headSeq: number | null;
  /** Entries not yet acknowledged at the last tick. */
  lag: number | null;
  /** Entries this process forwarded to it. */
  forwarded: number;
  lastSuccessAt: Date | null;
  failing: { error: string; since: Date; attempts: number; retryAt: Date } | null;
}

export interface ForwarderStatus {
  /** True while this node forwards (the leader, or a single node). */
  active: boolean;
  lastTickAt: Date | null;
  sinks: SinkStatus[];
}

export const cursorKey = (sink: string): string => `audit.forward.${sink}.seq`;
const RETRY_BASE_MS = 2000;

export class AuditForwarder {
  private readonly state: Array<{ sink: AuditSink; status: SinkStatus }>;
  private active = false;
  private lastTickAt: Date | null = null;
  private running: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly o: AuditForwarderOptions) {
    this.state = o.sinks.map((sink) => ({
      sink,
      status: { name: sink.name, description: sink.description, cursor: null, headSeq: null, lag: null, forwarded: 0, lastSuccessAt: null, failing: null },
    }));
  }

  get sinkCount(): number { return this.state.length; }

  /** One round: every destination that is not waiting gets what is new (single flight). */
  tick(): Promise<void> {
    if (this.closed || !this.state.length) return Promise.resolve();
    this.running ??= this.round().finally(() => { this.running = null; });
    return this.running;
  }

  /** This node does not forward (not the leader): forget positions, drop connections. */
  async standBy(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    await this.running?.catch(() => undefined);
    for (const { sink, status } of this.state) {
      Object.assign(status, { cursor: null, headSeq: null, lag: null, failing: null });
      await sink.close().catch(() => undefined);
    }
  }

  status(): ForwarderStatus {
    return { active: this.active, lastTickAt: this.lastTickAt, sinks: this.state.map((s) => ({ ...s.status, failing: s.status.failing && { ...s.status.failing } })) };
  }

  async close(): Promise<void> {
    this.closed = true;
    // Closing the sinks first cuts a send that waits on a dead server short.
    await Promise.all(this.state.map((s) => s.sink.close().catch(() => undefined)));
    await this.running?.catch(() => undefined);
  }

  private async round(): Promise<void> {
    if (!this.active) this.o.log.info({ sinks: this.state.map((s) => s.sink.description) }, 'audit forwarding active on this node');
    this.active = true;
    const head = (await this.o.store.lastAudit())?.seq ?? 0;
    await Promise.all(this.state.map((s) => this.pump(s.sink, s.status, head)));
    this.lastTickAt = this.o.clock.now();
  }

  private async pump(sink: AuditSink, st: SinkStatus, head: number): Promise<void> {
    st.headSeq = head;
    if (st.failing && this.o.clock.now() < st.failing.retryAt) {
      if (st.cursor !== null) st.lag = Math.max(0, head - st.cursor);
      return;
    }
    try {
      let cursor = parseCursor(await this.o.store.getMeta(cursorKey(sink.name)));
      st.cursor = cursor;
      for (let i = 0; i < (this.o.maxBatchesPerTick ?? 20) && !this.closed; i++) {
        const batch = await readAuditAfter(this.o.store, cursor, this.o.batchSize);
        if (!batch.length) break;
        if (batch[0]!.seq !== cursor + 1) {
          this.o.log.warn({ sink: sink.name, after: cursor, next: batch[0]!.seq }, 'audit entries missing from the table (the auditChain check reports it): forwarding what is there');
        }
        await sink.send(batch);
        const last = batch[batch.length - 1]!.seq;
        await this.o.store.setMeta(cursorKey(sink.name), String(last));
        cursor = last;
        st.cursor = last;
        st.forwarded += batch.length;
        st.lastSuccessAt = this.o.clock.now();
        if (batch.length < this.o.batchSize) break;
      }
      st.lag = Math.max(0, Math.max(head, cursor) - cursor);
      st.headSeq = Math.max(head, cursor);
      if (st.failing) {
        this.o.log.info({ sink: sink.name, failedSince: st.failing.since.toISOString(), attempts: st.failing.attempts, cursor }, 'audit forwarding recovered');
        st.failing = null;
      }
    } catch (e) {
      const now = this.o.clock.now();
      const attempts = (st.failing?.attempts ?? 0) + 1;
      const wait = Math.min(this.o.retryMaxMs, RETRY_BASE_MS * 2 ** Math.min(attempts - 1, 20)) * (0.8 + Math.random() * 0.4);
      st.failing = { error: (e as Error).message, since: st.failing?.since ?? now, attempts, retryAt: new Date(now.getTime() + wait) };
      if (st.cursor !== null) st.lag = Math.max(0, head - st.cursor);
      this.o.log.warn({ sink: sink.name, err: e, attempts, retryAt: st.failing.retryAt.toISOString(), cursor: st.cursor }, `audit forwarding to ${sink.description} failed`);
    }
  }
}

function parseCursor(v: string | null): number {
  if (v === null) return 0;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`the stored audit forwarding cursor is not a seq: ${JSON.stringify(v)}`);
  return n;
}
