/**
 * The end every fault-lab scenario shares, after its faults are healed and
 * its load stopped: a CRL from the writer through HAProxy (retried for up to
 * 30 s: the lease may be between holders just after the heal; on failure the
 * nodes' readiness and the lease row are in the error), every node asked
 * directly about every acknowledged revocation, the database read, and the
 * history checker's verdict; plus the report lines every scenario prints
 * (operations acknowledged, failed and unknown; the longest unavailability of
 * issuance and of validation; the verdict and the next violations).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { httpCall } from '../../src/core/http-client.js';
import { waitUntil } from '../../src/core/wait.js';
import type { ClusterLab } from './cluster-lab.js';
import { checkHistory, type CheckResult } from './history-checker.js';
import type { History, Op } from './history.js';
import { readPostgresSnapshot, type StoreSnapshot } from './store-snapshot.js';
import { longestGap, probeRevocations, type Workload } from './workload.js';

/** Every node answers revoked within this bound after the later of the acknowledgment and the heal. */
export const REVOCATION_BOUND_MS = 60_000;

export interface ScenarioCheck extends CheckResult { crlWaitMs: number }

/** What a scenario ran against: the writer's API (HAProxy, or one node), every node, and its database. */
export interface ScenarioTarget {
  apiUrl: string;
  token: string;
  ca: string;
  nodes: Array<{ id: string; httpUrl: string }>;
  snapshot(): Promise<StoreSnapshot>;
  /** Extra lines for a failed CRL generation (readiness, the lease row). */
  diagnose?(): Promise<string>;
}

/** A cluster lab as a scenario target. */
export function labTarget(lab: ClusterLab): ScenarioTarget {
  return {
    apiUrl: lab.apiUrl, token: lab.token, ca: lab.ca, nodes: lab.nodes.map((n) => ({ id: n.id, httpUrl: n.httpUrl })),
    snapshot: () => readPostgresSnapshot(lab.pg.address),
    async diagnose() {
      const ready = await Promise.all(lab.nodes.map((n) => httpCall(`${n.httpUrl}/readyz?write=1`, { timeoutMs: 3000 }).then(
        (r) => `${n.id}: ${r.status} ${JSON.stringify(Object.entries(r.body?.checks ?? {}).filter(([, v]) => (v as { status: string }).status !== 'pass'))}`,
        (e: Error) => `${n.id}: ${e.message}`)));
      const db = await lab.pg.psql('SELECT name, holder, epoch, expires_at, clock_timestamp() FROM leases', 'rampart').catch((e: Error) => e.message);
      return `${ready.join('\n')}\n${db}`;
    },
  };
}

export async function checkScenario(target: ScenarioTarget, history: History, load: Workload, o: { healMark?: string; writeLease?: string } = {}): Promise<ScenarioCheck> {
  let crl = { status: 0, body: null as unknown };
  const from = Date.now();
  await waitUntil('a CRL from the writer after healing', async () => {
    crl = await httpCall(`${target.apiUrl}/api/v1/crl/generate`, { method: 'POST', token: target.token, ca: target.ca, timeoutMs: 30_000 });
    return crl.status === 200;
  }, 30_000, 500).catch(() => undefined);
  if (crl.status !== 200) assert.fail(`CRL generation after healing: ${crl.status} ${JSON.stringify(crl.body)}\n${await target.diagnose?.() ?? ''}`);
  const crlWaitMs = Date.now() - from;
  assert.ok(load.issuerDer, 'at least one issuance was acknowledged');
  await probeRevocations(history, target.nodes, load.issuerDer, load.revokedSerials(), REVOCATION_BOUND_MS);
  const snapshot = await target.snapshot();
  const result = checkHistory(history.ops, snapshot, {
    nodes: target.nodes.map((n) => n.id), healedAt: history.markTime(o.healMark ?? 'heal')!, revocationBoundMs: REVOCATION_BOUND_MS, ...(o.writeLease ? { writeLease: o.writeLease } : {}),
  });
  return { ...result, crlWaitMs };
}

