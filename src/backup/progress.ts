/**
 * Progress of a long backup operation: per phase, bytes done of a total (when
 * known), the rate since the phase began and the time left (the meter is
 * core/progress.ts, shared with drills and region failover). Reported at
 * most every 250 ms and once when a phase ends; the CLI shows it on stderr
 * (cli/progress-view.ts), the node may log it.
 */
import { ProgressMeter as Meter, type ByteProgress } from '../core/progress.js';

export type BackupPhase = 'snapshot' | 'upload' | 'download' | 'verify' | 'check';

export interface BackupProgress extends ByteProgress {
  phase: BackupPhase;
}

export type ProgressFn = (p: BackupProgress) => void;

export class ProgressMeter extends Meter<BackupPhase> {}

/** Passes every piece through, counting its bytes on the meter. */
export async function* metered(source: AsyncIterable<Uint8Array>, meter: { add(n: number): void }): AsyncGenerator<Uint8Array> {
  for await (const piece of source) {
    meter.add(piece.length);
    yield piece;
  }
}
