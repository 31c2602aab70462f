/**
 * The region witness against a real three-member etcd cluster on loopback
 * (Debian's etcd-server): region A's two nodes share one leadership lease;
 * a failover to B is refused while A renews it; A cut off from the quorum
 * (its only etcd member, the Raft leader, paused: the other two still form
 * the majority, after an election the failover waits out)
 * stops holding by itself before B can take the lease; once reconnected, A
 * does not take leadership back (the active record names B); a region
 * fenced in its database revokes its lease at once, and leadership moves
 * back without waiting for an expiry. Also: the config's bounds.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { sleep, waitUntil } from '../src/core/wait.js';
import { witnessSchema, type WitnessConfig } from '../src/config/witness-config.js';
import { RegionWitness } from '../src/region/witness/region-witness.js';
import { EtcdGateway } from '../src/region/witness/etcd-gateway.js';
import { takeLeadership } from '../src/region/witness/leadership-transfer.js';
import { readWitness, witnessKeys } from '../src/region/witness/witness-keys.js';
import { startEtcdCluster, type EtcdCluster } from './helpers/etcd.js';

const log = pino({ level: 'silent' });

describe('region witness on a three-member etcd cluster', { timeout: 180_000 }, () => {
  let etcd: EtcdCluster;
  const witnesses: RegionWitness[] = [];
  before(async () => { etcd = await startEtcdCluster(); });
  after(async () => {
    for (const w of witnesses) await w.stop();
    await etcd?.stop();
  });

  const cfg = (endpoints: string[]): WitnessConfig => witnessSchema.parse({ endpoints, prefix: '/rampart/test', leaseSeconds: 4, renewSeconds: 1, marginSeconds: 1, requestTimeoutMs: 500 });
  /** released: the region's database names another region (a failover fenced it). */
  const node = (region: string, endpoints: string[], lead: { value: boolean; released?: boolean }): RegionWitness => {
    const w = new RegionWitness({ config: cfg(endpoints), region, shouldLead: () => lead.value, shouldRelease: () => lead.released === true, epoch: () => '1', log });
    witnesses.push(w);
    return w;
  };

  it('rejects a margin that leaves no room between renewals', () => {
    const r = witnessSchema.safeParse({ endpoints: ['http://127.0.0.1:2379'], leaseSeconds: 4, renewSeconds: 2, marginSeconds: 2 });
    assert.equal(r.success, false);
    assert.match(JSON.stringify(r.error?.issues), /marginSeconds \+ renewSeconds must be less than leaseSeconds/);
    assert.equal(witnessSchema.safeParse({ endpoints: [] }).success, false);
    assert.equal(witnessSchema.safeParse({ endpoints: ['ftp://x:1'] }).success, false);
  });

  it('A leads; B waits; A cut off stops before B takes over; A never takes it back; a fenced region releases at once', async () => {
    // A's member is the Raft leader: cutting it off makes the other two elect a leader while B's failover waits.
    const li = await etcd.leaderIndex();
    const [m1, m2, m3] = [li, (li + 1) % 3, (li + 2) % 3].map((i) => etcd.endpoints[i]!) as [string, string, string];
    const aLead: { value: boolean; released?: boolean } = { value: true };
    const bLead: { value: boolean; released?: boolean } = { value: false };
    // Region A's nodes reach the quorum through A's own member only (as across a WAN partition).
    const a1 = node('A', [m1], aLead);
    const a2 = node('A', [m1], aLead);
    const b1 = node('B', [m1, m2, m3], bLead);
    await a1.tick();
    await a2.tick();
    await b1.tick();
    assert.equal(a1.holds(), true, JSON.stringify(a1.status()));
    assert.equal(a2.holds(), true, 'the second node of A renews the same lease');
    assert.equal(a2.status().leaseId, a1.status().leaseId);
    assert.equal(b1.holds(), false);
    assert.equal(b1.status().leader, 'A');
    assert.deepEqual(a1.status().active?.region, 'A');
    for (const w of [a1, a2, b1]) w.start();

    // A failover to B while A renews is refused (A is alive and reaches the quorum).
    await assert.rejects(takeLeadership({ config: cfg([m2, m3]), to: 'B', epoch: '2', waitMs: 6000 }),
      /region A holds the leadership lease .* that region is alive and reaches the witness quorum\. Refusing to promote B/);
    assert.equal(a1.holds(), true);

    // A cut off: its member paused. Watch when A's nodes stop and when B takes leadership.
    let aStopped = 0;
    const watch = (async () => {
      for (let i = 0; i < 600 && aStopped === 0; i++) {
        if (!a1.holds() && !a2.holds()) aStopped = performance.now();
        await sleep(20);
      }
    })();
    etcd.signal(li, 'SIGSTOP');
    let taken = 0;
    try {
      const l = await takeLeadership({ config: cfg([m2, m3]), to: 'B', epoch: '2' });
      taken = performance.now();
      await watch;
      assert.ok(aStopped > 0, 'A stopped holding');
      assert.ok(aStopped < taken, 'A stopped before B could take leadership');
      // Until B's database is promoted its node (a replica's) leaves the command's lease alone.
      await sleep(2500);
      const mid = await readWitness(new EtcdGateway({ endpoints: [m2], timeoutMs: 1000 }), witnessKeys('/rampart/test'));
      assert.deepEqual([mid.leader?.value, mid.leader?.lease], ['B', l.leaseId]);
      // B's region is promoted: its node renews the lease the command took; the command stops renewing.
      bLead.value = true;
      await waitUntil('B to hold leadership', async () => b1.holds(), 15_000);
      assert.equal(b1.status().leaseId, l.leaseId);
      l.handOver();
    } finally {
      etcd.signal(li, 'SIGCONT');
    }
    assert.ok(taken > 0);
    // A reconnects; its database still names it active (it was not fenced), yet it never leads again.
    await waitUntil('A to reach the quorum again', async () => {
      const s = a1.status();
      if (s.error === null && s.leader === 'B') return true;
      throw new Error(`A's node: ${JSON.stringify(s)}; A's member log: ${etcd.members[li]!.log().slice(-3000)}`);
    }, 40_000);
    await sleep(2500);
    assert.equal(a1.holds(), false);
    assert.equal(a2.holds(), false);
    assert.match(a1.status().reason, /witness names region B active \(epoch 2/);
    assert.equal(b1.holds(), true, 'B kept leadership');

    // A planned move back: B fenced in its database revokes its lease at once; A's region takes it.
    bLead.value = false;
    bLead.released = true;
    await waitUntil('B to release', async () => !b1.holds() && b1.status().leader === null, 15_000);
    const back = await takeLeadership({ config: cfg([m1, m2, m3]), to: 'A', epoch: '3' });
    await waitUntil('A to hold leadership again', async () => a1.holds() && a2.holds(), 15_000);
    assert.equal(a1.status().leaseId, back.leaseId);
    back.handOver();
    const v = await readWitness(new EtcdGateway({ endpoints: [m3], timeoutMs: 1000 }), witnessKeys('/rampart/test'));
    assert.equal(v.leader?.value, 'A');
    assert.deepEqual([v.record?.region, v.record?.epoch], ['A', '3']);

    // A failover that stops before promoting gives leadership back as it was.
    aLead.value = false;
    aLead.released = true;
    await waitUntil('A to release', async () => !a1.holds() && !a2.holds() && a1.status().leader === null, 15_000);
    const tried = await takeLeadership({ config: cfg([m2]), to: 'B', epoch: '4' });
    await tried.abandon();
    const after2 = await readWitness(new EtcdGateway({ endpoints: [m2], timeoutMs: 1000 }), witnessKeys('/rampart/test'));
    assert.equal(after2.leader, null);
    assert.deepEqual([after2.record?.region, after2.record?.epoch], ['A', '3']);
  });
});
