/**
 * Recovery of the Rampart tier, each measured once per run on real processes:
 *
 * - node loss: three active-active nodes behind HAProxy under continuous
 *   issuance through it (8 clients, no client-side retries); one node is
 *   killed with SIGKILL. Failed client requests (target 0) and request latency
 *   around the kill;
 * - active-passive takeover: two nodes (takeoverSeconds 10, heartbeat 1 s)
 *   behind HAProxy; the active one is killed with SIGKILL. Time to the first
 *   successful issuance on the standby and through HAProxy (target <= 10 s).
 */
import { call } from '../test/helpers/api-client.js';
import { waitFor } from '../test/helpers/cluster.js';
import { waitForServerStates } from '../test/helpers/haproxy.js';
import type { PgCluster } from '../test/helpers/postgres.js';
import { LatencyRecorder, envNumber, failedResult, fmtInt, fmtMs, machine, meets, round, type BenchResult, type LatencyStats, type Target } from './bench-util.js';
import { allUp, startCluster, startFrontDoor, waitForMembers, FRONT_DOOR_CHECK, type BenchCluster, type FrontDoor } from './cluster-setup.js';
import { drive, now, type IssuanceTarget, type RequestSample } from './issuance-driver.js';

export const NODE_LOSS_TARGET: Target = {
  description: '0 failed client requests while a node is killed (issue)', metric: 'failedRequests', comparator: '<=', value: 0, unit: 'requests',
};
export const TAKEOVER_TARGET: Target = {
  description: '<= 10 s from kill -9 to the first issuance (issue; takeoverSeconds 10)', metric: 'rtoSeconds', comparator: '<=', value: 10, unit: 's',
};
export const NODE_LOSS_TITLE = 'Node loss: kill -9 of one of three nodes behind HAProxy';
export const TAKEOVER_TITLE = 'Active-passive takeover: kill -9 of the active node';
export const failedNodeLoss = (e: unknown): BenchResult => failedResult('rto-node-loss', NODE_LOSS_TITLE, NODE_LOSS_TARGET, e);
export const failedTakeover = (e: unknown): BenchResult => failedResult('rto-active-passive-takeover', TAKEOVER_TITLE, TAKEOVER_TARGET, e);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const since = (t0: number, t: number | null | undefined): number | null => (t === null || t === undefined ? null : round(t - t0, 1));
const secs = (ms: number | null): string => (ms === null ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);

function latency(samples: RequestSample[]): LatencyStats {
  const rec = new LatencyRecorder(Math.max(1, samples.length));
  for (const s of samples) rec.add(s.end - s.start);
  return rec.stats();
}

/** Longest time between two consecutive successful answers ending in [from, to]. */
function longestGap(samples: RequestSample[], from: number, to: number): number {
  const ends = samples.filter((s) => s.ok && s.end >= from && s.end <= to).map((s) => s.end).sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < ends.length; i++) gap = Math.max(gap, ends[i]! - ends[i - 1]!);
  return round(gap, 1);
}

function countErrors(samples: RequestSample[]): Record<string, number> {
  const m: Record<string, number> = {};
  for (const s of samples) if (!s.ok) m[s.error ?? '?'] = (m[s.error ?? '?'] ?? 0) + 1;
  return m;
}

/** Every serial of the cluster's database (to check that acknowledged issuances were stored). */
async function storedSerials(c: BenchCluster): Promise<Set<string>> {
  return new Set((await c.pg.psql('SELECT serial FROM certificates', undefined, c.database)).split('\n').filter(Boolean));
}

