/**
 * REST issuance throughput on SQLite: POST /api/v1/certificates (ECDSA P-256
 * CSR, profile 'server', a fresh Idempotency-Key per request) over HTTPS
 * keep-alive at concurrency 1 and 8, bounded by time and by count (the driver,
 * shared with the PostgreSQL and recovery benchmarks, is issuance-driver.ts).
 * Each request issues a new certificate from the same CSR. Alongside: the in-process reference ceilings (raw P-256
 * signatures/s, durable SQLite inserts/s) measured in the same run.
 */
import {
  durationSeconds, envNumber, fmtInt, fmtMs, fmtPct, machine, meets, round, warmupSeconds,
  type BenchResult, type Target,
} from './bench-util.js';
import { driveLevels, invalidRun, type IssuanceTarget } from './issuance-driver.js';
import type { NodeContext } from './node-setup.js';
import { p256SignRate, sqliteInsertRate, type Rate } from './reference-rates.js';

export interface References { sign: Rate; insert: Rate; boundPerSecond: number }

/**
 * The issue sets no issuance target; ours: a single SQLite node sustains at
 * least 100 durable issuances per second. The reference bound (raw signature +
 * durable inserts) is shown beside it to say where the rest of the time goes.
 */
export const ISSUANCE_TARGET: Target = {
  description: '>= 100 durable issuances/s on one node (the bound beside it is for reference)',
  metric: 'certsPerSecond', comparator: '>=', value: 100, unit: '/s',
};

/** Concurrency levels of every REST issuance benchmark. */
export const ISSUANCE_LEVELS = [1, 8];
/** Upper bound on the certificates one recorded run issues (BENCH_ISSUE_MAX). */
export const issueMax = (): number => Math.floor(envNumber('BENCH_ISSUE_MAX', 20_000));

/**
 * Durable transactions per issuance on SQLite when issued one at a time: the
 * certificate row, its idempotency key and its audit entry share one. Under
 * concurrency, group commit shares one among many issuances, so above c=1 the
 * "bound" is a reference, not a limit.
 */
const DURABLE_TX_PER_ISSUANCE = 1;

function merge(a: Rate, b: Rate): Rate {
  const count = a.count + b.count;
  const seconds = a.seconds + b.seconds;
  return { perSecond: round(count / seconds, 1), count, seconds: round(seconds), meanMs: round((seconds * 1000) / count, 4) };
}

function withBound(sign: Rate, insert: Rate): References {
  return { sign, insert, boundPerSecond: round(1 / (1 / sign.perSecond + DURABLE_TX_PER_ISSUANCE / insert.perSecond), 1) };
}

async function measureReferences(leafDer: Uint8Array): Promise<References> {
  const seconds = Math.min(5, durationSeconds());
  const sign = p256SignRate(seconds, 1_000_000, leafDer.length);
  const insert = await sqliteInsertRate(seconds, 100_000, leafDer);
  const refs = withBound(sign, insert);
  console.log(`[issuance] reference: ${fmtInt(sign.perSecond)} P-256 signs/s, ${fmtInt(insert.perSecond)} durable inserts/s, bound ${fmtInt(refs.boundPerSecond)}/s`);
  return refs;
}

/**
 * References are measured before and after the issuance runs (with the node
 * idle) and merged, so a change in host load during the runs affects both sides.
 */
export async function runIssuanceBench(ctx: NodeContext, leafDer: Uint8Array): Promise<BenchResult[]> {
  const before = await measureReferences(leafDer);
  const maxCount = issueMax();
  const target: IssuanceTarget = { apiUrl: ctx.node.httpsUrl, ca: ctx.caBundle, token: ctx.token, csrPem: ctx.csrPem };
  const runs = await driveLevels(target, 'issuance', ISSUANCE_LEVELS, warmupSeconds(), durationSeconds(), maxCount);
  const after = await measureReferences(leafDer);
  const refs = withBound(merge(before.sign, after.sign), merge(before.insert, after.insert));
  const out: BenchResult[] = [];
  for (const run of runs) {
    const concurrency = run.concurrency;
    const ratio = (run.perSecond / refs.boundPerSecond) * 100;
    const error = invalidRun(run);
    const target = ISSUANCE_TARGET;
    const actual = error ? null : round(run.perSecond, 1);
    out.push({
      name: `issuance-rest-sqlite-c${concurrency}`,
      title: `REST issuance on SQLite, concurrency ${concurrency}`,
      date: new Date().toISOString(),
      machine: machine(),
      parameters: {
        endpoint: 'POST /api/v1/certificates over HTTPS keep-alive (node:https Agent trusting the node CA)', concurrency,
        durationSeconds: durationSeconds(), warmupSeconds: warmupSeconds(), maxCount, csr: 'ECDSA P-256, CN + 1 DNS SAN, same CSR every request', idempotencyKey: 'a fresh UUID per request',
        profile: 'server', issuer: "the node's default first-run hierarchy", store: 'SQLite (WAL, synchronous=FULL)',
        references: 'in the bench process with the node idle, before and after the issuance runs (merged); inserts on a temp SqliteStore in os.tmpdir(), the filesystem of the node data directory',
        referenceBound: `1 / (1/sign_rate + ${DURABLE_TX_PER_ISSUANCE}/insert_rate): the work one issuance at a time cannot avoid (one signature; certificate row, idempotency key and audit entry in one durable transaction, which group commit shares among concurrent issuances)`,
      },
      measurements: {
        rampart: run,
        reference: { p256SignPerSecond: refs.sign, sqliteDurableInsertPerSecond: refs.insert, boundPerSecond: refs.boundPerSecond, before, after },
        rampartPercentOfReferenceBound: round(ratio, 1),
        certsPerSecond: round(run.perSecond, 1),
      },
      target, actual, pass: meets(target, actual), ...(error ? { error } : {}),
      summary: {
        benchmark: `REST issuance, SQLite, c=${concurrency}, certs/s`, rampart: fmtInt(run.perSecond),
        ceiling: `${fmtInt(refs.boundPerSecond)} (bound from ${fmtInt(refs.sign.perSecond)} P-256 signs/s, ${fmtInt(refs.insert.perSecond)} durable inserts/s)`,
        ratio: fmtPct(ratio), detail: `${fmtMs(run.latencyMs.p50)} / ${fmtMs(run.latencyMs.p99)}`,
        ceilingDetail: `${fmtMs(refs.sign.meanMs + DURABLE_TX_PER_ISSUANCE * refs.insert.meanMs)} (mean, serial)`,
      },
    });
  }
  return out;
}
