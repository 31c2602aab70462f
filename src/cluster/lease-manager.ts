/**
 * Holds (or waits for) a named lease in the shared database. The database
 * decides who holds it and bumps the epoch (the fencing token) on every
 * change of holder. Locally, the lease counts as held only until
 * `acquiredAt + ttl - margin` on this process's monotonic clock, measured from
 * *before* the acquiring round trip: a process that was paused (SIGSTOP, a
 * long GC, a frozen VM) wakes up believing nothing, and every leader-only
 * write also carries the epoch so the database refuses it if the lease moved.
 */
import type { Fence, LeaseState } from '../core/types.js';
import type { ClusterStore } from '../storage/store.js';
import { withDeadline } from '../core/wait.js';

export interface LeaseManagerOptions {
  store: ClusterStore;
  name: string;
  holder: string;
  ttlMs: number;
  /** How often to renew (holder) or retry (others). */
  intervalMs: number;
  /** Called whenever this node gains or loses the lease. */
  onChange?: (held: boolean, state: LeaseState | null) => void;
  onError?: (e: unknown) => void;
  /** Each answered round: this node's wall clock before and after it (ms) and the database time read inside it. */
  onDatabaseTime?: (beforeMs: number, afterMs: number, databaseNow: Date) => void;
  /** While false, no round touches the database and the lease counts as not held (a node on a read-only replica). */
  enabled?: () => boolean;
}

export class LeaseManager {
  private state: LeaseState | null = null;
  private validUntil = 0; // performance.now() deadline
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private ticking: Promise<void> | null = null;
  private wasHeld = false;

  constructor(private readonly o: LeaseManagerOptions) {}

  /** True while this node holds the lease (conservatively, on the local monotonic clock). */
  isHeld(): boolean {
    return this.state?.holder === this.o.holder && performance.now() < this.validUntil;
  }

  /** The fence for a leader-only write, or undefined when not held. */
  fence(): Fence | undefined {
    if (!this.isHeld() || !this.state) return undefined;
    return { lease: this.o.name, holder: this.o.holder, epoch: this.state.epoch };
  }

  /** The last state read from the database (holder, epoch, expiry). */
  last(): LeaseState | null { return this.state; }

  /** One acquire-or-renew round; resolves with whether the lease is held. */
  async tick(): Promise<boolean> {
    if (this.ticking) { await this.ticking; return this.isHeld(); }
    this.ticking = (async () => {
      await null; // settle asynchronously: `this.ticking` is assigned before the finally below clears it
      const started = performance.now();
      try {
        if (this.o.enabled && !this.o.enabled()) {
          this.state = null;
          this.validUntil = 0;
          return;
        }
        const wallBefore = Date.now();
        const s = await this.bounded(this.o.store.tryAcquireLease(this.o.name, this.o.holder, this.o.ttlMs));
        this.o.onDatabaseTime?.(wallBefore, Date.now(), s.now);
        this.state = s;
        if (s.holder === this.o.holder) {
          // Margin: a tenth of the TTL for clock-rate drift between this host and the database.
          this.validUntil = started + this.o.ttlMs * 0.9;
        } else {
          this.validUntil = 0;
        }
      } catch (e) {
        this.o.onError?.(e);
      } finally {
        this.ticking = null;
        const held = this.isHeld();
        if (held !== this.wasHeld) {
          this.wasHeld = held;
          this.o.onChange?.(held, this.state);
        }
      }
    })();
    await this.ticking;
    return this.isHeld();
  }

  /**
   * A round's answer, or an error after half the TTL. A connection cut by a
   * partition can hold a query for as long as TCP retransmits (tens of
   * seconds after the partition heals); without a bound the rounds behind it
   * wait too, and a node stays without its lease long after the database is
   * reachable again. The next round goes out on another connection; the
   * late answer of the abandoned one is ignored.
   */
  private bounded<T>(work: Promise<T>): Promise<T> {
    const ms = Math.max(this.o.intervalMs * 2, Math.floor(this.o.ttlMs / 2));
    return withDeadline(work, ms, () => new Error(`lease "${this.o.name}": no answer from the database within ${ms} ms`));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const loop = (): void => {
      if (!this.running) return;
      void this.tick().finally(() => {
        if (this.running) {
          this.timer = setTimeout(loop, this.o.intervalMs);
          this.timer.unref();
        }
      });
    };
    loop();
    // Notice a local expiry (e.g. the database became unreachable) even between rounds.
    const watch = setInterval(() => {
      const held = this.isHeld();
      if (held !== this.wasHeld) {
        this.wasHeld = held;
        this.o.onChange?.(held, this.state);
      }
    }, Math.max(100, Math.floor(this.o.intervalMs / 2)));
    watch.unref();
    this.stopWatch = () => clearInterval(watch);
  }

  private stopWatch: () => void = () => {};

  /** Stops renewing and, when held, releases the lease so another node takes over at once. */
  async stop(release = true): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.stopWatch();
    if (this.ticking) await this.ticking;
    if (release && this.state?.holder === this.o.holder) {
      try { await this.o.store.releaseLease(this.o.name, this.o.holder); } catch (e) { this.o.onError?.(e); }
    }
    this.validUntil = 0;
    this.state = null;
  }
}
