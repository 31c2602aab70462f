/**
 * Fault lab, scenario 5 (issue 18): skewed clocks. Active-passive: n1 runs
 * with its wall clock 10 minutes slow, n2 with its clock 10 minutes fast
 * (faketime, lab-clock.ts); PostgreSQL and the clients keep the true time.
 * Under load through HAProxy, n1 (active) is paused (SIGSTOP) long enough
 * for n2 to take the active lease, then resumed: both nodes issue, and n1
 * wakes up believing nothing. Then:
 * - leases and fences hold: the history checker judges every write against
 *   the lease row read straight from the database (plus its usual rules);
 * - sane times: both nodes date what they sign by the database clock, so
 *   every acknowledged certificate's notBefore lies between the 60 s
 *   back-dating (plus slack) before its request and its acknowledgment (true
 *   time), whichever node signed it; every OCSP answer's thisUpdate is not in
 *   the future and its nextUpdate is;
 * - health warns: each node's `clockSkew` check warns and
 *   rampart_clock_skew_seconds is about -600 on n1 and +600 on n2.
 * Reported (printed, not asserted): the usual counts, the longest
 * unavailability, how far notBefore and thisUpdate lie behind true time.
 * Needs root (ip netns): without it the test fails saying so.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { httpCall } from '../src/core/http-client.js';
import { sleep } from '../src/core/wait.js';
import { startClusterLab, type ClusterLab } from './lab/cluster-lab.js';
import { skewedClockWrap } from './lab/lab-clock.js';
import { signalHost } from './lab/lab-faults.js';
import { requireRoot } from './lab/lab-network.js';
import { History, type IssueOp, type OcspOp } from './lab/history.js';
import { checkScenario, labTarget, recordScenario, scenarioReport } from './lab/scenario.js';
import { Workload } from './lab/workload.js';

const SKEW_MINUTES: Record<string, number> = { n1: -10, n2: 10 };
const BACKDATE_MS = 60_000;
/** Slack for the measurement: a round trip on a busy machine. */
const SLACK_MS = 10_000;

async function skewSeen(url: string): Promise<{ check: { status: string; detail: string } | undefined; gauge: number | null }> {
  const ready = await httpCall(`${url}/readyz`, { timeoutMs: 5000 });
  const metrics = String((await httpCall(`${url}/metrics`, { timeoutMs: 5000 })).raw);
  const m = /^rampart_clock_skew_seconds\{reference="database"\} (\S+)$/m.exec(metrics);
  return { check: ready.body?.checks?.clockSkew, gauge: m ? Number(m[1]) : null };
}

describe('fault lab: one node 10 minutes slow, one 10 minutes fast', () => {
  let lab: ClusterLab | undefined;
  after(async () => { await lab?.close(); });

  it('leases and fences hold, signed times are sane, and health warns of the skew', async () => {
    requireRoot();
    lab = await startClusterLab({ nodeWrap: (id) => skewedClockWrap(SKEW_MINUTES[id]!), log: (l) => console.log(l) });
    const health = await Promise.all(lab.nodes.map(async (n) => [n.id, await skewSeen(n.httpUrl)] as const));
    const history = new History(join(lab.dir, 'history.jsonl'));
    const load = new Workload(history, {
      apiUrl: lab.apiUrl, validationUrl: lab.validationUrl, token: lab.token, ca: lab.ca,
      leaseDb: { address: lab.pg.address, lease: 'active' }, issuers: 2, revokeEveryMs: 400, ocspEveryMs: 100, timeoutMs: 8000, maxRunMs: 120_000,
    });
    load.start();
    let paused = false;
    try {
      await sleep(5000);
      history.mark('pause-n1');
      paused = true;
      await signalHost(lab.net, 'n1', 'SIGSTOP');
      await sleep(16_000);
      await signalHost(lab.net, 'n1', 'SIGCONT');
      paused = false;
      history.mark('heal');
      await sleep(8000);
    } finally {
      if (paused) await signalHost(lab.net, 'n1', 'SIGCONT');
      await load.stop();
    }
    const result = await checkScenario(labTarget(lab), history, load, { writeLease: 'active' });

    const issued = history.ops.filter((o): o is IssueOp => o.type === 'issue' && o.outcome === 'ok' && !!o.der);
    const certTimes = issued.map((o) => {
      const x = new X509Certificate(Buffer.from(o.der!, 'base64'));
      return { op: o, notBefore: new Date(x.validFrom).getTime(), notAfter: new Date(x.validTo).getTime() };
    });
    const badCerts = certTimes.filter((c) => c.notBefore > c.op.complete || c.notBefore < c.op.invoke - BACKDATE_MS - SLACK_MS || c.notAfter <= c.op.complete);
    const answered = history.ops.filter((o): o is OcspOp => o.type === 'ocsp' && o.outcome === 'ok');
    const badOcsp = answered.filter((o) => o.thisUpdate === undefined || o.thisUpdate > o.complete || (o.nextUpdate !== undefined && o.nextUpdate <= o.complete));
    const behind = (xs: number[]) => xs.length ? `${Math.round(Math.min(...xs) / 1000)}..${Math.round(Math.max(...xs) / 1000)} s` : 'none';
    const byNode = (node: string) => issued.filter((o) => o.node === node).length;
    const notes = [
      `issuance acknowledged by n1: ${byNode('n1')}, by n2: ${byNode('n2')}`,
      ...health.map(([id, h]) => `${id}: clockSkew ${h.check?.status ?? '?'} (${h.check?.detail ?? ''}); rampart_clock_skew_seconds ${h.gauge}`),
      ...['n1', 'n2'].map((id) => `${id}: notBefore behind true time ${behind(certTimes.filter((c) => c.op.node === id).map((c) => c.op.complete - c.notBefore))}; OCSP thisUpdate behind ${behind(answered.filter((o) => o.node === id).map((o) => o.complete - o.thisUpdate!))}`),
      `certificates with insane times: ${badCerts.length}; OCSP answers with insane times: ${badOcsp.length}`,
    ];
    console.log(scenarioReport('fault lab scenario 5 (active-passive; n1 10 min slow, n2 10 min fast; n1 paused 16 s)', history, result, notes));
    recordScenario('5-clock-skew', 'One node\'s clock 10 min slow, the other\'s 10 min fast; the slow one paused 16 s', history, result, notes);
    assert.ok(result.ok, result.verdict);
    assert.ok(result.leaseJudged > 0, 'the lease rule judged some writes');
    assert.ok(byNode('n1') > 0 && byNode('n2') > 0, `both nodes issued (n1 ${byNode('n1')}, n2 ${byNode('n2')})`);
    assert.deepEqual(badCerts.map((c) => `${c.op.id} by ${c.op.node}: notBefore ${new Date(c.notBefore).toISOString()}, acknowledged ${new Date(c.op.complete).toISOString()}`), []);
    assert.deepEqual(badOcsp.map((o) => `${o.id} by ${o.node}: thisUpdate ${o.thisUpdate}, nextUpdate ${o.nextUpdate}, answered ${o.complete}`), []);
    assert.ok(answered.some((o) => o.node === 'n2'), 'n2 answered OCSP');
    for (const [id, h] of health) {
      const expected = SKEW_MINUTES[id]! * 60;
      assert.equal(h.check?.status, 'warn', `${id}: clockSkew ${JSON.stringify(h.check)}`);
      assert.ok(h.gauge !== null && Math.abs(h.gauge - expected) < SLACK_MS / 1000, `${id}: rampart_clock_skew_seconds ${h.gauge}, expected about ${expected}`);
    }
  });
});
