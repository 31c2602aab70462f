/**
 * Fault lab, scenario 7 (issue 18): 5 % packet loss, both ways, between each
 * node and the database for a minute, under load through HAProxy
 * (active-passive: n1 active, n2 passive). Lost segments are retransmitted
 * by TCP, so the cluster slows down but nothing may be lost or doubled: the
 * history checker judges the history against the database, writes against
 * the active lease included.
 * Reported (printed, not asserted): operations acknowledged, failed and
 * unknown during and after the loss, the longest unavailability of issuance
 * and validation, and whether the active lease moved.
 * Needs root (ip netns): without it the test fails saying so.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { sleep } from '../src/core/wait.js';
import { startClusterLab, type ClusterLab } from './lab/cluster-lab.js';
import { heal, injectFault } from './lab/lab-faults.js';
import { requireRoot } from './lab/lab-network.js';
import { History, type LeaseOp } from './lab/history.js';
import { checkScenario, invokedIn, labTarget, recordScenario, scenarioReport, tally } from './lab/scenario.js';
import { Workload } from './lab/workload.js';
const LOSS = 0.05;
const LOSS_MS = 60_000;

describe('fault lab: 5 % packet loss between the nodes and the database for a minute', () => {
  let lab: ClusterLab | undefined;
  after(async () => { await lab?.close(); });

  it('the cluster keeps working, and after healing the history checker passes', async () => {
    requireRoot();
    lab = await startClusterLab({ log: (l) => console.log(l) });
    const history = new History(join(lab.dir, 'history.jsonl'));
    const load = new Workload(history, {
      apiUrl: lab.apiUrl, validationUrl: lab.validationUrl, token: lab.token, ca: lab.ca,
      leaseDb: { address: lab.pg.address, lease: 'active' }, issuers: 2, revokeEveryMs: 400, ocspEveryMs: 100, timeoutMs: 8000, maxRunMs: 150_000,
    });
    load.start();
    let healed = true;
    try {
      await sleep(4000);
      history.mark('loss');
      healed = false;
      for (const n of lab.nodes) await injectFault(lab.net, { kind: 'loss', a: n.id, b: 'pg', probability: LOSS });
      await sleep(LOSS_MS);
      await heal(lab.net);
      healed = true;
      history.mark('heal');
      await sleep(6000);
    } finally {
      if (!healed) await heal(lab.net);
      await load.stop();
    }
    const t = (m: string) => history.markTime(m)!;
    const result = await checkScenario(labTarget(lab), history, load, { writeLease: 'active' });
    const c = result.counts;
    const during = (type: 'issue' | 'revoke' | 'ocsp', outcome: string) => invokedIn(history.ops, type, t('loss'), t('heal')).filter((o) => o.outcome === outcome).length;
    const holders = [...new Set(history.ops.filter((o): o is LeaseOp => o.type === 'lease' && o.outcome === 'ok').map((o) => `${o.holder}@${o.epoch}`))];
    const notes = [
      `during the loss: issuance ${tally(invokedIn(history.ops, 'issue', t('loss'), t('heal')))}; revocation ${tally(invokedIn(history.ops, 'revoke', t('loss'), t('heal')))}; OCSP ${tally(invokedIn(history.ops, 'ocsp', t('loss'), t('heal')))}`,
      `active lease holders seen: ${holders.join(', ')}`,
    ];
    console.log(scenarioReport(`fault lab scenario 7 (active-passive; ${LOSS * 100} % loss both ways between n1, n2 and the database for ${LOSS_MS / 1000} s)`, history, result, notes));
    recordScenario('7-packet-loss', `${LOSS * 100} % packet loss between the nodes and the database for ${LOSS_MS / 1000} s`, history, result, notes);
    assert.ok(result.ok, result.verdict);
    assert.ok(during('issue', 'ok') > 0, 'issuance went on during the loss');
    assert.ok(c.revoke.acknowledged > 0, 'revocations were acknowledged');
    assert.ok(result.leaseJudged > 0, 'the lease rule judged some writes');
  });
});
