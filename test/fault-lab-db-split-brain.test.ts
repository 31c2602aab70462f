/**
 * Fault lab, scenario 3 (issue 18): the database primary partitioned from its
 * synchronous standby and from the failover monitor (classic split brain),
 * under load; healed; the old primary rejoins.
 *
 * Lab (test/lab/failover-lab.ts): pg_auto_failover's monitor `mon`, primary
 * `pg1` and synchronous standby `pg2` (synchronous_commit on, ANY 1 standby),
 * each in its own namespace, and a Rampart node `n1` with both data nodes in
 * database.hosts. Under load sent to n1 (issuance, revocation, OCSP), the
 * primary is cut from the standby and the monitor; n1 and the clients still
 * reach it. The monitor promotes the standby; the old primary, with no
 * standby to confirm its commits, must not acknowledge any: a write n1
 * began after the cut is acknowledged only once the standby is promoted.
 * Five seconds after the promotion the partition heals; the old primary must
 * rejoin as a standby (pg_rewind) and the formation be synchronous again.
 * Then a CRL, every revocation probed, and the history checker against the
 * new primary: every acknowledged issuance and revocation present, no serial
 * twice, unknown outcomes all or nothing. No write may be answered 500.
 * Reported (printed, and written to test/lab/results/): the usual figures,
 * when the monitor promoted, when the old primary rejoined, what n1 answered
 * between the cut and the promotion. Needs root (ip netns).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { sleep, waitUntil } from '../src/core/wait.js';
import { startFailoverLab, type FailoverLab } from './lab/failover-lab.js';
import { History } from './lab/history.js';
import { heal, injectFault } from './lab/lab-faults.js';
import { requireRoot } from './lab/lab-network.js';
import { checkScenario, invokedIn, writesAnswered500, recordScenario, scenarioReport, tally } from './lab/scenario.js';
import { Workload } from './lab/workload.js';

/**
 * Long enough for the isolated primary's keeper to stop it on its own
 * (network_partition_timeout is 3 s) before the monitor is seen again. It
 * did not, in any run: see the runbook.
 */
const HEAL_AFTER_PROMOTION_MS = 20_000;

/** When the first issuance after `from` was acknowledged, relative to `from`. */
function firstAckAfter(ops: Array<{ type: string; outcome: string; complete: number }>, from: number): string {
  const first = ops.filter((o) => o.type === 'issue' && o.outcome === 'ok' && o.complete >= from).map((o) => o.complete).sort((a, b) => a - b)[0];
  return first === undefined ? 'never' : `${first - from} ms after the promotion`;
}

