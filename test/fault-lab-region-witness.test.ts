/**
 * Fault lab, scenario 4 (issue 18): region A partitioned from region B and
 * the witness's third site while its clients still reach it. Hosts: A's
 * database, node and etcd member; B's replica, node and etcd member; the
 * third site's etcd member (test/lab/region-lab.ts). Under load sent to A's
 * node directly (issuance, revocation, OCSP), A is cut from B and the third
 * site: A stops accepting writes by itself (its witness lease is not
 * renewed); `rampart failover region --to B` runs from B's site, waits for
 * A's lease to expire, takes it and promotes B; zero writes are acknowledged
 * by A after B took leadership (hence after its promotion); after healing A
 * stays fenced. An observer on the client reads the leader key through the
 * third site's member every 100 ms; the history checker judges A's history
 * against A's database. Needs root (ip netns): without it the test fails saying so.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { httpCall } from '../src/core/http-client.js';
import { sleep, waitUntil } from '../src/core/wait.js';
import { EtcdGateway } from '../src/region/witness/etcd-gateway.js';
import { witnessKeys } from '../src/region/witness/witness-keys.js';
import { heal } from './lab/lab-faults.js';
import { requireRoot } from './lab/lab-network.js';
import { History, type Op } from './lab/history.js';
import { checkHistory, normSerial } from './lab/history-checker.js';
import { recordScenario } from './lab/scenario.js';
import { readPostgresSnapshot } from './lab/store-snapshot.js';
import { longestGap, Workload } from './lab/workload.js';
import { startRegionLab, WITNESS, WITNESS_PREFIX, type RegionLab } from './lab/region-lab.js';

/** Reads the leader key every 100 ms until stopped (bounded); each read is recorded as a lease op of 'region-leader'. */
function observeLeader(h: History, endpoint: string, maxMs: number): { stop: () => Promise<void> } {
  const etcd = new EtcdGateway({ endpoints: [endpoint], timeoutMs: 1000 });
  const key = witnessKeys(WITNESS_PREFIX).leader;
  let stopped = false;
  const deadline = Date.now() + maxMs;
  let n = 0;
  const done = (async () => {
    while (!stopped && Date.now() < deadline) {
      const invoke = Date.now();
      try {
        const kv = await etcd.get(key);
        h.add({ type: 'lease', id: `w${++n}`, lease: 'region-leader', invoke, complete: Date.now(), node: null, outcome: 'ok', holder: kv?.value ?? null });
      } catch (e) {
        h.add({ type: 'lease', id: `w${++n}`, lease: 'region-leader', invoke, complete: Date.now(), node: null, outcome: 'failed', detail: (e as Error).message });
      }
      await sleep(100);
    }
  })();
  return { stop: async () => { stopped = true; await done; } };
}

