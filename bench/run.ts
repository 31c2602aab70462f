/**
 * `npm run bench`: the whole benchmark suite in one run (not part of npm test).
 *
 * 1. OCSP cached GET/POST against a real Rampart node vs a plain node:http ceiling;
 * 2. REST issuance on SQLite at concurrency 1 and 8, with in-process reference
 *    ceilings (raw P-256 signatures/s, durable SQLite inserts/s); then the same
 *    node under wrk at 8 and 32 connections side by side with cfssl serve
 *    (issuance-wrk-bench.ts);
 * 3. CRL generation for 100,000 revoked entries (time and peak memory);
 * 4. REST issuance on PostgreSQL: one node direct, three nodes behind HAProxy
 *    (up to c=32, with where it saturates), then the recovery times of node
 *    loss and active-passive takeover on those clusters (rto-bench.ts), then
 *    one node on a primary with a synchronous standby at c=8 and 32 (pg-bench.ts);
 * 5. database failover under pg_auto_failover: RTO and RPO (db-failover-bench.ts);
 * 6. ACME orders/s and latency, Rampart's ACME server next to pebble (acme-vs-pebble.ts);
 * 7. PKCS#11 keys (SoftHSM2) next to software keys: signatures/s and REST issuance (hsm-bench.ts);
 * 8. backup create and restore on SQLite for 100,000 and 1,000,000 certificates vs a raw file copy (backup-bench.ts);
 * 9. every DR drill's measured RTO and RPO against its tier target (drill-bench.ts).
 *
 * Writes bench/results/<name>.json per benchmark and bench/results/README.md.
 * Every child process is stopped at the end, also on failure or interrupt.
 */