describe('fault lab: the database primary cut from its synchronous standby and the monitor', () => {
  let lab: FailoverLab | undefined;
  after(async () => { await lab?.close(); });

  it('the old primary acknowledges nothing, the standby is promoted, the old primary rejoins, nothing acknowledged is lost', async () => {
    requireRoot();
    lab = await startFailoverLab({ log: (l) => console.log(l) });
    const { db, net } = lab;
    const history = new History(join(lab.dir, 'history.jsonl'));
    const load = new Workload(history, {
      apiUrl: lab.node.httpsUrl, validationUrl: lab.node.httpUrl, token: lab.token, ca: lab.ca,
      issuers: 2, revokeEveryMs: 400, ocspEveryMs: 100, timeoutMs: 8000, maxRunMs: 240_000,
    });
    const old = await db.primary();
    const standby = db.nodes.find((n) => n.name !== old.name)!;
    load.start();
    let healed = true;
    let promotedMs = 0;
    let rejoinedMs = 0;
    let lastStandbyAt = 0;
    let oldStoppedAt = 0;
    let stopWatching = false;
    const watchers: Promise<void>[] = [];
    try {
      await sleep(4000);
      history.mark('partition');
      healed = false;
      await injectFault(net, { kind: 'partition', groups: [[lab.hostOf(old.name)], [lab.hostOf(standby.name), 'mon']] });
      history.mark('cut');
      // The old primary as the clients (and n1) still see it: when it stops answering (its keeper, cut from the monitor, demotes it).
      const watchOld = (async () => {
        for (let i = 0; i < 600 && !oldStoppedAt && !stopWatching; i++) {
          const ok = await db.psql(old.port, 'select 1').then(() => true, () => false);
          if (!ok) oldStoppedAt = Date.now();
          else await sleep(250);
        }
      })();
      watchers.push(watchOld);
      // The standby answers read-only until promoted: the last time it said so (taken when the question was sent) bounds what the old primary alone can have acknowledged.
      await waitUntil('the standby to leave recovery', async () => {
        const asked = Date.now();
        const inRecovery = await db.psql(standby.port, 'select pg_is_in_recovery()').catch(() => '');
        if (inRecovery === 't') lastStandbyAt = asked;
        return inRecovery === 'f';
      }, 120_000, 200);
      const promoted = await db.waitForPrimary(old.name, 60_000);
      assert.equal(promoted.name, standby.name);
      history.mark('promoted');
      promotedMs = history.markTime('promoted')! - history.markTime('partition')!;
      await sleep(HEAL_AFTER_PROMOTION_MS);
      history.mark('healing');
      await heal(net);
      healed = true;
      history.mark('heal');
      await db.waitForState(old.name, ['secondary'], 180_000);
      history.mark('rejoined');
      rejoinedMs = history.markTime('rejoined')! - history.markTime('heal')!;
      await sleep(5000);
    } finally {
      stopWatching = true;
      await Promise.all(watchers);
      if (!healed) await heal(net);
      await load.stop();
    }
    const t = (m: string) => history.markTime(m)!;
    // What the old primary's keeper decided after the cut (its lines start with the time of day, UTC here).
    const keeperLog = db.logs(old.name).split('\n').filter((l) => l.slice(0, 8) >= new Date(t('cut')).toISOString().slice(11, 19))
      .filter((l) => /network partition|Network is|FSM transition|assigned new state|Stopping/i.test(l)).slice(-12);
    const syncState = await db.psql(standby.port, "select coalesce(string_agg(application_name || ' ' || sync_state, ','), 'none') from pg_stat_replication");
    const result = await checkScenario(lab.target(), history, load);
    const cutWrites = [...invokedIn(history.ops, 'issue', t('cut'), t('promoted')), ...invokedIn(history.ops, 'revoke', t('cut'), t('promoted'))];
    // A write begun after the cut and acknowledged while the standby was still read-only can only have been committed by the old primary.
    const ackedByOld = cutWrites.filter((o) => o.outcome === 'ok' && o.complete < lastStandbyAt);
    const notes = [
      `standby promoted ${promotedMs} ms after the cut began (the cut took ${t('cut') - t('partition')} ms)`,
      `old primary back as a synchronous standby ${rejoinedMs} ms after the heal; replication afterwards: ${syncState}`,
      `old primary ${oldStoppedAt ? `stopped answering ${oldStoppedAt - t('partition')} ms after the cut began (${oldStoppedAt < t('healing') ? 'before the heal' : 'once the heal began'}, ${t('healing') - t('partition')} ms after the cut began)` : 'kept answering throughout'}`,
      `writes begun between the cut and the promotion: ${tally(cutWrites)}; acknowledged while the standby was still read-only: ${ackedByOld.length}`,
      `issuance between the promotion and the heal: ${tally(invokedIn(history.ops, 'issue', t('promoted'), t('healing')))}; first acknowledged ${firstAckAfter(history.ops, t('promoted'))}`,
    ];
    console.log(scenarioReport('fault lab scenario 3 (pg_auto_failover: the primary cut from its synchronous standby and the monitor, under load)', history, result, notes));
    console.log(`old primary's keeper:\n${keeperLog.join('\n')}`);
    recordScenario('3-db-split-brain', 'Database primary cut from its synchronous standby and the monitor (pg_auto_failover)', history, result, notes);
    assert.ok(result.ok, result.verdict);
    assert.deepEqual(ackedByOld.map((o) => `${o.id}: ${o.detail}`), [], 'the isolated old primary acknowledged no write');
    assert.deepEqual(writesAnswered500(history.ops), [], 'no write answered 500');
    assert.ok(invokedIn(history.ops, 'issue', t('promoted'), t('load-stop')).some((o) => o.outcome === 'ok'), 'issuance resumed on the promoted standby');
    // n1 follows the monitor (database.monitor) to the promoted standby while the old primary still runs, cut off:
    // issuance is back before the partition heals (without it, only after the heal demoted the old primary).
    const beforeHeal = invokedIn(history.ops, 'issue', t('promoted'), t('healing')).filter((o) => o.outcome === 'ok');
    assert.ok(beforeHeal.length > 0, `issuance acknowledged between the promotion and the heal: ${tally(invokedIn(history.ops, 'issue', t('promoted'), t('healing')))}`);
    assert.match(syncState, /sync|quorum/, 'the formation is synchronous again after the old primary rejoined');
  });
});
