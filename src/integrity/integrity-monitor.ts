/**
 * Scheduled corruption detection on a node: every `integrity.everySeconds`
 * one check runs in a worker thread (integrity-runner.ts). A check that finds
 * damage puts the node in the `corrupt` state: issuance is refused with 503
 * (assertIssuable, asked by the RA before anything is signed) and the node
 * says why in its health and metrics, while validation (OCSP, CRLs), which
 * never asks, keeps serving. A later check that passes ends the state (after
 * a repair or a restore). The last verdict is kept in a small file in the
 * data directory, so a node restarted on a damaged database does not issue
 * in the minutes before its first check.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { RampartError } from '../core/errors.js';
import { summarize, type IntegrityReport } from './integrity-report.js';

export interface IntegrityMonitorOptions {
  run: () => Promise<IntegrityReport>;
  enabled: boolean;
  everyMs: number;
  firstMs: number;
  /** Where the last verdict is kept (null: nowhere). */
  stateFile: string | null;
  /** Called when the verdict changes (corrupt ⇄ ok), e.g. to audit it. */
  onChange?: (r: IntegrityReport, was: IntegrityReport | null) => void;
  onError: (e: unknown) => void;
}

export class IntegrityMonitor {
  private last: IntegrityReport | null = null;
  private lastError: { at: Date; message: string } | null = null;
  private running: Promise<IntegrityReport> | null = null;
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly o: IntegrityMonitorOptions) {
    if (o.stateFile) {
      try { this.last = JSON.parse(readFileSync(o.stateFile, 'utf8')) as IntegrityReport; } catch { /* none yet */ }
    }
  }

  get enabled(): boolean { return this.o.enabled; }

  start(): void {
    if (!this.o.enabled) return;
    const tick = (): void => { void this.check().catch(this.o.onError); };
    const first = setTimeout(() => {
      tick();
      const every = setInterval(tick, this.o.everyMs);
      every.unref();
      this.timers.push(every);
    }, this.o.firstMs);
    first.unref();
    this.timers.push(first);
  }

  stop(): void {
    for (const t of this.timers.splice(0)) clearTimeout(t);
  }

  state(): { report: IntegrityReport | null; error: { at: Date; message: string } | null; running: boolean } {
    return { report: this.last, error: this.lastError, running: this.running !== null };
  }

  /** Runs a check now (single flight: a check in progress is joined). */
  check(): Promise<IntegrityReport> {
    this.running ??= this.o.run()
      .then((r) => {
        const was = this.last;
        this.last = r;
        this.lastError = null;
        this.save(r);
        if ((was?.status === 'corrupt') !== (r.status === 'corrupt')) this.o.onChange?.(r, was);
        return r;
      })
      .catch((e: unknown) => { this.lastError = { at: new Date(), message: (e as Error).message }; throw e; })
      .finally(() => { this.running = null; });
    return this.running;
  }

  /** Whether this node may issue: not while its last check found corruption. */
  issuable(): boolean {
    return this.last?.status !== 'corrupt';
  }

  /** Throws 503 (unavailable) while the last check found corruption. */
  assertIssuable(): void {
    const r = this.last;
    if (r?.status !== 'corrupt') return;
    throw new RampartError('unavailable',
      `issuance is stopped on this node: the integrity check at ${r.at} found database corruption (${summarize(r)}). `
      + 'OCSP and CRLs keep being served; an operator restores the database (docs/runbooks/database-corruption.md).',
      { integrity: { status: r.status, at: r.at, damaged: r.findings.filter((f) => f.status === 'corrupt').map((f) => f.check) } });
  }

  private save(r: IntegrityReport): void {
    const file = this.o.stateFile;
    if (!file) return;
    try {
      mkdirSync(dirname(file), { recursive: true });
      const slim = { ...r, findings: r.findings.map((f) => ({ ...f, problems: f.problems?.slice(0, 10) })) };
      writeFileSync(`${file}.tmp`, JSON.stringify(slim));
      renameSync(`${file}.tmp`, file);
    } catch (e) {
      this.o.onError(e);
    }
  }
}
