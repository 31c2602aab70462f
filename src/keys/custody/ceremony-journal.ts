/**
 * The record of a backup or restore ceremony. Every step goes into the
 * node's hash-chained audit log as it happens (who, which share index and
 * custodian, outcome, reason; never share data), and the same steps make the
 * printable ceremony record that the participants sign and file.
 */
import type { AuditEntry, AuditEntryInput } from '../../core/types.js';
import type { Clock } from '../../core/clock.js';
import type { Actor } from '../../core/actor.js';

export interface CeremonyAudit {
  record(input: AuditEntryInput): Promise<AuditEntry>;
}

export interface CeremonyStep {
  time: Date;
  seq: number;
  action: string;
  outcome: 'success' | 'failure';
  summary: string;
}

export interface CeremonyJournalOptions {
  title: string;
  audit: CeremonyAudit;
  actor: Actor;
  clock: Clock;
  /** Audit target of every step, e.g. issuer:<id>. */
  target: string;
}

export class CeremonyJournal {
  readonly steps: CeremonyStep[] = [];
  readonly started: Date;
  private readonly facts: Array<[string, string]> = [];
  private readonly participants: string[] = [];
  private headHash = '';

  constructor(private readonly o: CeremonyJournalOptions) {
    this.started = o.clock.now();
  }

  /** A line for the record's header (backup id, issuer, fingerprints, ...). */
  fact(label: string, value: string): void {
    const i = this.facts.findIndex(([l]) => l === label);
    if (i >= 0) this.facts[i] = [label, value];
    else this.facts.push([label, value]);
  }

  factOf(label: string): string | undefined {
    return this.facts.find(([l]) => l === label)?.[1];
  }

  /** Someone who should sign the printed record (custodians who took part). */
  participant(name: string): void {
    if (!this.participants.includes(name)) this.participants.push(name);
  }

  async step(action: string, outcome: 'success' | 'failure', summary: string, details: Record<string, unknown> = {}): Promise<void> {
    const e = await this.o.audit.record({
      actor: this.o.actor.id, source: this.o.actor.source, channel: this.o.actor.channel,
      action, target: this.o.target, outcome, details: { ...details, summary },
    });
    this.headHash = e.hash;
    this.steps.push({ time: e.time, seq: e.seq, action, outcome, summary });
  }

  /** The printable record; `outcome` is the one-line result. */
  render(outcome: string): string {
    const w = Math.max(...this.facts.map(([l]) => l.length), 'Audit head after'.length) + 2;
    const line = (l: string, v: string) => `${`${l}:`.padEnd(w)} ${v}`;
    const title = this.o.title.toUpperCase();
    const seqWidth = Math.max(0, ...this.steps.map((s) => `[#${s.seq}]`.length));
    const out = [
      title, '='.repeat(title.length), '',
      ...this.facts.map(([l, v]) => line(l, v)),
      line('Operator', this.o.actor.id),
      line('Started', this.started.toISOString()),
      line('Finished', this.o.clock.now().toISOString()),
      line('Outcome', outcome),
      '', 'Steps (audit log entry numbers in brackets):',
      ...this.steps.map((s) => `  ${s.time.toISOString()}  ${`[#${s.seq}]`.padEnd(seqWidth)}  ${s.outcome === 'success' ? 'ok  ' : 'FAIL'}  ${s.action}: ${s.summary}`),
      '',
      line('Audit head after', this.headHash ? `${this.headHash} (compare with \`rampart audit verify\`)` : '(nothing recorded)'),
      '', 'Signatures:',
      ...['Operator', ...this.participants].map((p) => `  ${`${p}:`.padEnd(24)} ______________________________   date: __________`),
      '',
    ];
    return out.join('\n');
  }
}
