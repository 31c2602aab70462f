/**
 * Fault lab, scenario 2 (issue 18): active-active, PostgreSQL, n1, n2 and
 * HAProxy each on its own host. Under load through HAProxy (issuance,
 * revocation, OCSP, bounded):
 *   A. n1 is partitioned from HAProxy but not from the database: HAProxy's
 *      checks take n1 out and n2 serves everything; heal;
 *   B. n1 is partitioned from the database but not from HAProxy: n1 stops
 *      passing /readyz?write=1, HAProxy sends writes to n2; heal.
 * Then a CRL is published, every node is asked about every revocation, and
 * the history checker judges the history against the database.
 * Reported (printed, not asserted): operations acknowledged, failed and
 * unknown per phase, and the longest unavailability of issuance and of
 * validation. Needs root (ip netns): without it the test fails saying so.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { sleep } from '../src/core/wait.js';
import { startClusterLab, type ClusterLab } from './lab/cluster-lab.js';
import { heal, injectFault } from './lab/lab-faults.js';
import { requireRoot } from './lab/lab-network.js';
import { History, type Op } from './lab/history.js';
import { checkScenario, labTarget, recordScenario, scenarioReport } from './lab/scenario.js';
import { Workload } from './lab/workload.js';

function phaseCounts(ops: Op[], type: 'issue' | 'revoke' | 'ocsp', from: number, to: number): string {
  const inPhase = ops.filter((o) => o.type === type && !('probe' in o && o.probe) && o.invoke >= from && o.invoke < to);
  const by = (outcome: string) => inPhase.filter((o) => o.outcome === outcome).length;
  const nodes = [...new Set(inPhase.filter((o) => o.outcome === 'ok').map((o) => o.node))].sort().join('+') || 'none';
  return `${by('ok')} ok (${nodes}), ${by('failed')} failed, ${by('unknown')} unknown`;
}

describe('fault lab: active-active, a node cut from HAProxy, then from the database', () => {
  let lab: ClusterLab | undefined;
  after(async () => { await lab?.close(); });

  it('n2 serves through both faults, and after healing the history checker passes', async () => {
    requireRoot();
    lab = await startClusterLab({ mode: 'active-active', log: (l) => console.log(l) });
    const history = new History(join(lab.dir, 'history.jsonl'));
    const load = new Workload(history, {
      apiUrl: lab.apiUrl, validationUrl: lab.validationUrl, token: lab.token, ca: lab.ca,
      issuers: 2, revokeEveryMs: 400, ocspEveryMs: 100, timeoutMs: 8000, maxRunMs: 150_000,
    });
    load.start();
    let healed = true;
    try {
      await sleep(4000);
      history.mark('cut-from-haproxy');
      healed = false;
      await injectFault(lab.net, { kind: 'partition', groups: [['n1'], ['haproxy']] });
      await sleep(12_000);
      await heal(lab.net);
      healed = true;
      history.mark('heal-a');
      await sleep(5000);
      history.mark('cut-from-database');
      healed = false;
      await injectFault(lab.net, { kind: 'partition', groups: [['n1'], ['pg']] });
      await sleep(12_000);
      await heal(lab.net);
      healed = true;
      history.mark('heal');
      await sleep(6000);
    } finally {
      if (!healed) await heal(lab.net);
      await load.stop();
    }
    const t = (m: string) => history.markTime(m)!;

    // Leader-only: checkScenario retries the CRL for 30 s (the leader lease may still be between holders just after the heal).
    const result = await checkScenario(labTarget(lab), history, load);
    const c = result.counts;
    const phases: Array<[string, number, number]> = [
      ['before the faults', t('load-start'), t('cut-from-haproxy')],
      ['A: n1 cut from HAProxy', t('cut-from-haproxy'), t('heal-a')],
      ['between', t('heal-a'), t('cut-from-database')],
      ['B: n1 cut from the database', t('cut-from-database'), t('heal')],
      ['after healing', t('heal'), t('load-stop')],
    ];
    const notes = phases.map(([name, from, to]) => `${name} (${to - from} ms): issuance ${phaseCounts(history.ops, 'issue', from, to)}; OCSP ${phaseCounts(history.ops, 'ocsp', from, to)}`);
    console.log(scenarioReport('fault lab scenario 2 (active-active; n1 cut from HAProxy for 12 s, then from the database for 12 s)', history, result, notes));
    recordScenario('2-active-active', 'Active-active: a node cut from HAProxy, then from the database', history, result, notes);
    assert.ok(result.ok, result.verdict);
    const okBy = (node: string, from: number, to: number) => history.ops.filter((o) => o.type === 'issue' && o.outcome === 'ok' && o.node === node && o.invoke >= from && o.invoke < to).length;
    assert.ok(okBy('n2', t('cut-from-haproxy'), t('heal-a')) > 0, 'n2 issued while n1 was cut from HAProxy');
    assert.ok(okBy('n2', t('cut-from-database'), t('heal')) > 0, 'n2 issued while n1 was cut from the database');
    assert.ok(okBy('n1', t('heal'), t('load-stop')) + okBy('n1', t('heal-a'), t('cut-from-database')) > 0, 'n1 issued again after a heal');
    assert.ok(c.revoke.acknowledged > 0, 'revocations were acknowledged');
  });
});
