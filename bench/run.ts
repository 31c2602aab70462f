/**
 * `npm run bench`: the whole benchmark suite in one run (not part of npm test).
 *
 * 1. OCSP cached GET/POST against a real Rampart node vs a plain node:http ceiling;
 * 2. REST issuance on SQLite at concurrency 1 and 8, with in-process reference
 *    ceilings (raw P-256 signatures/s, durable SQLite inserts/s);
 * 3. CRL generation for 100,000 revoked entries (time and peak memory).
 *
 * Writes bench/results/<name>.json per benchmark and bench/results/README.md.
 * Every child process is stopped at the end, also on failure or interrupt.
 */
import { readdirSync, rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { RESULTS_DIR, installAbortHandlers, machine, round, writeResult, type BenchResult, type Target } from './bench-util.js';
import { CRL_TARGET, runCrlBench } from './crl-runner.js';
import { ISSUANCE_TARGET, runIssuanceBench } from './issuance-bench.js';
import { setUpNode, tearDownNode, type NodeContext } from './node-setup.js';
import { OCSP_TARGET, runOcspBench } from './ocsp-bench.js';
import { writeReport } from './report.js';

/** A record for a benchmark that could not run, so the table still shows it. */
function failed(name: string, title: string, target: Target, e: unknown): BenchResult {
  const error = e instanceof Error ? e.message.split('\n').slice(0, 6).join(' ') : String(e);
  return {
    name, title, date: new Date().toISOString(), machine: machine(), parameters: {}, measurements: {}, target, actual: null, pass: false, error,
    summary: { benchmark: title, rampart: 'failed', ceiling: '—', ratio: '—', detail: '—', ceilingDetail: '—' },
  };
}

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
  } catch (e) {
    console.error('[bench] node setup failed:', e);
    results.push(
      failed('ocsp-get-cached', 'OCSP GET, cached response', OCSP_TARGET, e), failed('ocsp-post-cached', 'OCSP POST, cached response', OCSP_TARGET, e),
      failed('issuance-rest-sqlite-c1', 'REST issuance on SQLite, concurrency 1', ISSUANCE_TARGET, e),
      failed('issuance-rest-sqlite-c8', 'REST issuance on SQLite, concurrency 8', ISSUANCE_TARGET, e),
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

  for (const r of results) writeResult(r);
  const readme = writeReport(results, startedAt, loadStart);
  console.log(`\n[bench] wrote ${results.length} result files and ${readme}\n`);
  for (const r of results) {
    console.log(`${r.pass ? 'PASS' : 'FAIL'}  ${r.summary.benchmark}: ${r.summary.rampart} vs ${r.summary.ceiling} -> ${r.summary.ratio} (target ${r.target.description})${r.error ? ` [${r.error}]` : ''}`);
  }
  return results.some((r) => r.error) ? 1 : 0;
}

process.exitCode = await main();