describe('fault lab: region A partitioned from B and the witness, its clients still reaching it', () => {
  let lab: RegionLab | undefined;
  after(async () => { await lab?.close(); });

  it('A stops writing by itself, B is promoted, and A acknowledges nothing after B took leadership', async (t) => {
    requireRoot();
    lab = await startRegionLab({ log: (l) => console.log(l) });
    const a = lab.nodes.A;
    const history = new History(join(lab.dir, 'history.jsonl'));
    const load = new Workload(history, {
      apiUrl: a.httpsUrl, validationUrl: a.httpUrl, token: lab.token, ca: lab.ca, issuers: 2, revokeEveryMs: 400, ocspEveryMs: 100, timeoutMs: 8000, maxRunMs: 150_000,
    });
    const observer = observeLeader(history, `http://${lab.net.host('ew').ip}:2379`, 170_000);
    load.start();
    let healed = false;
    let failover: { code: number | null; stdout: string; stderr: string } | undefined;
    let aStoppedLeader: string | null = 'unread';
    try {
      await sleep(4000);
      history.mark('partition');
      await lab.cutRegion('A');
      history.mark('partitioned');
      // A stops by itself: nobody has told it anything.
      await waitUntil('a1 to refuse writes', async () => (await httpCall(`${a.httpUrl}/readyz?write=1`, { timeoutMs: 2000 })).status === 503, 60_000, 100);
      history.mark('a-stopped');
      aStoppedLeader = (await new EtcdGateway({ endpoints: [`http://${lab.net.host('ew').ip}:2379`], timeoutMs: 2000 }).get(witnessKeys(WITNESS_PREFIX).leader))?.value ?? null;
      const ready = await httpCall(`${a.httpUrl}/readyz`, { timeoutMs: 2000 });
      t.diagnostic(`a1 after the partition: ${JSON.stringify(ready.body?.checks?.witness)}`);
      assert.match(String(ready.body?.checks?.witness?.detail), /does not hold leadership/);
      // The operator at B's site.
      history.mark('failover-start');
      failover = await lab.cli('b1', 'B', ['failover', 'region', '--to', 'B', '--token', lab.token, '--json']);
      history.mark('failover-done');
      await sleep(3000);
      await heal(lab.net);
      healed = true;
      history.mark('heal');
      // A sees B active at a higher epoch and fences itself; it never takes leadership back.
      await waitUntil('a1 to fence itself', async () => {
        const r = await httpCall(`${a.httpUrl}/readyz`, { timeoutMs: 2000 });
        return /fenced/.test(String(r.body?.checks?.region?.detail));
      }, 60_000, 200);
      await sleep(WITNESS.leaseSeconds * 1000);
    } finally {
      if (!healed) await heal(lab.net).catch(() => undefined);
      await load.stop();
      await observer.stop();
    }
    assert.ok(failover, 'the failover ran');
    for (const l of failover.stderr.trim().split('\n')) if (l && !l.startsWith('…')) t.diagnostic(l);
    assert.equal(failover.code, 0, `failover: ${failover.stderr}\n${failover.stdout}`);
    const report = JSON.parse(failover.stdout);
    assert.equal(report.from, 'A');
    assert.equal(report.fencedSource, false, 'A was unreachable from B\'s site');
    assert.ok(report.steps.some((s: { step: string; ok: boolean }) => s.step === 'witness: take leadership for B' && s.ok), JSON.stringify(report.steps));
    assert.ok(report.verifiedSerial, 'issuance verified on B');
    assert.notEqual(aStoppedLeader, 'B', 'when A stopped, B did not lead yet');

    // Every operation went to a1 directly.
    for (const op of history.ops) if (op.type !== 'mark' && op.type !== 'lease' && op.node === null) op.node = 'a1';
    const reads = history.ops.filter((o): o is Extract<Op, { type: 'lease' }> => o.type === 'lease' && o.outcome === 'ok');
    const firstB = reads.find((r) => r.holder === 'B');
    assert.ok(firstB, 'the observer saw B take leadership');
    // B's lease was created after the last read that did not see it began (reads are linearizable); B was promoted later still.
    const lastNotB = reads.filter((r) => r.invoke < firstB.invoke && r.holder !== 'B').at(-1)!;
    const bLeadsAfter = lastNotB.invoke;
    const partitionAt = history.markTime('partition')!;
    const cutAt = history.markTime('partitioned')!;
    const aWrites = history.ops.filter((o) => (o.type === 'issue' || o.type === 'revoke') && o.outcome === 'ok');
    const lateWrites = aWrites.filter((o) => o.complete >= bLeadsAfter);
    const lastAck = Math.max(...aWrites.map((o) => o.complete));
    const refusedAfter = history.ops.filter((o) => o.type === 'issue' && o.outcome === 'failed' && o.invoke > partitionAt && o.complete < bLeadsAfter).length;

    // The checker, against A's own database (what A acknowledged is there); revocations judged below (A, fenced, publishes no further CRL).
    const snapshot = await readPostgresSnapshot(lab.pg.A.address);
    const result = checkHistory(history.ops.filter((o) => o.type !== 'revoke'), snapshot, { nodes: ['a1'], healedAt: history.markTime('heal')!, revocationBoundMs: 60_000 });
    const revoked = new Set(snapshot.certificates.filter((c) => c.status === 'revoked').map((c) => normSerial(c.serial)));
    const lostRevocations = history.ops.filter((o) => o.type === 'revoke' && o.outcome === 'ok' && !revoked.has(normSerial(o.serial)));
    const c = result.counts;
    const loadFrom = history.markTime('load-start')!;
    const loadTo = history.markTime('load-stop')!;
    console.log([
      `fault lab scenario 4 (region A cut from B and the witness's third site; lease ${WITNESS.leaseSeconds} s, margin ${WITNESS.marginSeconds} s, renewed every ${WITNESS.renewSeconds} s):`,
      `  issuance on A:   ${c.issue.acknowledged} acknowledged, ${c.issue.failed} failed, ${c.issue.unknown} unknown (${refusedAfter} refused after the partition, before B led)`,
      `  revocation on A: ${history.ops.filter((o) => o.type === 'revoke' && o.outcome === 'ok').length} acknowledged, ${history.ops.filter((o) => o.type === 'revoke' && o.outcome !== 'ok').length} failed or unknown`,
      `  OCSP on A:       ${c.ocsp.acknowledged} acknowledged, ${c.ocsp.failed} failed, ${c.ocsp.unknown} unknown`,
      `  longest unavailability on A: issuance ${longestGap(history.ops, 'issue', loadFrom, loadTo)} ms, validation ${longestGap(history.ops, 'ocsp', loadFrom, loadTo)} ms`,
      `  partition in place ${cutAt - partitionAt} ms after it began; from then: A's last acknowledged write ${lastAck - cutAt} ms, A refusing writes ${history.markTime('a-stopped')! - cutAt} ms,`,
      `  B leading ${bLeadsAfter - cutAt} ms (${bLeadsAfter - lastAck} ms after A's last acknowledged write); failover command ${((history.markTime('failover-done')! - history.markTime('failover-start')!) / 1000).toFixed(1)} s, RTO ${report.rtoSeconds?.toFixed?.(1)} s`,
      `  writes acknowledged by A after B took leadership: ${lateWrites.length}`,
      `  checker (issuance, OCSP, audit chain, against A's database): ${result.verdict}; acknowledged revocations missing from A's database: ${lostRevocations.length}`,
      ...result.violations.slice(1, 6).map((x) => `    also [${x.kind}] ${x.message}`),
    ].join('\n'));
    const revokeOps = history.ops.filter((o) => o.type === 'revoke');
    const figures = {
      ...result, ok: result.ok && lateWrites.length === 0 && lostRevocations.length === 0,
      verdict: lateWrites.length ? `FAIL: ${lateWrites.length} write(s) acknowledged by A after B led` : lostRevocations.length ? `FAIL: ${lostRevocations.length} acknowledged revocation(s) missing` : result.verdict,
      counts: { ...c, revoke: { acknowledged: revokeOps.filter((o) => o.outcome === 'ok').length, failed: revokeOps.filter((o) => o.outcome === 'failed').length, unknown: revokeOps.filter((o) => o.outcome === 'unknown').length } },
    };
    recordScenario('4-region-witness', 'Region A cut from region B and the witness (figures on A)', history, figures, [
      `A refusing writes ${history.markTime('a-stopped')! - cutAt} ms after the cut; B leading after ${bLeadsAfter - cutAt} ms; writes acknowledged by A after B led: ${lateWrites.length}`,
    ]);
    assert.equal(lateWrites.length, 0, `A acknowledged writes after B took leadership: ${JSON.stringify(lateWrites.slice(0, 3))}`);
    assert.ok(lastAck < bLeadsAfter);
    assert.ok(aWrites.some((o) => o.complete > partitionAt) || refusedAfter > 0, 'load reached A around the partition');
    assert.ok(refusedAfter > 0, 'A refused writes by itself before B led');
    assert.ok(result.ok, result.verdict);
    assert.equal(lostRevocations.length, 0, JSON.stringify(lostRevocations.slice(0, 3)));
    // After healing: A stays out, B holds leadership.
    const after = await httpCall(`${a.httpUrl}/readyz?write=1`, { timeoutMs: 2000 });
    assert.equal(after.status, 503);
    assert.equal(reads.at(-1)?.holder, 'B');
    const bMetrics = String((await httpCall(`${lab.nodes.B.httpUrl}/metrics`)).body);
    assert.match(bMetrics, /rampart_region_witness_held\{region="B"\} 1/);
    assert.match(String((await httpCall(`${a.httpUrl}/metrics`)).body), /rampart_region_witness_held\{region="A"\} 0/);
    const status = await lab.cli('b1', 'B', ['region', 'status', '--json'], 60_000);
    assert.equal(status.code, 0, status.stderr);
    const w = JSON.parse(status.stdout).witness;
    assert.deepEqual([w.leader, w.active?.region], ['B', 'B'], JSON.stringify(w));
  });
});
