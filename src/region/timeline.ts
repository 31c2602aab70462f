/**
 * The timeline a regional failover or failback prints: every step with its
 * start offset, duration, outcome and what it found, so that an operator (and
 * the drill) sees where the recovery time went. With a step meter it also
 * reports progress (steps done of those expected, ETA) to the CLI's bar.
 */
import type { StepMeter } from '../core/progress.js';

export interface TimelineStep {
  step: string;
  startMs: number;
  durationMs: number;
  ok: boolean;
  detail: string;
}

export class Timeline {
  readonly startedAt = new Date();
  private readonly t0 = performance.now();
  readonly steps: TimelineStep[] = [];

  constructor(private readonly log: (line: string) => void = () => undefined, private readonly progress?: StepMeter) {}

  /** Runs one step; its return value's `detail` (or the error) is recorded. Errors are rethrown. */
  async step<T>(name: string, fn: () => Promise<T>, describe: (v: T) => string = () => ''): Promise<T> {
    const start = performance.now();
    this.log(`… ${name}`);
    this.progress?.begin(name);
    try {
      const v = await fn();
      this.record(name, start, true, describe(v));
      return v;
    } catch (e) {
      this.record(name, start, false, (e as Error).message);
      throw e;
    }
  }

  /** Records something that happened (or was decided) without running it here. */
  note(name: string, detail: string, ok = true): void {
    this.record(name, performance.now(), ok, detail);
  }

  /** The run ended (the progress bar shows done). */
  finish(): void { this.progress?.finish(); }

  elapsedMs(): number { return performance.now() - this.t0; }

  private record(name: string, start: number, ok: boolean, detail: string): void {
    const s = { step: name, startMs: Math.round(start - this.t0), durationMs: Math.round(performance.now() - start), ok, detail };
    this.steps.push(s);
    this.progress?.end();
    this.log(`${ok ? '✓' : '✗'} ${name} (${(s.durationMs / 1000).toFixed(2)} s)${detail ? `: ${detail}` : ''}`);
  }

  format(): string {
    return this.steps.map((s) => `  +${(s.startMs / 1000).toFixed(2).padStart(7)} s  ${(s.durationMs / 1000).toFixed(2).padStart(6)} s  ${s.ok ? 'ok  ' : 'FAIL'}  ${s.step}${s.detail ? ` — ${s.detail}` : ''}`).join('\n');
  }
}
