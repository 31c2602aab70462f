/**
 * Progress of long work (backup, restore, PITR restore, drills, region
 * failover and failback), one shape for all of them so that one view shows
 * them (cli/progress-view.ts: a bar on a terminal, JSON lines with --json).
 * Work is counted in bytes (`bytes` of `total`) or in steps (`steps` of
 * `total`, `step` naming the one running); rate and ETA come from the
 * meters below. Reported at most every `everyMs` and once when a phase ends.
 */
export interface ByteProgress {
  phase: string;
  bytes: number;
  total?: number;
  /** Bytes per second since the phase began. */
  rate: number;
  etaSeconds?: number;
  done: boolean;
}

export interface StepProgress {
  phase: string;
  /** Steps finished. */
  steps: number;
  /** Steps expected (an estimate: never less than steps + 1 while running). */
  total?: number;
  /** The step running now (or the last one when done). */
  step: string;
  etaSeconds?: number;
  done: boolean;
}

export type Progress = ByteProgress | StepProgress;
export type OnProgress = (p: Progress) => void;

export const isStepProgress = (p: Progress): p is StepProgress => 'steps' in p;

/** Counts bytes of one phase. */
export class ProgressMeter<P extends string = string> {
  private bytes = 0;
  private readonly t0 = performance.now();
  private last = 0;

  constructor(private readonly fn: ((p: ByteProgress & { phase: P }) => void) | undefined, private readonly phase: P, private total?: number, private readonly everyMs = 250) {}

  add(n: number): void { this.set(this.bytes + n); }

  set(bytes: number, total = this.total): void {
    this.bytes = bytes;
    // Parts of unknown size (the audit log stream) count once read.
    this.total = total === undefined ? undefined : Math.max(total, bytes);
    const now = performance.now();
    if (now - this.last >= this.everyMs) {
      this.last = now;
      this.emit(false);
    }
  }

  finish(): void { this.emit(true); }

  private emit(done: boolean): void {
    if (!this.fn) return;
    const secs = (performance.now() - this.t0) / 1000;
    const rate = secs > 0 ? this.bytes / secs : 0;
    const p: ByteProgress & { phase: P } = { phase: this.phase, bytes: this.bytes, rate: Math.round(rate), done };
    if (this.total !== undefined) {
      p.total = this.total;
      if (rate > 0) p.etaSeconds = Math.max(0, Math.round((this.total - this.bytes) / rate));
    }
    this.fn(p);
  }
}

/**
 * Counts the steps of a run (a drill, a failover): `begin(name)` when a step
 * starts, `end()` when it finishes. The expected total is an estimate (the
 * last run's step count, or the command's own list) and the ETA the mean
 * step time so far (or the last run's duration) times the steps left.
 */
export class StepMeter {
  private steps = 0;
  private step = '';
  private readonly t0 = performance.now();

  constructor(private readonly fn: OnProgress | undefined, private readonly phase: string, private readonly expected?: { steps: number; seconds?: number }) {}

  begin(name: string): void {
    this.step = name;
    this.emit(false);
  }

  end(): void {
    this.steps++;
    this.emit(false);
  }

  /** Sets the count directly (work counted by something else, e.g. WAL files replayed). */
  set(steps: number, step = this.step): void {
    if (steps === this.steps && step === this.step) return;
    this.steps = steps;
    this.step = step;
    this.emit(false);
  }

  finish(): void { this.emit(true); }

  private emit(done: boolean): void {
    if (!this.fn) return;
    const p: StepProgress = { phase: this.phase, steps: this.steps, step: this.step, done };
    if (done) p.total = this.steps;
    else if (this.expected) {
      p.total = Math.max(this.expected.steps, this.steps + 1);
      const secs = (performance.now() - this.t0) / 1000;
      const left = this.expected.seconds !== undefined && this.steps < this.expected.steps
        ? this.expected.seconds - secs
        : this.steps > 0 ? (secs / this.steps) * (p.total - this.steps) : undefined;
      if (left !== undefined) p.etaSeconds = Math.max(0, Math.round(left));
    }
    this.fn(p);
  }
}
