/**
 * `rampart drill run SCENARIO` and `rampart drill history`: DR drills in an
 * isolated environment, measured against the RTO/RPO tiers. The work is in
 * src/dr/; see docs/runbooks/dr-drills.md.
 */
import type { Command } from 'commander';
import { DRILL_SCENARIOS } from '../../config/schema.js';
import { resolvedPaths } from '../../config/load.js';
import { defaultNodeId } from '../../cluster/cluster.js';
import { formatDuration } from '../../dr/availability.js';
import { listDrillFiles, readDrillSummaries, recordDrillMeta, saveDrillFiles } from '../../dr/drill-records.js';
import { renderDrillReport } from '../../dr/drill-report.js';
import { runDrill } from '../../dr/drill-runner.js';
import { scenarioByName } from '../../dr/scenarios/index.js';
import { cliActor, loadCliConfig, out, withNode, type GlobalOptions } from '../context.js';
import { withProgress } from '../progress-view.js';

export function registerDrill(program: Command, g: () => GlobalOptions): void {
  const drill = program.command('drill').description(`DR drills in an isolated environment, measured against the RTO/RPO tiers (${DRILL_SCENARIOS.join(', ')})`);

  drill.command('run <scenario>')
    .description('run a drill scenario in its own temporary directory, database and ports; store the result in <dataDir>/drills and the node\'s database')
    .action(async (name: string) => {
      const scenario = scenarioByName(name);
      const config = loadCliConfig(g());
      const paths = resolvedPaths(config);
      // The bar's total and ETA: the last run of this scenario on this node, when there is one.
      const previous = listDrillFiles(paths.dataDir).find((r) => r.scenario === scenario.name);
      const result = await withProgress(g(), (v) => runDrill({
        scenario, config, nodeDataDir: paths.dataDir, nodeName: config.cluster.nodeId ?? defaultNodeId(config.http.listen),
        progress: (line) => v.log(line), onProgress: v.onProgress,
        ...(previous ? { expected: { steps: previous.steps.length, seconds: previous.durationMs / 1000 } } : {}),
      }));
      result.files = saveDrillFiles(paths.dataDir, result);
      let metaError: string | null = null;
      try {
        await withNode(g(), async (node) => {
          await recordDrillMeta(node.store, result);
          await node.audit.record({
            actor: cliActor().id, source: 'local', channel: 'cli', action: 'drill.run', target: `drill:${result.scenario}`, outcome: result.outcome === 'passed' ? 'success' : 'failure',
            details: { id: result.id, rtoSeconds: result.measured.rtoSeconds, rpoSeconds: result.measured.rpoSeconds, tier: result.tier.name, error: result.error },
          });
        });
      } catch (e) {
        metaError = `the result was not recorded in the node's database: ${(e as Error).message}`;
        result.notes.push(metaError);
      }
      out(g(), result, () => `${renderDrillReport(result)}Stored: ${result.files!.report}${metaError ? `\nWARNING: ${metaError}` : ''}`);
      if (result.outcome !== 'passed') process.exitCode = 1;
    });

  drill.command('history')
    .description('past drill runs (newest first) and the last result of each scenario')
    .option('--scenario <name>', 'only this scenario')
    .option('--limit <n>', 'at most this many runs', (v) => Number(v), 50)
    .action(async (o: { scenario?: string; limit: number }) => {
      if (o.scenario) scenarioByName(o.scenario);
      if (!Number.isInteger(o.limit) || o.limit < 1) throw new Error('--limit must be a whole number >= 1');
      const config = loadCliConfig(g());
      const paths = resolvedPaths(config);
      const runs = listDrillFiles(paths.dataDir).filter((r) => !o.scenario || r.scenario === o.scenario).slice(0, o.limit);
      const last = await withNode(g(), (node) => readDrillSummaries(node.store));
      const rows = runs.map((r) => ({
        id: r.id, scenario: r.scenario, startedAt: r.startedAt, outcome: r.outcome, durationMs: r.durationMs, tier: r.tier.name,
        rtoSeconds: r.measured.rtoSeconds, rpoSeconds: r.measured.rpoSeconds, rtoMet: r.rtoMet, rpoMet: r.rpoMet, error: r.error, report: r.files?.report ?? null,
      }));
      const fmt = (s: number | null): string => (s === null ? '-' : s === 0 ? '0' : formatDuration(s));
      out(g(), { runs: rows, last }, () => [
        'Last result per scenario (node database):',
        ...DRILL_SCENARIOS.map((s) => {
          const l = last[s];
          const due = config.drills.scheduleDays[s];
          return `  ${s.padEnd(18)} ${l ? `${l.outcome.padEnd(6)} ${l.time}  RTO ${fmt(l.rtoSeconds)}` : 'never run'}  last success ${l?.lastSuccessAt ?? 'never'}  (every ${due ?? '-'} d)`;
        }),
        '',
        rows.length ? 'Runs (newest first):' : 'No drill runs stored in this data directory.',
        ...rows.map((r) => `  ${r.startedAt}  ${r.scenario.padEnd(18)} ${r.outcome.padEnd(6)} ${(r.durationMs / 1000).toFixed(1).padStart(6)} s  RTO ${fmt(r.rtoSeconds)} (${r.rtoMet === null ? 'n/a' : r.rtoMet ? 'met' : 'MISSED'}), RPO ${fmt(r.rpoSeconds)}${r.error ? `  ${r.error}` : ''}`),
      ].join('\n'));
    });
}
