/**
 * The node clock against the database clock. Every lease round reads the
 * database's clock_timestamp(); the skew is the node's wall clock at the
 * middle of that round trip minus the database time (positive: the node is
 * ahead). Leases and fences never use the node's wall clock (expiry is
 * judged by the database, validity locally on the monotonic clock), so a
 * skewed node keeps them right; what it signs and records is dated by
 * `signingClock`: the database clock, estimated from the last round and
 * never later than it, as soon as the node's clock is off by more than a
 * second. A node running fast so never dates a certificate's notBefore, an
 * OCSP response's thisUpdate or a CRL into the future, and a slow one never
 * dates a CRL before one another node already published.
 * Health check `clockSkew` warns above `warnSeconds`; the gauge
 * rampart_clock_skew_seconds{reference="database"} exports the last
 * measurement (no series before the first round, nor on a single node).
 */
import { Gauge, type Registry } from 'prom-client';
import type { Clock } from '../core/clock.js';
import type { HealthRegistry } from '../health/health.js';

/** Off the database clock by less than this: measurement noise, no correction. */
const CORRECT_ABOVE_MS = 1000;

export interface SkewSample {
  /** Estimate: node clock at the middle of the round minus the database time. */
  skewMs: number;
  /**
   * The node's clock after the round minus the database time read inside it:
   * at least its true lead (ahead), at most its true lag (behind, negative).
   * Subtracting it from the node's clock gives a time never after the database's.
   */
  leadMs: number;
  roundTripMs: number;
  at: number;
}

export class ClockSkew {
  private sample: SkewSample | null = null;
  /** Once a correction has been applied: the latest time signingClock gave (it never goes back from there). */
  private floor: number | null = null;

  /** One round: node wall clock before and after it (ms), and the database time read inside it. */
  observe(beforeMs: number, afterMs: number, databaseNow: Date): void {
    const db = databaseNow.getTime();
    this.sample = { skewMs: Math.round((beforeMs + afterMs) / 2 - db), leadMs: afterMs - db, roundTripMs: afterMs - beforeMs, at: afterMs };
  }

  /** The last measurement, or null before the first lease round (and always on a single node). */
  last(): SkewSample | null { return this.sample; }

  /**
   * `base` moved to the database clock while the node is off by more than a
   * second (by leadMs: a slow round moves it a little into the past, never
   * into the future), and once moved the clock never goes back: noise
   * between rounds must not date a later CRL before an earlier one.
   */
  signingClock(base: Clock): Clock {
    return {
      now: () => {
        let t = base.now().getTime();
        const s = this.sample;
        if (s && Math.abs(s.leadMs) > CORRECT_ABOVE_MS) {
          t -= s.leadMs;
          this.floor ??= t;
        }
        if (this.floor !== null) {
          if (t < this.floor) t = this.floor;
          this.floor = t;
        }
        return new Date(t);
      },
    };
  }

  register(health: HealthRegistry, registry: Registry, warnSeconds: number): void {
    health.add('clockSkew', async () => {
      const s = this.sample;
      if (!s) return { status: 'pass', detail: 'not measured (no lease round yet, or a single node on its own clock)' };
      const secs = Math.abs(s.skewMs) / 1000;
      const detail = `this node's clock is ${secs.toFixed(1)} s ${s.skewMs >= 0 ? 'ahead of' : 'behind'} the database clock (round trip ${s.roundTripMs} ms)`;
      if (secs > warnSeconds) {
        const dating = Math.abs(s.leadMs) > CORRECT_ABOVE_MS ? '; it dates what it signs by the database clock' : '';
        return { status: 'warn', detail: `${detail}: above ${warnSeconds} s, fix its time synchronisation (NTP)${dating}` };
      }
      return { status: 'pass', detail };
    }, { critical: false });
    const skew = this;
    new Gauge({
      name: 'rampart_clock_skew_seconds', help: 'This node\'s wall clock minus the database clock, seconds, from the last lease round (positive: the node is ahead); no series before the first round',
      labelNames: ['reference'], registers: [registry],
      collect() {
        this.reset();
        const s = skew.last();
        if (s) this.set({ reference: 'database' }, s.skewMs / 1000);
      },
    });
  }
}