/** Outcomes and details of some operations, counted: '3× failed 503 urn:rampart:error:unavailable, 1× ok 201'. */
export function tally(ops: Op[]): string {
  const m = new Map<string, number>();
  for (const o of ops) { const k = `${o.outcome} ${o.detail ?? ''}`.trim(); m.set(k, (m.get(k) ?? 0) + 1); }
  return [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${v}× ${k}`).join(', ') || 'none';
}

/** Writes (issuance, revocation) answered with a 5xx other than 502/503/504: a refusal must be a 503, a lost answer is 'unknown'. */
export function writesAnswered500(ops: Op[]): string[] {
  return ops.filter((o) => (o.type === 'issue' || o.type === 'revoke') && /^5\d\d\b/.test(o.detail ?? '') && !/^(502|503|504)\b/.test(o.detail ?? '')).map((o) => `${o.id}: ${o.detail}`);
}

/** Operations of a type invoked in [from, to), post-heal probes left out. */
export function invokedIn(ops: Op[], type: Op['type'], from: number, to: number): Op[] {
  return ops.filter((o) => o.type === type && !('probe' in o && o.probe) && o.invoke >= from && o.invoke < to);
}

/** The recorded series the runbook's table is made from (`npm run lab:table`), kept in git. */
export const RECORDED_RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'results');
/**
 * Where scenarios write their figures (one JSON file each): test-artifacts/lab-results
 * (ignored by git), so that `npm test` and CI leave the checkout as it was;
 * `RAMPART_LAB_RESULTS_DIR=test/lab/results` records a new series.
 */
export const RESULTS_DIR = process.env.RAMPART_LAB_RESULTS_DIR ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-artifacts', 'lab-results');

/** The figures of one scenario run, as the runbook's table shows them. */
export interface ScenarioFigures {
  id: string;
  title: string;
  counts: ScenarioCheck['counts'];
  longestGapMs: { issuance: number; validation: number };
  verdict: string;
  ok: boolean;
  date: string;
  commit: string;
  /** Load average (1 min) at the end: how busy the shared machine was. */
  loadAverage: number;
  notes: string[];
}

function headCommit(): string {
  try { return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: dirname(fileURLToPath(import.meta.url)), encoding: 'utf8' }).trim(); } catch { return 'unknown'; }
}

/** Writes the run's figures to RESULTS_DIR/<id>.json (the last run of a scenario replaces the one before). */
export function recordScenario(id: string, title: string, history: History, r: CheckResult, notes: string[] = []): ScenarioFigures {
  const t = (m: string) => history.markTime(m)!;
  const figures: ScenarioFigures = {
    id, title, counts: r.counts,
    longestGapMs: { issuance: longestGap(history.ops, 'issue', t('load-start'), t('load-stop')), validation: longestGap(history.ops, 'ocsp', t('load-start'), t('load-stop')) },
    verdict: r.verdict, ok: r.ok, date: new Date().toISOString(), commit: headCommit(), loadAverage: Math.round(loadavg()[0]! * 10) / 10, notes,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, `${id}.json`), `${JSON.stringify(figures, null, 2)}\n`);
  return figures;
}

/** The lines every scenario prints: counts, longest unavailability, the checker's verdict. */
export function scenarioReport(title: string, history: History, r: ScenarioCheck, extra: string[] = []): string {
  const c = r.counts;
  const t = (m: string) => history.markTime(m)!;
  return [
    `${title}:`,
    `  issuance:   ${c.issue.acknowledged} acknowledged, ${c.issue.failed} failed, ${c.issue.unknown} unknown`,
    `  revocation: ${c.revoke.acknowledged} acknowledged, ${c.revoke.failed} failed, ${c.revoke.unknown} unknown`,
    `  OCSP:       ${c.ocsp.acknowledged} acknowledged, ${c.ocsp.failed} failed, ${c.ocsp.unknown} unknown`,
    `  longest unavailability: issuance ${longestGap(history.ops, 'issue', t('load-start'), t('load-stop'))} ms, validation ${longestGap(history.ops, 'ocsp', t('load-start'), t('load-stop'))} ms`,
    `  refused or unknown: issuance ${tally(history.ops.filter((o) => o.type === 'issue' && o.outcome !== 'ok'))}; revocation ${tally(history.ops.filter((o) => o.type === 'revoke' && o.outcome !== 'ok'))}; OCSP ${tally(history.ops.filter((o) => o.type === 'ocsp' && !o.probe && o.outcome !== 'ok'))}`,
    ...extra.map((l) => `  ${l}`),
    `  CRL published ${r.crlWaitMs} ms into the retry window; writes judged against the lease: ${r.leaseJudged}`,
    `  checker: ${r.verdict}`,
    ...r.violations.slice(1, 6).map((x) => `    also [${x.kind}] ${x.message}`),
  ].join('\n');
}
