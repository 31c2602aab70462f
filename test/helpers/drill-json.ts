/** The JSON a `rampart --json drill run` prints, and finding one of its steps by the start of its name. */
import assert from 'node:assert/strict';

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
