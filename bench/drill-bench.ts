/**
 * Each DR drill's measured RTO (and RPO) against its tier target, in one run:
 * a fresh data directory with a backup, then `rampart drill run` for every
 * scenario, one after another (each builds and tears down its own isolated
 * environment). Writes bench/results/drill-rto.{json,md}. Runnable alone:
 * `node --import tsx bench/drill-bench.ts`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DRILL_SCENARIOS } from '../src/config/schema.js';
import { RESULTS_DIR, machine, writeResult, type BenchResult } from './bench-util.js';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'rampart.mjs');

interface DrillRow { scenario: string; outcome: string; tier: string; rtoSeconds: number | null; rtoTargetSeconds: number; rtoMet: boolean | null; rpoSeconds: number | null; rpoTargetSeconds: number; rpoMet: boolean | null; wallSeconds: number; error?: string }

function cli(dataDir: string, args: string[], timeoutMs: number): { code: number; stdout: string; stderr: string } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RAMPART_')));
  const r = spawnSync(process.execPath, [BIN, '--data-dir', dataDir, ...args], { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', env: { ...env, RAMPART_LOG__LEVEL: 'warn' } });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export async function runDrillBench(): Promise<BenchResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rampart-drill-bench-'));
  const rows: DrillRow[] = [];
  try {
    const init = cli(dataDir, ['init'], 120_000);
    if (init.code !== 0) throw new Error(`rampart init failed: ${init.stderr}`);
    const backup = cli(dataDir, ['backup', 'create'], 120_000);
    if (backup.code !== 0) throw new Error(`rampart backup create failed: ${backup.stderr}`);
    for (const scenario of DRILL_SCENARIOS) {
      const t0 = Date.now();
      const r = cli(dataDir, ['--json', 'drill', 'run', scenario], 600_000);
      const wallSeconds = (Date.now() - t0) / 1000;
      let d: { outcome?: string; error?: string; tier?: { name: string; rtoMinutes: number; rpoMinutes: number }; measured?: { rtoSeconds: number | null; rpoSeconds: number | null }; rtoMet?: boolean | null; rpoMet?: boolean | null } = {};
      try { d = JSON.parse(r.stdout); } catch { d = { outcome: 'failed', error: (r.stderr || r.stdout).split('\n').slice(0, 3).join(' ') }; }
      rows.push({
        scenario, outcome: d.outcome ?? 'failed', tier: d.tier?.name ?? '?',
        rtoSeconds: d.measured?.rtoSeconds ?? null, rtoTargetSeconds: (d.tier?.rtoMinutes ?? 0) * 60, rtoMet: d.rtoMet ?? null,
        rpoSeconds: d.measured?.rpoSeconds ?? null, rpoTargetSeconds: (d.tier?.rpoMinutes ?? 0) * 60, rpoMet: d.rpoMet ?? null,
        wallSeconds, ...(d.error ? { error: d.error } : {}),
      });
      console.log(`[drill] ${scenario}: ${d.outcome ?? 'failed'} RTO ${d.measured?.rtoSeconds ?? '?'} s (target ${(d.tier?.rtoMinutes ?? 0) * 60} s), wall ${wallSeconds.toFixed(1)} s`);
    }
  } catch (e) {
    rows.push({ scenario: 'setup', outcome: 'failed', tier: '-', rtoSeconds: null, rtoTargetSeconds: 0, rtoMet: null, rpoSeconds: null, rpoTargetSeconds: 0, rpoMet: null, wallSeconds: 0, error: (e as Error).message });
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  const passed = rows.filter((r) => r.outcome === 'passed' && r.rtoMet !== false);
  const worst = Math.max(...rows.map((r) => (r.rtoSeconds !== null && r.rtoTargetSeconds > 0 ? r.rtoSeconds / r.rtoTargetSeconds : Infinity)));
  const result: BenchResult = {
    name: 'drill-rto', title: 'DR drills: measured RTO and RPO against the tier targets', date: new Date().toISOString(), machine: machine(),
    parameters: { scenarios: [...DRILL_SCENARIOS] }, measurements: { drills: rows },
    target: { description: 'every scenario recovers within its tier RTO', metric: 'worst measured RTO / tier RTO', comparator: '<=', value: 1, unit: 'ratio' },
    actual: Number.isFinite(worst) ? Math.round(worst * 10000) / 10000 : null,
    pass: passed.length === rows.length && rows.length === DRILL_SCENARIOS.length,
    ...(passed.length !== rows.length ? { error: rows.filter((r) => !passed.includes(r)).map((r) => `${r.scenario}: ${r.error ?? r.outcome}`).join('; ') } : {}),
    summary: {
      benchmark: 'DR drills, measured RTO vs tier RTO', rampart: rows.map((r) => `${r.scenario} ${r.rtoSeconds === null ? '?' : r.rtoSeconds.toFixed(1)} s`).join(', '),
      ceiling: rows.map((r) => `${r.rtoTargetSeconds / 60} min`).join(', '), ratio: Number.isFinite(worst) ? `worst ${(worst * 100).toFixed(2)} %` : '—',
      detail: `${passed.length}/${rows.length} passed within their tiers`, ceilingDetail: 'tier RTO from the default tier table',
    },
  };
  const md = [
    '# DR drills: measured RTO and RPO against the tier targets', '',
    `Generated by \`node --import tsx bench/drill-bench.ts\` (also part of \`npm run bench\`) on ${result.date}. Each scenario runs \`rampart drill run\` in its own isolated environment on this machine (${result.machine.cpus} CPUs, load ${result.machine.loadavg.join(' / ')}).`, '',
    '| Scenario | Outcome | Tier | RTO measured | RTO target | RPO measured | RPO target | Wall time |', '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.scenario} | ${r.outcome}${r.error ? ` (${r.error.slice(0, 80)})` : ''} | ${r.tier} | ${r.rtoSeconds === null ? '—' : `${r.rtoSeconds.toFixed(1)} s`} | ${r.rtoTargetSeconds / 60} min | ${r.rpoSeconds === null ? '—' : `${r.rpoSeconds.toFixed(1)} s`} | ${r.rpoTargetSeconds / 60} min | ${r.wallSeconds.toFixed(1)} s |`),
    '', 'RTO: from the injected fault to the first certificate issued afterwards. RPO: data lost (the backup age for restore-latest; T minus the last recovered transaction for point-in-time; 0 when no acknowledged certificate is missing).', '',
  ].join('\n');
  writeFileSync(join(RESULTS_DIR, 'drill-rto.md'), md);
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await runDrillBench();
  writeResult(r);
  console.log(`${r.pass ? 'OK' : 'FAIL'}  ${r.summary.benchmark}: ${r.summary.rampart} (${r.summary.detail})`);
}
