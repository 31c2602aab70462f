/**
 * Runs one drill scenario in its own DrillEnvironment: times every step,
 * measures recovery time and data loss, compares them with the scenario's
 * tier, and tears everything down afterwards, on failure and on Ctrl-C
 * (SIGINT/SIGTERM: teardown, then exit 130/143; a second signal kills at once).
 */
import { randomBytes } from 'node:crypto';
import { StepMeter, type OnProgress } from '../core/progress.js';
import type { RampartConfig } from '../config/schema.js';
import { DrillEnvironment } from './drill-environment.js';
import type { DrillResult, DrillScenarioName, DrillStep, DrillTier } from './drill-result.js';
import type { DrillContext, DrillScenario } from './drill-scenario.js';

export interface RunDrillOptions {
  scenario: DrillScenario;
  config: RampartConfig;
  nodeDataDir: string;
  nodeName: string;
  progress?: (line: string) => void;
  /** Progress in steps (the CLI's bar); `expected` is the last run's step count and duration. */
  onProgress?: OnProgress;
  expected?: { steps: number; seconds?: number };
  now?: () => Date;
}

export function tierOf(config: RampartConfig, scenario: DrillScenarioName): DrillTier {
  const name = config.drills.tier[scenario] ?? 'issuance';
  const t = config.tiers[name];
  if (!t) throw new Error(`drills.tier.${scenario} names the tier "${name}", which is not in tiers (known: ${Object.keys(config.tiers).join(', ')})`);
  return { name, rtoMinutes: t.rtoMinutes, rpoMinutes: t.rpoMinutes, availability: t.availability ?? null };
}

export function newDrillId(scenario: string, at: Date): string {
  return `${at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${scenario}-${randomBytes(3).toString('hex')}`;
}

export async function runDrill(o: RunDrillOptions): Promise<DrillResult> {
  const now = o.now ?? (() => new Date());
  const tier = tierOf(o.config, o.scenario.name);
  const started = now();
  const t0 = performance.now();
  const steps: DrillStep[] = [];
  const notes: string[] = [];
  let faultT: number | null = null;
  let rtoSeconds: number | null = null;
  let rpoSeconds: number | null = null;
  const progress = o.progress ?? (() => undefined);
  const env = new DrillEnvironment(o.scenario.name);
  const meter = new StepMeter(o.onProgress, `drill ${o.scenario.name}`, o.expected);

  const ctx: DrillContext = {
    config: o.config, nodeDataDir: o.nodeDataDir, env,
    async step(name, fn, detail) {
      const s: DrillStep = { name, startedAt: now().toISOString(), durationMs: 0, ok: false };
      steps.push(s);
      progress(`  … ${name}`);
      meter.begin(name);
      const st = performance.now();
      try {
        const v = await fn();
        s.ok = true;
        const d = detail?.(v);
        if (d) s.detail = d;
        return v;
      } catch (e) {
        s.error = (e as Error).message;
        throw e;
      } finally {
        s.durationMs = Math.round((performance.now() - st) * 10) / 10;
        meter.end();
        progress(`  ${s.ok ? 'ok' : 'FAILED'} ${name} (${(s.durationMs / 1000).toFixed(2)} s)${s.error ? `: ${s.error.split('\n')[0]}` : ''}`);
      }
    },
    faultAt() { faultT = performance.now(); },
    recovered() { if (faultT !== null) rtoSeconds = Math.round((performance.now() - faultT)) / 1000; },
    dataLoss(seconds) { rpoSeconds = seconds; },
    recoveryTime(seconds) { rtoSeconds = seconds; },
    note(text) { notes.push(text); },
    progress,
  };

  // Ctrl-C / SIGTERM: tear down, then leave with the conventional code.
  let interrupted: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interrupted) { env.killAllSync(); process.exit(sig === 'SIGINT' ? 130 : 143); }
    interrupted = sig;
    progress(`${sig}: stopping the drill and removing its environment…`);
    void env.teardown().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let error: string | null = null;
  try {
    progress(`drill ${o.scenario.name}: ${o.scenario.summary} (work directory ${env.workDir})`);
    await o.scenario.run(ctx);
  } catch (e) {
    error = (e as Error).message.split('\n')[0]!;
    if ((e as Error).message.includes('\n') && !steps.some((s) => s.error === (e as Error).message)) notes.push((e as Error).message);
  } finally {
    progress('  tearing the drill environment down');
    await env.teardown();
    meter.finish();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  for (const t of env.teardownErrors) notes.push(`teardown: ${t}`);

  const rtoMet = rtoSeconds === null ? null : rtoSeconds <= tier.rtoMinutes * 60;
  const rpoMet = rpoSeconds === null ? null : rpoSeconds <= tier.rpoMinutes * 60;
  if (!error && rtoMet === false) error = `recovery took ${rtoSeconds} s, more than the RTO of tier ${tier.name} (${tier.rtoMinutes} min)`;
  if (!error && rpoMet === false) error = `${rpoSeconds} s of data lost, more than the RPO of tier ${tier.name} (${tier.rpoMinutes} min)`;
  const finished = now();
  return {
    id: newDrillId(o.scenario.name, started), scenario: o.scenario.name, startedAt: started.toISOString(), finishedAt: finished.toISOString(),
    durationMs: Math.round(performance.now() - t0), outcome: error ? 'failed' : 'passed', error, tier,
    measured: { rtoSeconds, rpoSeconds }, rtoMet, rpoMet, steps, notes, node: o.nodeName,
  };
}
