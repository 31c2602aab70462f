/** The result of one integrity check (database engine + application level), as the CLI, health, metrics and drills see it. */
import type { IntegrityFinding } from '../storage/database-integrity.js';

export type { IntegrityFinding };

export interface IntegrityReport {
  /** ok: nothing damaged and everything checked; corrupt: damage found; incomplete: no damage found, but part could not be checked (time budget, a read error). */
  status: 'ok' | 'corrupt' | 'incomplete';
  /** Start of the check (ISO). */
  at: string;
  durationMs: number;
  database: string;
  findings: IntegrityFinding[];
}

export function reportOf(findings: IntegrityFinding[], database: string, startedAt: Date, durationMs: number): IntegrityReport {
  const status = findings.some((f) => f.status === 'corrupt') ? 'corrupt' : findings.some((f) => f.status === 'error') ? 'incomplete' : 'ok';
  return { status, at: startedAt.toISOString(), durationMs: Math.round(durationMs), database, findings };
}

/** One line: what is damaged (the corrupt findings), else what could not be checked, else "ok". */
export function summarize(r: IntegrityReport): string {
  const bad = r.findings.filter((f) => f.status === 'corrupt');
  if (bad.length) return bad.map((f) => `${f.check}: ${f.detail}`).join('; ');
  const err = r.findings.filter((f) => f.status === 'error');
  if (err.length) return `not fully checked: ${err.map((f) => `${f.check}: ${f.detail}`).join('; ')}`;
  return `${r.findings.filter((f) => f.status === 'ok').map((f) => f.check).join(', ')} ok`;
}
