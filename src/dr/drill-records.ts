/**
 * Where drill results live: every run as <dataDir>/drills/<id>.json plus a
 * readable <id>.txt, and the newest run of each scenario summarized in the
 * node's database meta (`drill.last.<scenario>`), which the health check and
 * the metrics read (in a cluster every node sees them).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DRILL_SCENARIOS } from '../config/schema.js';
import { renderDrillReport } from './drill-report.js';
import { DRILL_META_PREFIX, type DrillResult, type DrillScenarioName, type DrillSummary } from './drill-result.js';

export interface MetaAccess {
  getMeta(key: string): Promise<string | null>;
  setMeta(key: string, value: string): Promise<void>;
}

export const drillsDir = (dataDir: string): string => join(dataDir, 'drills');

export function saveDrillFiles(dataDir: string, r: DrillResult): { json: string; report: string } {
  const dir = drillsDir(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  const files = { json: join(dir, `${r.id}.json`), report: join(dir, `${r.id}.txt`) };
  writeFileSync(files.json, `${JSON.stringify({ ...r, files }, null, 2)}\n`, { mode: 0o640 });
  writeFileSync(files.report, renderDrillReport(r), { mode: 0o640 });
  return files;
}

/** Every stored run, newest first; unreadable files are skipped. */
export function listDrillFiles(dataDir: string): DrillResult[] {
  const dir = drillsDir(dataDir);
  if (!existsSync(dir)) return [];
  const out: DrillResult[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.json')) continue;
    try {
      const r = JSON.parse(readFileSync(join(dir, f), 'utf8')) as DrillResult;
      if (r && typeof r.id === 'string' && typeof r.scenario === 'string') out.push(r);
    } catch { /* not a drill record */ }
  }
  return out.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
}

export function summarize(r: DrillResult, previous: DrillSummary | null): DrillSummary {
  const passed = r.outcome === 'passed';
  return {
    id: r.id, time: r.finishedAt, outcome: r.outcome, rtoSeconds: r.measured.rtoSeconds, rpoSeconds: r.measured.rpoSeconds,
    rtoMet: r.rtoMet, rpoMet: r.rpoMet, tier: r.tier.name, error: r.error,
    lastSuccessAt: passed ? r.finishedAt : previous?.lastSuccessAt ?? null,
    lastSuccessRtoSeconds: passed ? r.measured.rtoSeconds : previous?.lastSuccessRtoSeconds ?? null,
  };
}

export function parseSummary(text: string | null): DrillSummary | null {
  if (!text) return null;
  try {
    const s = JSON.parse(text) as DrillSummary;
    return s && typeof s.time === 'string' ? s : null;
  } catch {
    return null;
  }
}

export async function recordDrillMeta(meta: MetaAccess, r: DrillResult): Promise<DrillSummary> {
  const key = `${DRILL_META_PREFIX}${r.scenario}`;
  const s = summarize(r, parseSummary(await meta.getMeta(key)));
  await meta.setMeta(key, JSON.stringify(s));
  return s;
}

export async function readDrillSummaries(meta: MetaAccess): Promise<Record<DrillScenarioName, DrillSummary | null>> {
  const entries = await Promise.all(DRILL_SCENARIOS.map(async (s) => [s, parseSummary(await meta.getMeta(`${DRILL_META_PREFIX}${s}`))] as const));
  return Object.fromEntries(entries) as Record<DrillScenarioName, DrillSummary | null>;
}
