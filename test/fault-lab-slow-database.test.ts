/**
 * Fault lab, a slow and then a paused database (issue 18's bandwidth limit
 * and SIGSTOP/SIGCONT of a database, on the active-passive lab under load
 * through HAProxy):
 * - phase A: the links between each node and PostgreSQL shaped to
 *   BANDWIDTH_KBIT both ways (tc htb in the namespaces) for 30 s, healed;
 * - phase B: every PostgreSQL process on `pg` stopped with SIGSTOP for 10 s,
 *   then SIGCONT.
 * Then a CRL, every revocation probed on every node, and the history checker
 * with writes judged against the active lease. Asserted: the checker passes;
 * no write is answered 500 (refusals are 503, lost answers unknown); issuance
 * is acknowledged again after the database resumes; every OCSP request made
 * while the database is paused gets an OCSP answer (from the nodes' caches,
 * else tryLater, through HAProxy's fallback backend). Reported (printed, and
 * written to test/lab/results/): the usual figures, per phase.
 * Needs root (ip netns, tc).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { sleep } from '../src/core/wait.js';
import { startClusterLab, type ClusterLab } from './lab/cluster-lab.js';
import { History } from './lab/history.js';
import { heal, injectFault, signalHost } from './lab/lab-faults.js';
import { requireRoot } from './lab/lab-network.js';
import { checkScenario, invokedIn, writesAnswered500, labTarget, recordScenario, scenarioReport, tally } from './lab/scenario.js';
import { Workload } from './lab/workload.js';

const BANDWIDTH_KBIT = 256;
const SHAPED_MS = 30_000;
const PAUSED_MS = 10_000;

describe('fault lab: the database link shaped to a low bandwidth, then the database paused', () => {
  let lab: ClusterLab | undefined;
  after(async () => {
    if (lab) await signalHost(lab.net, 'pg', 'SIGCONT').catch(() => undefined);
    await lab?.close();
  });

  it('writes slow down or are refused with 503, nothing acknowledged is lost, and service resumes', async () => {
    requireRoot();
    lab = await startClusterLab({ log: (l) => console.log(l) });
    const { net } = lab;
    const history = new History(join(lab.dir, 'history.jsonl'));
    const load = new Workload(history, {
      apiUrl: lab.apiUrl, validationUrl: lab.validationUrl, token: lab.token, ca: lab.ca,
      leaseDb: { address: lab.pg.address, lease: 'active' }, issuers: 2, revokeEveryMs: 400, ocspEveryMs: 100, timeoutMs: 8000, maxRunMs: 150_000,
    });
    load.start();
    let shaped = false;
    let paused = false;
    try {
      await sleep(4000);
      history.mark('shaped');
      shaped = true;
      for (const n of lab.nodes) await injectFault(net, { kind: 'bandwidth', a: n.id, b: 'pg', kbit: BANDWIDTH_KBIT });
      await sleep(SHAPED_MS);
      await heal(net);
      shaped = false;
      history.mark('heal');
      await sleep(5000);
      history.mark('paused');
      paused = true;
      await signalHost(net, 'pg', 'SIGSTOP');
      await sleep(PAUSED_MS);
      await signalHost(net, 'pg', 'SIGCONT');
      paused = false;
      history.mark('resumed');
      await sleep(10_000);
    } finally {
      if (paused) await signalHost(net, 'pg', 'SIGCONT');
      if (shaped) await heal(net);
      await load.stop();
    }
    const t = (m: string) => history.markTime(m)!;
    const result = await checkScenario(labTarget(lab), history, load, { writeLease: 'active' });
    const phase = (from: string, to: string) => `issuance ${tally(invokedIn(history.ops, 'issue', t(from), t(to)))}; revocation ${tally(invokedIn(history.ops, 'revoke', t(from), t(to)))}; OCSP ${tally(invokedIn(history.ops, 'ocsp', t(from), t(to)))}`;
    const notes = [
      `shaped to ${BANDWIDTH_KBIT} kbit/s for ${SHAPED_MS / 1000} s: ${phase('shaped', 'heal')}`,
      `database paused (SIGSTOP) for ${PAUSED_MS / 1000} s: ${phase('paused', 'resumed')}`,
      `after SIGCONT: ${phase('resumed', 'load-stop')}`,
    ];
    console.log(scenarioReport(`fault lab: the node-database links at ${BANDWIDTH_KBIT} kbit/s for ${SHAPED_MS / 1000} s, then the database paused for ${PAUSED_MS / 1000} s (active-passive, under load)`, history, result, notes));
    recordScenario('8-slow-database', `Node-database links at ${BANDWIDTH_KBIT} kbit/s for ${SHAPED_MS / 1000} s, then the database paused (SIGSTOP) for ${PAUSED_MS / 1000} s`, history, result, notes);
    assert.ok(result.ok, result.verdict);
    assert.deepEqual(writesAnswered500(history.ops), [], 'no write answered 500');
    assert.ok(invokedIn(history.ops, 'issue', t('resumed'), t('load-stop')).some((o) => o.outcome === 'ok'), 'issuance resumed after SIGCONT');
    // Validation goes on while the database hangs: the nodes fail readiness, HAProxy's fallback backend
    // sends validation to them anyway, and they answer from their caches, tryLater (RFC 6960) for what
    // they do not hold. Before the fallback, HAProxy answered 503 here (no ready node).
    const pausedOcsp = invokedIn(history.ops, 'ocsp', t('paused'), t('resumed'));
    assert.ok(pausedOcsp.length > 0);
    assert.ok(pausedOcsp.every((o) => o.outcome === 'ok' || o.detail === 'OCSP tryLater'), `every OCSP request answered while the database was paused: ${tally(pausedOcsp)}`);
    assert.ok(result.leaseJudged > 0, 'the lease rule judged some writes');
  });
});