import { readdirSync, rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { runAcmeVsPebbleBench } from './acme-vs-pebble.js';
import { runBackupBench } from './backup-bench.js';
import { runDrillBench } from './drill-bench.js';
import { RESULTS_DIR, failedResult as failed, installAbortHandlers, round, writeResult, type BenchResult } from './bench-util.js';
import { CRL_TARGET, runCrlBench } from './crl-runner.js';
import { runScaleBenchChild } from './scale-bench.js';
import { runDbFailover } from './db-failover-bench.js';
import { runHsmBench } from './hsm-bench.js';
import { ISSUANCE_TARGET, runIssuanceBench } from './issuance-bench.js';
import { runIssuanceWrkBench, wrkFailedRows } from './issuance-wrk-bench.js';
import { setUpNode, tearDownNode, type NodeContext } from './node-setup.js';
import { OCSP_TARGET, runOcspBench } from './ocsp-bench.js';
import { runPostgresBench } from './pg-bench.js';
import { writeReport } from './report.js';

/** Table order: OCSP, issuance (SQLite, wrk vs cfssl on SQLite, then PostgreSQL), ACME, PKCS#11, CRL, recovery. */
const ORDER = ['ocsp-', 'issuance-rest-sqlite-', 'issuance-wrk-sqlite-', 'issuance-rest-pg-1node-', 'issuance-rest-pg-sync-1node-', 'issuance-rest-pg-3nodes-', 'acme-', 'hsm-', 'crl-', 'backup-', 'drill-', 'scale-', 'rto-node-loss', 'rto-active-passive', 'rto-db-', 'rpo-db-'];
const rank = (r: BenchResult): number => {
  const i = ORDER.findIndex((p) => r.name.startsWith(p));
  return i < 0 ? ORDER.length : i;
};

async function main(): Promise<number> {
  installAbortHandlers();
  const startedAt = new Date();
  const loadStart = loadavg().map((v) => round(v, 2));
  // One run, one set of results: drop the records of earlier runs first.
  try {
    for (const f of readdirSync(RESULTS_DIR)) if (f.endsWith('.json')) rmSync(join(RESULTS_DIR, f));
  } catch { /* no results directory yet */ }

  const results: BenchResult[] = [];
  let ctx: NodeContext | undefined;
  try {
    console.log('[bench] starting a Rampart node ...');
    ctx = await setUpNode();
    console.log(`[bench] node up: ${ctx.node.httpUrl} ${ctx.node.httpsUrl}; OCSP response ${ctx.respDer.length} bytes`);
    try {
      results.push(...await runOcspBench({ httpUrl: ctx.node.httpUrl, reqDer: ctx.reqDer, respDer: ctx.respDer, respHeaders: ctx.respHeaders, workDir: ctx.workDir }));
    } catch (e) {
      console.error('[ocsp] failed:', e);
      results.push(failed('ocsp-get-cached', 'OCSP GET, cached response', OCSP_TARGET, e), failed('ocsp-post-cached', 'OCSP POST, cached response', OCSP_TARGET, e));
    }
    try {
      results.push(...await runIssuanceBench(ctx, new Uint8Array(new X509Certificate(ctx.leafPem).raw)));
    } catch (e) {
      console.error('[issuance] failed:', e);
      for (const c of [1, 8]) results.push(failed(`issuance-rest-sqlite-c${c}`, `REST issuance on SQLite, concurrency ${c}`, ISSUANCE_TARGET, e));
    }
    // wrk against the same node, side by side with cfssl serve (started and stopped inside); leaves the node running.
    try {
      results.push(...await runIssuanceWrkBench(ctx));
    } catch (e) {
      console.error('[issuance-wrk] failed:', e);
      results.push(...wrkFailedRows(e));
    }
  } catch (e) {
    console.error('[bench] node setup failed:', e);
    results.push(
      failed('ocsp-get-cached', 'OCSP GET, cached response', OCSP_TARGET, e), failed('ocsp-post-cached', 'OCSP POST, cached response', OCSP_TARGET, e),
      failed('issuance-rest-sqlite-c1', 'REST issuance on SQLite, concurrency 1', ISSUANCE_TARGET, e),
      failed('issuance-rest-sqlite-c8', 'REST issuance on SQLite, concurrency 8', ISSUANCE_TARGET, e),
      ...wrkFailedRows(e),
    );
  } finally {
    if (ctx) {
      console.log('[bench] stopping the Rampart node ...');
      await tearDownNode(ctx);
    }
  }

  // The CRL benchmark runs with the node stopped, so the two do not compete for CPU.
  try {
    results.push(await runCrlBench());
  } catch (e) {
    console.error('[crl] failed:', e);
    results.push(failed('crl-generation-100k', 'CRL generation, 100,000 revoked entries', CRL_TARGET, e));
  }

  // PostgreSQL and recovery: each part stops what it started before the next begins.
  results.push(...await runPostgresBench(results));
  results.push(...await runDbFailover());
  // ACME vs pebble: its own node, pebble and responder, all stopped when it returns (never throws).
  results.push(await runAcmeVsPebbleBench());
  // PKCS#11 vs software keys: its own SoftHSM2 directory and nodes, all removed when it returns (never throws).
  results.push(await runHsmBench());
  // Backup create / restore on SQLite: one child process per size, each capped in wall time (never throws).
  results.push(await runBackupBench());
  results.push(await runDrillBench());
  // Issue 17 at scale: a synthetic inventory (BENCH_SCALE_COUNT, default 1M) and validation while other work runs.
  results.push(...await runScaleBenchChild());
  results.sort((a, b) => rank(a) - rank(b));

  for (const r of results) writeResult(r);
  const readme = writeReport(results, startedAt, loadStart);
  console.log(`\n[bench] wrote ${results.length} result files and ${readme}\n`);
  for (const r of results) {
    console.log(`${r.pass ? 'PASS' : 'FAIL'}  ${r.summary.benchmark}: ${r.summary.rampart} vs ${r.summary.ceiling} -> ${r.summary.ratio} (target ${r.target.description})${r.error ? ` [${r.error}]` : ''}`);
  }
  return results.some((r) => r.error) ? 1 : 0;
}

process.exitCode = await main();
