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
import { httpCall } from '../src/core/http-client.js';
import { sleep, waitUntil } from '../src/core/wait.js';
import { startClusterLab, type ClusterLab } from './lab/cluster-lab.js';
import { heal, injectFault } from './lab/lab-faults.js';
import { requireRoot } from './lab/lab-network.js';
import { History, type LeaseOp } from './lab/history.js';
import { checkHistory } from './lab/history-checker.js';
import { readPostgresSnapshot } from './lab/store-snapshot.js';
import { longestGap, probeRevocations, Workload } from './lab/workload.js';

const REVOCATION_BOUND_MS = 60_000;
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

    let crl = { status: 0, body: null as unknown };
    await waitUntil('a CRL from the active node after healing', async () => {
      crl = await httpCall(`${lab!.apiUrl}/api/v1/crl/generate`, { method: 'POST', token: lab!.token, ca: lab!.ca, timeoutMs: 30_000 });
      return crl.status === 200;
    }, 30_000, 500).catch(() => undefined);
    if (crl.status !== 200) {
      const ready = await Promise.all(lab.nodes.map((n) => httpCall(`${n.httpUrl}/readyz?write=1`, { timeoutMs: 3000 }).then((r) => `${n.id}: ${r.status} ${r.body?.status} ${JSON.stringify(Object.entries(r.body?.checks ?? {}).filter(([, v]) => (v as { status: string }).status !== 'pass'))} ${JSON.stringify({ ...r.body, checks: undefined }).slice(0, 400)}`, (e: Error) => `${n.id}: ${e.message}`)));
      const db = await lab.pg.psql("SELECT name, holder, epoch, expires_at, clock_timestamp() FROM leases; SELECT application_name, state, wait_event, left(query, 80) FROM pg_stat_activity WHERE datname = 'rampart'", 'rampart').catch((e: Error) => e.message);
      assert.fail(`CRL generation after healing: ${crl.status} ${JSON.stringify(crl.body)}\n${ready.join('\n')}\n${db}`);
    }
    assert.ok(load.issuerDer, 'at least one issuance was acknowledged');
    await probeRevocations(history, lab.nodes.map((n) => ({ id: n.id, httpUrl: n.httpUrl })), load.issuerDer, load.revokedSerials(), REVOCATION_BOUND_MS);

    const snapshot = await readPostgresSnapshot(lab.pg.address);
    const result = checkHistory(history.ops, snapshot, { nodes: lab.nodes.map((n) => n.id), healedAt: t('heal'), revocationBoundMs: REVOCATION_BOUND_MS, writeLease: 'active' });
    const c = result.counts;
    const during = (type: 'issue' | 'revoke' | 'ocsp', outcome: string) => history.ops.filter((o) => o.type === type && o.outcome === outcome && o.invoke >= t('loss') && o.invoke < t('heal')).length;
    const holders = [...new Set(history.ops.filter((o): o is LeaseOp => o.type === 'lease' && o.outcome === 'ok').map((o) => `${o.holder}@${o.epoch}`))];
    console.log([
      `fault lab scenario 7 (active-passive; ${LOSS * 100} % loss both ways between n1, n2 and the database for ${LOSS_MS / 1000} s):`,
      `  issuance:   ${c.issue.acknowledged} acknowledged, ${c.issue.failed} failed, ${c.issue.unknown} unknown (during the loss: ${during('issue', 'ok')} / ${during('issue', 'failed')} / ${during('issue', 'unknown')})`,
      `  revocation: ${c.revoke.acknowledged} acknowledged, ${c.revoke.failed} failed, ${c.revoke.unknown} unknown (during: ${during('revoke', 'ok')} / ${during('revoke', 'failed')} / ${during('revoke', 'unknown')})`,
      `  OCSP:       ${c.ocsp.acknowledged} acknowledged, ${c.ocsp.failed} failed, ${c.ocsp.unknown} unknown (during: ${during('ocsp', 'ok')} / ${during('ocsp', 'failed')} / ${during('ocsp', 'unknown')})`,
      `  longest unavailability: issuance ${longestGap(history.ops, 'issue', t('load-start'), t('load-stop'))} ms, validation ${longestGap(history.ops, 'ocsp', t('load-start'), t('load-stop'))} ms`,
      `  active lease holders seen: ${holders.join(', ')}; writes judged against the lease: ${result.leaseJudged}`,
      `  checker: ${result.verdict}`,
      ...result.violations.slice(1, 6).map((x) => `    also [${x.kind}] ${x.message}`),
    ].join('\n'));
    assert.ok(result.ok, result.verdict);
    assert.ok(during('issue', 'ok') > 0, 'issuance went on during the loss');
    assert.ok(c.revoke.acknowledged > 0, 'revocations were acknowledged');
    assert.ok(result.leaseJudged > 0, 'the lease rule judged some writes');
  });
});