export async function runNodeLoss(c: BenchCluster, front: FrontDoor, victimId: string): Promise<BenchResult> {
  const victim = c.nodes.find((n) => n.id === victimId);
  if (!victim) throw new Error(`no node ${victimId}`);
  const beforeS = envNumber('BENCH_NODE_LOSS_BEFORE', 3);
  const afterS = envNumber('BENCH_NODE_LOSS_AFTER', 7);
  const concurrency = 8;
  console.log(`[node loss] ${concurrency} clients through HAProxy; kill -9 ${victimId} after ${beforeS} s, ${afterS} s more ...`);
  const load = drive(front.target, { concurrency, seconds: beforeS + afterS, maxCount: 200_000, timeline: true, maxFailures: 1_000_000, pauseAfterFailureMs: 50 });
  await sleep(beforeS * 1000);
  const killedAt = now();
  victim.node.child.kill('SIGKILL');
  const key = `issuance/${victimId}`;
  const downAt = await waitForServerStates(front.statsUrl, (s) => (s[key] ?? '').startsWith('DOWN'), (afterS + 5) * 1000).then(() => now(), () => null);
  const { run, samples } = await load;
  const loadEnd = samples.reduce((m, s) => Math.max(m, s.end), killedAt);

  const before = samples.filter((s) => s.end < killedAt);
  const inFlight = samples.filter((s) => s.start <= killedAt && s.end >= killedAt);
  const windowEnd = (downAt ?? killedAt + 5000) + 1000;
  const around = samples.filter((s) => s.end >= killedAt && s.start <= windowEnd);
  const after = samples.filter((s) => s.start > killedAt);
  const failures = samples.filter((s) => !s.ok);
  const acked = samples.filter((s) => s.ok).map((s) => s.serial!);
  const stored = await storedSerials(c);
  const lost = acked.filter((s) => !stored.has(s)).length;
  const aroundStats = latency(around);
  const beforeStats = latency(before);
  const gapMs = longestGap(samples, killedAt - 1000, loadEnd);
  const actual = run.issued > 0 ? failures.length : null;
  const error = run.issued === 0 ? 'nothing issued' : after.filter((s) => s.ok).length === 0 ? 'no issuance succeeded after the kill' : undefined;
  console.log(`[node loss] ${run.issued} issued, ${failures.length} failed; max latency around the kill ${fmtMs(aroundStats.max)}; HAProxy DOWN after ${secs(since(killedAt, downAt))}`);
  return {
    name: 'rto-node-loss', title: NODE_LOSS_TITLE, date: new Date().toISOString(), machine: machine(),
    parameters: {
      topology: 'three active-active nodes (n1 n2 n3) on one PostgreSQL, HAProxy from rampart haproxy-config', killed: victimId, signal: 'SIGKILL',
      load: `${concurrency} clients POSTing /api/v1/certificates through the HAProxy TLS frontend (keep-alive, fresh Idempotency-Key, no client-side retries; 50 ms pause after a failure)`,
      secondsBeforeKill: beforeS, secondsAfterKill: afterS, haproxyChecks: FRONT_DOOR_CHECK,
      aroundTheKill: 'requests in flight at the kill or started until 1 s after HAProxy marked the node DOWN',
    },
    measurements: {
      failedRequests: failures.length, failedByError: countErrors(samples), issued: run.issued, replayedAnswers: run.replayed, issuedAfterKill: after.filter((s) => s.ok).length,
      haproxyMarkedDownMs: since(killedAt, downAt), inFlightAtKill: inFlight.length, latencyBeforeKillMs: beforeStats,
      latencyAroundKillMs: aroundStats, latencyAfterKillMs: latency(after), maxLatencyAroundKillMs: aroundStats.max,
      longestGapBetweenSuccessesMs: gapMs, acknowledgedNotStored: lost,
    },
    target: NODE_LOSS_TARGET, actual, pass: meets(NODE_LOSS_TARGET, actual) && lost === 0, ...(error ? { error } : {}),
    summary: {
      benchmark: 'RTO: node loss (1 of 3 behind HAProxy), failed client requests', rampart: `${fmtInt(failures.length)} failed of ${fmtInt(samples.length)}`,
      ceiling: 'target 0 (issue)', ratio: `max ${fmtMs(aroundStats.max)} around the kill`,
      detail: `around the kill: ${fmtMs(aroundStats.p50)} / ${fmtMs(aroundStats.p99)}, max ${fmtMs(aroundStats.max)}; longest gap between successes ${fmtMs(gapMs)}`,
      ceilingDetail: `before the kill: ${fmtMs(beforeStats.p50)} / ${fmtMs(beforeStats.p99)}, max ${fmtMs(beforeStats.max)}`,
    },
  };
}

/** Until `deadlineMs`: the end time of the first successful issuance at `t`, one client, retrying every 100 ms. */
async function firstIssuance(t: IssuanceTarget, deadlineMs: number): Promise<{ at: number | null; attempts: number; errors: Record<string, number> }> {
  let at: number | null = null;
  const { samples } = await drive(t, {
    concurrency: 1, seconds: deadlineMs / 1000, maxCount: 10_000, maxFailures: 1_000_000, timeoutMs: 3_000, pauseAfterFailureMs: 100, timeline: true,
    until: () => at !== null, onSample: (s) => { if (s.ok && at === null) at = s.end; },
  });
  return { at, attempts: samples.length, errors: countErrors(samples) };
}

