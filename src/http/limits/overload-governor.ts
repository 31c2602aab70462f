/**
 * The overload governor: decides, per request class, whether a node takes a
 * request now or sheds it (503 with Retry-After) so that it stays responsive
 * instead of queueing without bound and falling over.
 *
 * Classes: 'validation' (OCSP, CRLs, CA certificates on the HTTP listener),
 * 'issuance' (state-changing requests on the HTTPS listener: issuance,
 * revocation, ACME) and 'api' (reads on the HTTPS listener).
 *
 * Two signals:
 * - In-flight requests per class, against a cap per class. Issuance's cap is
 *   low (each holds a database connection and signs), validation's high.
 * - Event-loop delay (perf_hooks.monitorEventLoopDelay): the mean delay of
 *   timers over the last sample window, minus the sampling resolution, i.e.
 *   how late the process runs everything. It rises when the CPU is saturated,
 *   whatever the cause (signing, JSON, TLS handshakes, GC). Issuance and API
 *   are shed beyond `shedApiMs`; validation only beyond `shedValidationMs`,
 *   much higher, so that under overload the node gives up issuance first and
 *   keeps answering OCSP. The mean rather than the maximum: one long GC pause
 *   should not shed a whole window; a saturated loop raises every sample.
 *   The delay sheds only while the node is busy with requests (at least
 *   `delayMinInFlight` in progress, all classes): a loop slowed by something
 *   else (start-up, a large CRL being signed, a noisy neighbour on the host)
 *   gains nothing from refusing the few requests it has. A loop slowed by its
 *   own request load always has many in flight (in flight = rate x latency).
 *
 * Retry-After is `retryAfterSeconds` plus a random extra of up to the same
 * again, so clients shed together do not all come back in the same second.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export type RequestClass = 'validation' | 'issuance' | 'api';
export const REQUEST_CLASSES: readonly RequestClass[] = ['validation', 'issuance', 'api'];
export type ShedReason = 'in_flight' | 'event_loop';

export interface GovernorOptions {
  maxInFlight: Record<RequestClass, number>;
  shedApiMs: number;
  shedValidationMs: number;
  sampleMs: number;
  /** Requests in progress (all classes) below which the delay sheds nothing. */
  delayMinInFlight: number;
  retryAfterSeconds: number;
  /** Tests: a fixed delay source instead of monitorEventLoopDelay. */
  delaySource?: () => number;
}

const RESOLUTION_MS = 10;

export class OverloadGovernor {
  private readonly inFlightCount: Record<RequestClass, number> = { validation: 0, issuance: 0, api: 0 };
  private delay = 0;
  private histogram: IntervalHistogram | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Pre-bound release functions (no closure per request on the OCSP path). */
  readonly release: Record<RequestClass, () => void> = {
    validation: () => { this.inFlightCount.validation--; },
    issuance: () => { this.inFlightCount.issuance--; },
    api: () => { this.inFlightCount.api--; },
  };

  constructor(private readonly o: GovernorOptions) {}

  /** Starts sampling the event-loop delay (idempotent; the timer does not keep the process alive). */
  start(): void {
    if (this.timer) return;
    if (!this.o.delaySource) {
      this.histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
      this.histogram.enable();
    }
    this.timer = setInterval(() => this.sample(), this.o.sampleMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.histogram?.disable();
    this.histogram = null;
  }

  /** Reads the delay of the window that just ended. Called by the timer; public for tests. */
  sample(): void {
    if (this.o.delaySource) {
      this.delay = this.o.delaySource();
      return;
    }
    const h = this.histogram;
    if (!h) return;
    // The histogram records each timer interval including the resolution itself.
    this.delay = h.count > 0 ? Math.max(0, h.mean / 1e6 - RESOLUTION_MS) : this.delay;
    h.reset();
  }

  /** Mean event-loop delay of the last window, in ms. */
  get delayMs(): number { return this.delay; }

  inFlight(cls: RequestClass): number { return this.inFlightCount[cls]; }

  /** Why a request of this class would be shed now, or null. */
  shedReason(cls: RequestClass): ShedReason | null {
    if (this.delay > (cls === 'validation' ? this.o.shedValidationMs : this.o.shedApiMs) && this.busy()) return 'event_loop';
    if (this.inFlightCount[cls] >= this.o.maxInFlight[cls]) return 'in_flight';
    return null;
  }

  private busy(): boolean {
    const n = this.inFlightCount;
    return n.validation + n.issuance + n.api >= this.o.delayMinInFlight;
  }

  /**
   * Admits a request (counting it in flight: call release[cls] exactly once
   * when it is done) or returns why it is shed.
   */
  tryEnter(cls: RequestClass): ShedReason | null {
    const reason = this.shedReason(cls);
    if (reason === null) this.inFlightCount[cls]++;
    return reason;
  }

  /** Seconds for Retry-After: the configured value plus up to the same again at random. */
  retryAfter(): number {
    const base = this.o.retryAfterSeconds;
    return base + Math.floor(Math.random() * (base + 1));
  }
}
