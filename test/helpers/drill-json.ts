/** The JSON a `rampart --json drill run` prints, and finding one of its steps by the start of its name. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

export interface DrillStepJson { name: string; durationMs: number; ok: boolean; detail?: string }

export interface DrillJson {
  scenario: string; outcome: string; error: string | null;
  tier: { name: string; rtoMinutes: number; rpoMinutes: number };
  measured: { rtoSeconds: number | null; rpoSeconds: number | null }; rtoMet: boolean | null; rpoMet: boolean | null;
  steps: DrillStepJson[]; notes: string[]; files: { json: string; report: string };
}

/** The first step whose name starts with `prefix` (fails the test naming every step when there is none). */
export function drillStep(d: DrillJson, prefix: string): DrillStepJson {
  const s = d.steps.find((x) => x.name.startsWith(prefix));
  assert.ok(s, `a step "${prefix}…" in ${d.steps.map((x) => x.name).join(' | ')}`);
  return s;
}

/**
 * A drill that recovered without loss: the closing issue/OCSP/revoke steps ran, the RTO was measured
 * and met, nothing was lost (RPO 0, no certificate named unrecoverable), and the stored report says PASSED.
 */
export function assertRecoveredWithoutLoss(d: DrillJson): void {
  for (const s of ['issue a certificate (REST API)', 'OCSP says good (HTTP)', 'revoke it (REST API)', 'OCSP says revoked (HTTP)']) assert.ok(d.steps.some((x) => x.name === s), s);
  assert.ok(d.measured.rtoSeconds !== null && d.measured.rtoSeconds > 0);
  assert.equal(d.rtoMet, true);
  assert.equal(d.measured.rpoSeconds, 0);
  assert.equal(d.rpoMet, true);
  assert.ok(!d.notes.some((n) => n.startsWith('UNRECOVERABLE')), d.notes.join('\n'));
  assert.match(readFileSync(d.files.report, 'utf8'), new RegExp(`DR drill: ${d.scenario}\\s[\\s\\S]*Outcome:\\s+PASSED`));
}
