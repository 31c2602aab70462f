/** The record of one drill run: what was done, how long each step took, and how it compares with the tier. */
import type { DRILL_SCENARIOS } from '../config/schema.js';

export type DrillScenarioName = (typeof DRILL_SCENARIOS)[number];

export interface DrillStep {
  name: string;
  startedAt: string;
  durationMs: number;
  ok: boolean;
  detail?: string;
  error?: string;
}

export interface DrillTier {
  name: string;
  rtoMinutes: number;
  rpoMinutes: number;
  availability: number | null;
}

export interface DrillResult {
  id: string;
  scenario: DrillScenarioName;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  outcome: 'passed' | 'failed';
  /** Why it failed (first failing step, or RTO/RPO missed). */
  error: string | null;
  tier: DrillTier;
  /** Measured recovery time (fault to first successful issuance) and data loss, in seconds; null when not measured. */
  measured: { rtoSeconds: number | null; rpoSeconds: number | null };
  rtoMet: boolean | null;
  rpoMet: boolean | null;
  steps: DrillStep[];
  notes: string[];
  node: string;
  files?: { json: string; report: string };
}

/** What `drill.last.<scenario>` in the node's meta table holds. */
export interface DrillSummary {
  id: string;
  time: string;
  outcome: 'passed' | 'failed';
  rtoSeconds: number | null;
  rpoSeconds: number | null;
  rtoMet: boolean | null;
  rpoMet: boolean | null;
  tier: string;
  /** The last passed run of this scenario (this one when it passed), or null. */
  lastSuccessAt: string | null;
  lastSuccessRtoSeconds: number | null;
  error: string | null;
}

export const DRILL_META_PREFIX = 'drill.last.';
/** When the drill schedule started counting on this node (first health check), see src/dr/drill-check.ts. */
export const DRILL_SCHEDULE_START_META = 'drill.schedule-start';
