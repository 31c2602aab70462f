/**
 * Fault lab, scenario 1 (issue 18): active-passive, PostgreSQL, n1, n2 and
 * HAProxy each on its own host (network namespaces on a bridge). Under load
 * through HAProxy (issuance, revocation, OCSP, bounded), the active node n1
 * is partitioned from the database and from n2 (HAProxy and the clients
 * still reach it); n2 takes the active lease; the partition heals; a CRL is
 * published; every node is asked about every revocation; the history checker
 * judges the recorded history against the database and passes.
 * Reported (printed, not asserted): operations acknowledged, failed and
 * unknown, and the longest unavailability of issuance and of validation.
 * Needs root (ip netns): without it the test fails saying so.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { httpCall } from '../src/core/http-client.js';
import { sleep, waitUntil } from '../src/core/wait.js';
import { startClusterLab, type ClusterLab } from './lab/cluster-lab.js';
import { heal, injectFault } from './lab/lab-faults.js';
import { requireRoot } from './lab/lab-network.js';
import { History, type RevokeOp } from './lab/history.js';
import { checkScenario, labTarget, recordScenario, REVOCATION_BOUND_MS, scenarioReport } from './lab/scenario.js';
import { Workload } from './lab/workload.js';

/** What the database and the survivor say, for a takeover that does not come. */
async function diagnose(lab: ClusterLab, httpUrl: string): Promise<string> {
  const ready = await httpCall(`${httpUrl}/readyz?write=1`, { timeoutMs: 2000 }).then((r) => `${r.status} ${JSON.stringify(r.body).slice(0, 800)}`, (e: Error) => e.message);
  const db = await lab.pg.psql(`SELECT holder, epoch, expires_at, (extract(epoch from clock_timestamp())*1000)::bigint FROM leases;
    SELECT pid, application_name, state, wait_event_type, wait_event, xact_start, left(query, 120) FROM pg_stat_activity WHERE datname = 'rampart' AND state <> 'idle';
    SELECT locktype, mode, granted, pid FROM pg_locks WHERE relation = 'leases'::regclass`, 'rampart').catch((e: Error) => e.message);
  return `survivor /readyz?write=1: ${ready}\ndatabase:\n${db}`;
}

describe('fault lab: active-passive, the active node partitioned from the database and its peer', () => {
  let lab: ClusterLab | undefined;
  after(async () => { await lab?.close(); });

  it('n2 takes over, and after healing the history checker passes', async () => {
    requireRoot();
    lab = await startClusterLab({ log: (l) => console.log(l) });
    const history = new History(join(lab.dir, 'history.jsonl'));
    const load = new Workload(history, {
      apiUrl: lab.apiUrl, validationUrl: lab.validationUrl, token: lab.token, ca: lab.ca,
      leaseDb: { address: lab.pg.address, lease: 'active' }, issuers: 2, revokeEveryMs: 400, ocspEveryMs: 100, timeoutMs: 8000, maxRunMs: 150_000,
    });
    load.start();
    let healed = false;
    try {
      await sleep(4000);
      history.mark('partition');
      await injectFault(lab.net, { kind: 'partition', groups: [['n1'], ['pg', 'n2']] });
      const n2 = lab.nodes[1]!;
      await waitUntil('n2 to take the active lease', async () => (await httpCall(`${n2.httpUrl}/readyz?write=1`, { timeoutMs: 2000 })).status === 200, 60_000, 200)
        .catch(async (e: Error) => { throw new Error(`${e.message}\n${await diagnose(lab!, n2.httpUrl)}`); });
      history.mark('takeover-seen');
      await sleep(5000);
      await heal(lab.net);
      healed = true;
      history.mark('heal');
      await sleep(5000);
    } finally {
      if (!healed) await heal(lab.net);
      await load.stop();
    }
    const healedAt = history.markTime('heal')!;
    const result = await checkScenario(labTarget(lab), history, load, { writeLease: 'active' });
    const partitionAt = history.markTime('partition')!;
    const byN2After = history.ops.filter((o) => o.type === 'issue' && o.outcome === 'ok' && o.node === 'n2' && o.invoke > partitionAt).length;
    const visibility = (node: string): number => Math.max(0, ...history.ops.filter((r): r is RevokeOp => r.type === 'revoke' && r.outcome === 'ok').map((r) => {
      const seen = history.ops.find((p) => p.type === 'ocsp' && p.probe && p.node === node && p.serial === r.serial && p.status === 'revoked');
      return seen ? seen.complete - Math.max(r.complete, healedAt) : Number.NaN;
    }));
    const notes = [
      `${byN2After} issuances acknowledged by n2 after the partition; takeover seen on n2 ${history.markTime('takeover-seen')! - partitionAt} ms after the partition (takeover ${lab.takeoverSeconds} s)`,
      `revocations answered revoked after healing (the later of acknowledgment and heal, to the first revoked probe): ${lab.nodes.map((n) => `${n.id} ${visibility(n.id)} ms`).join(', ')} (bound ${REVOCATION_BOUND_MS} ms)`,
    ];
    console.log(scenarioReport(`fault lab scenario 1 (active-passive, active node partitioned from the database and its peer; takeover ${lab.takeoverSeconds} s)`, history, result, notes));
    recordScenario('1-active-passive', 'Active-passive: the active node cut from the database and its peer', history, result, notes);
    const c = result.counts;
    assert.ok(result.ok, result.verdict);
    assert.ok(byN2After > 0, 'n2 acknowledged issuances after taking over');
    assert.ok(c.revoke.acknowledged > 0, 'revocations were acknowledged');
    assert.ok(result.leaseJudged > 0, 'the lease rule judged some writes');
  });
});
