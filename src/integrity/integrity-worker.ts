/**
 * The integrity worker thread: opens its own Store on the node's database
 * (its own SQLite connections, or its own PostgreSQL pool), runs the engine's
 * check (Store.databaseIntegrity) and the application checks, and posts the
 * report. Everything blocking (PRAGMA quick_check, parsing every DER) happens
 * here, never on the thread that answers OCSP.
 */
import { existsSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { lowerThreadPriority } from '../core/thread-priority.js';
import { createStore } from '../storage/create-store.js';
import { isCorruptionError, type IntegrityFinding } from '../storage/database-integrity.js';
import { applicationChecks } from './application-check.js';
import { reportOf } from './integrity-report.js';
import type { IntegrityJob } from './integrity-runner.js';

// The check gives way to the thread that answers OCSP (core/thread-priority.ts).
lowerThreadPriority();

const job = workerData as IntegrityJob;

async function run(): Promise<void> {
  const started = new Date();
  const t0 = performance.now();
  const deadline = Date.now() + job.budgetMs;
  const findings: IntegrityFinding[] = [];
  const finish = (): void => parentPort!.postMessage({ ok: true, report: reportOf(findings, job.database.type, started, performance.now() - t0) });
  if (job.database.type === 'sqlite' && job.dbPath === ':memory:') {
    findings.push({ check: 'sqlite.open', status: 'skipped', detail: 'an in-memory database lives in the node\'s own connection: nothing to check from another thread' });
    return finish();
  }
  if (job.database.type === 'sqlite' && !existsSync(job.dbPath)) {
    // Opening it would create an empty database that passes every check.
    findings.push({ check: 'sqlite.open', status: 'error', detail: `no database file at ${job.dbPath}` });
    return finish();
  }
  let store;
  try {
    store = createStore({ database: job.database }, { dbPath: job.dbPath }, { env: job.env, applicationName: 'rampart integrity' });
  } catch (e) {
    findings.push({ check: `${job.database.type}.open`, status: isCorruptionError(e) ? 'corrupt' : 'error', detail: `the database could not be opened: ${(e as Error).message}` });
  }
  if (store) {
    try {
      findings.push(...await store.databaseIntegrity({ level: job.level, budgetMs: job.budgetMs }));
      if (job.application) findings.push(...await applicationChecks(store, { deadline, batch: job.batch, shards: job.shards }));
    } catch (e) {
      findings.push({ check: 'application', status: isCorruptionError(e) ? 'corrupt' : 'error', detail: (e as Error).message });
    } finally {
      await store.close().catch(() => undefined);
    }
  }
  finish();
}

run().catch((e: Error) => parentPort!.postMessage({ ok: false, error: e.message }));
