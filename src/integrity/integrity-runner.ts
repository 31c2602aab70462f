/**
 * Runs one integrity check in a worker thread (integrity-worker.ts) and waits
 * for its report, at most the budget plus a grace period: a check that does
 * not finish is terminated and reported as incomplete. The caller's thread
 * only waits.
 */
import { Worker } from 'node:worker_threads';
import type { RampartConfig } from '../config/schema.js';
import type { IntegrityLevel } from '../storage/database-integrity.js';
import { reportOf, type IntegrityReport } from './integrity-report.js';

const ENTRY = new URL('./integrity-worker-entry.mjs', import.meta.url);
const GRACE_MS = 15_000;

export interface IntegrityJob {
  database: RampartConfig['database'];
  dbPath: string;
  /** Only the database password variable, when set. */
  env: Record<string, string>;
  level: IntegrityLevel;
  budgetMs: number;
  batch: number;
  shards: number;
  /** Also run the application checks (certificates, CRLs, audit chain). */
  application: boolean;
}

export function integrityJob(cfg: RampartConfig, dbPath: string, env: NodeJS.ProcessEnv, over: Partial<IntegrityJob> = {}): IntegrityJob {
  const pw = env[cfg.database.passwordEnv];
  return {
    database: cfg.database, dbPath, env: pw ? { [cfg.database.passwordEnv]: pw } : {},
    level: cfg.integrity.level, budgetMs: cfg.integrity.maxSeconds * 1000, batch: cfg.integrity.batchSize, shards: cfg.crl.shards, application: true,
    ...over,
  };
}

export async function runIntegrityCheck(job: IntegrityJob): Promise<IntegrityReport> {
  const started = new Date();
  const t0 = performance.now();
  const worker = new Worker(ENTRY, { workerData: job });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<IntegrityReport>((resolve, reject) => {
      timer = setTimeout(() => resolve(reportOf([{
        check: 'integrity', status: 'error', detail: `the check did not finish within ${Math.round((job.budgetMs + GRACE_MS) / 1000)} s (integrity.maxSeconds) and was stopped`,
      }], job.database.type, started, performance.now() - t0)), job.budgetMs + GRACE_MS);
      worker.once('message', (m: { ok: boolean; report?: IntegrityReport; error?: string }) => (m.ok ? resolve(m.report!) : reject(new Error(`integrity check failed: ${m.error}`))));
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the integrity worker exited (code ${code})`)));
    });
  } finally {
    clearTimeout(timer);
    await worker.terminate();
  }
}
