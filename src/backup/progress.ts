/**
 * Progress of a long backup operation: per phase, bytes done of a total (when
 * known), the rate since the phase began and the time left. Reported at most
 * every `everyMs` and once when a phase ends; the CLI shows it on stderr
 * (cli/progress-view.ts), the node may log it.
 */
export type BackupPhase = 'snapshot' | 'upload' | 'download' | 'verify' | 'check';

export interface BackupProgress {
  phase: BackupPhase;
  bytes: number;
  total?: number;
  /** Bytes per second since the phase began. */
  rate: number;
  etaSeconds?: number;
  done: boolean;
}

export type ProgressFn = (p: BackupProgress) => void;

export class ProgressMeter {
  private bytes = 0;
  private readonly t0 = performance.now();
  private last = 0;

  constructor(private readonly fn: ProgressFn | undefined, private readonly phase: BackupPhase, private total?: number, private readonly everyMs = 250) {}

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
    const p: BackupProgress = { phase: this.phase, bytes: this.bytes, rate: Math.round(rate), done };
    if (this.total !== undefined) {
      p.total = this.total;
      if (rate > 0) p.etaSeconds = Math.max(0, Math.round((this.total - this.bytes) / rate));
    }
    this.fn(p);
  }
}

/** Passes every piece through, counting its bytes on the meter. */
export async function* metered(source: AsyncIterable<Uint8Array>, meter: ProgressMeter): AsyncGenerator<Uint8Array> {
  for await (const piece of source) {
    meter.add(piece.length);
    yield piece;
  }
}
