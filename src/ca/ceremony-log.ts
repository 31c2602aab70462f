/**
 * The offline root's own audit trail: one JSON line per ceremony step (init,
 * sign, revoke, CRL) in the offline directory, hash-chained like the node's
 * audit log (hash = SHA-256 of the canonical entry including the previous
 * hash), so an edited, removed or reordered line is found by `rampart root
 * show`. Nothing is appended to a chain that does not verify.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { canonicalJson } from '../audit/audit-log.js';

export interface CeremonyEntry {
  seq: number;
  at: string;
  actor: string;
  action: string;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export interface CeremonyLogCheck {
  ok: boolean;
  entries: number;
  headHash: string;
  problem?: string;
}

const GENESIS = '0'.repeat(64);

function hashOf(e: Omit<CeremonyEntry, 'hash'>): string {
  return createHash('sha256').update(canonicalJson({ seq: e.seq, at: e.at, actor: e.actor, action: e.action, details: e.details, prevHash: e.prevHash })).digest('hex');
}

export class CeremonyLog {
  constructor(readonly path: string) {}

  read(): CeremonyEntry[] {
    if (!existsSync(this.path)) return [];
    return readFileSync(this.path, 'utf8').split('\n').filter((l) => l.trim()).map((l, i) => {
      try {
        return JSON.parse(l) as CeremonyEntry;
      } catch {
        throw new Error(`${this.path} line ${i + 1} is not a JSON entry`);
      }
    });
  }

  verify(): CeremonyLogCheck {
    let prev = GENESIS;
    let entries: CeremonyEntry[];
    try {
      entries = this.read();
    } catch (e) {
      return { ok: false, entries: 0, headHash: prev, problem: (e as Error).message };
    }
    for (const [i, e] of entries.entries()) {
      if (e.seq !== i + 1) return { ok: false, entries: entries.length, headHash: prev, problem: `entry ${i + 1} has seq ${e.seq}: an entry was removed or reordered` };
      if (e.prevHash !== prev) return { ok: false, entries: entries.length, headHash: prev, problem: `entry ${e.seq} does not follow entry ${e.seq - 1}` };
      if (hashOf(e) !== e.hash) return { ok: false, entries: entries.length, headHash: prev, problem: `entry ${e.seq} was changed` };
      prev = e.hash;
    }
    return { ok: true, entries: entries.length, headHash: prev };
  }

  append(actor: string, action: string, details: Record<string, unknown>, at: Date): CeremonyEntry {
    const check = this.verify();
    if (!check.ok) throw new Error(`the ceremony log ${this.path} does not verify (${check.problem}): refusing to add to it`);
    const base = { seq: check.entries + 1, at: at.toISOString(), actor, action, details, prevHash: check.headHash };
    const entry: CeremonyEntry = { ...base, hash: hashOf(base) };
    appendFileSync(this.path, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
    return entry;
  }
}