export async function runTakeover(pg: PgCluster, dir: string, csrPem: string): Promise<BenchResult> {
  const database = 'bench_ap';
  await pg.createDatabase(database);
  const c = await startCluster(pg, { database, mode: 'active-passive', firstId: 'ap-a', dir, csrPem });
  let front: FrontDoor | undefined;
  try {
    const b = await c.add('ap-b');
    const a = c.nodes[0]!;
    await waitForMembers(c, 2);
    await waitFor('ap-a to be active', async () => (await call(`${a.node.httpUrl}/readyz?write=1`)).status === 200, 20_000);
    front = await startFrontDoor(c, (s) => s['issuance/ap-a'] === 'UP' && allUp('validation', ['ap-a', 'ap-b'])(s));
    const pre = await drive(front.target, { concurrency: 1, seconds: 2, maxCount: 20 });
    if (pre.run.issued === 0 || pre.run.failed) throw new Error(`issuance through HAProxy before the kill: ${pre.run.issued} issued, ${pre.run.failed} failed (${pre.run.firstError})`);
    const standby = await call(`${b.node.httpUrl}/readyz?write=1`);
    if (standby.status !== 503) throw new Error(`the standby answers /readyz?write=1 with ${standby.status} before the kill`);

    console.log('[takeover] kill -9 of the active node ap-a ...');
    const bound = 30_000;
    const killedAt = now();
    a.node.child.kill('SIGKILL');
    const [writableAt, haproxyUpAt, direct, viaHaproxy] = await Promise.all([
      waitFor('ap-b writable', async () => ((await call(`${b.node.httpUrl}/readyz?write=1`)).status === 200 ? now() : null), bound, 50).catch(() => null),
      waitForServerStates(front.statsUrl, (s) => s['issuance/ap-b'] === 'UP', bound).then(() => now(), () => null),
      firstIssuance(c.direct('ap-b'), bound),
      firstIssuance(front.target, bound),
    ]);
    const leader = await call(`${b.node.httpsUrl}/api/v1/cluster`, { token: c.token, ca: c.ca });
    const firsts = [direct.at, viaHaproxy.at].filter((x): x is number => x !== null);
    const rtoMs = firsts.length ? round(Math.min(...firsts) - killedAt, 1) : null;
    const actual = rtoMs === null ? null : round(rtoMs / 1000, 3);
    console.log(`[takeover] writable after ${secs(since(killedAt, writableAt))}; first issuance on the standby ${secs(since(killedAt, direct.at))}, through HAProxy ${secs(since(killedAt, viaHaproxy.at))}`);
    return {
      name: 'rto-active-passive-takeover', title: TAKEOVER_TITLE, date: new Date().toISOString(), machine: machine(),
      parameters: {
        topology: 'two active-passive nodes (ap-a active, ap-b standby) on one PostgreSQL, HAProxy from rampart haproxy-config --mode active-passive',
        takeoverSeconds: 10, heartbeatSeconds: 1, signal: 'SIGKILL', haproxyChecks: FRONT_DOOR_CHECK, boundMs: bound,
        probes: 'after the kill, one client on the standby and one through HAProxy, each POSTing with a fresh Idempotency-Key every 100 ms after a failure (3 s client timeout)',
        rto: 'kill to the first 201 on the standby or through HAProxy, whichever comes first',
      },
      measurements: {
        rtoMs, standbyWritableMs: since(killedAt, writableAt), firstIssuanceOnStandbyMs: since(killedAt, direct.at),
        firstIssuanceThroughHaproxyMs: since(killedAt, viaHaproxy.at), haproxyStandbyUpMs: since(killedAt, haproxyUpAt),
        probes: { standby: direct, haproxy: viaHaproxy }, leaderAfter: leader.status === 200 ? leader.body.leader : `HTTP ${leader.status}`,
      },
      target: TAKEOVER_TARGET, actual, pass: meets(TAKEOVER_TARGET, actual), ...(actual === null ? { error: `no issuance succeeded within ${bound / 1000} s of the kill` } : {}),
      summary: {
        benchmark: 'RTO: active-passive takeover (kill -9 of the active node)', rampart: secs(rtoMs),
        ceiling: 'target 10 s (issue; takeoverSeconds 10)', ratio: actual === null ? '—' : `${((actual / 10) * 100).toFixed(0)} % of the target`,
        detail: `standby writable ${secs(since(killedAt, writableAt))}; first issuance on the standby ${secs(since(killedAt, direct.at))}, through HAProxy ${secs(since(killedAt, viaHaproxy.at))}`,
        ceilingDetail: `HAProxy saw the standby UP after ${secs(since(killedAt, haproxyUpAt))}`,
      },
    };
  } finally {
    await front?.stop();
    await c.stop();
  }
}
