/**
 * Fault lab, scenario 6b (issue 18): the database primary's disk fills under
 * load. The lab (active-passive: PostgreSQL, n1, n2, HAProxy) keeps
 * PostgreSQL's directory on a small tmpfs the test mounts. Under load
 * through HAProxy, a ballast file fills that filesystem to the last byte for
 * 15 s, then is deleted; the load goes on. Then a CRL, every node asked
 * about every revocation, and the history checker with writes judged
 * against the active lease:
 * - no write is answered 500 (refusals are 503; lost answers are 'unknown');
 * - validation keeps answering while the disk is full;
 * - nothing acknowledged is lost (checker PASS);
 * - service resumes by itself (issuance acknowledged after the space is freed).
 * Reported (printed): the usual counts, the longest unavailability, what the
 * refusals said, what PostgreSQL logged. Needs root (ip netns, mount).
 * The tmpfs is unmounted and removed at the end, also on failure.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from '../src/core/wait.js';
import { startClusterLab, type ClusterLab } from './lab/cluster-lab.js';
import { History } from './lab/history.js';
import { requireRoot } from './lab/lab-network.js';
import { checkScenario, invokedIn, writesAnswered500, labTarget, recordScenario, scenarioReport, tally } from './lab/scenario.js';
import { createSmallDisk, type SmallDisk } from './lab/small-disk.js';
import { Workload } from './lab/workload.js';

const MiB = 1024 * 1024;
const DISK_MIB = 256;
const FULL_MS = 15_000;

const during = invokedIn;

describe('fault lab: the database primary\'s disk fills under load', () => {
  let disk: SmallDisk | undefined;
  let lab: ClusterLab | undefined;
  after(async () => {
    try { await lab?.close(); } finally { await disk?.remove(); }
  });

  it('writes are refused without a 500, validation answers, nothing acknowledged is lost, and service resumes', async () => {
    requireRoot('the disk-full scenario (ip netns, mount -t tmpfs)');
    disk = await createSmallDisk(DISK_MIB);
    lab = await startClusterLab({ pgParent: disk.dir, log: (l) => console.log(l) });
    const history = new History(join(lab.dir, 'history.jsonl'));
    const load = new Workload(history, {
      apiUrl: lab.apiUrl, validationUrl: lab.validationUrl, token: lab.token, ca: lab.ca,
      leaseDb: { address: lab.pg.address, lease: 'active' }, issuers: 2, revokeEveryMs: 400, ocspEveryMs: 100, timeoutMs: 8000, maxRunMs: 120_000,
    });
    load.start();
    let full = false;
    let ballast = 0;
    try {
      await sleep(4000);
      history.mark('full');
      full = true;
      ballast = disk.fill();
      await sleep(FULL_MS);
      disk.free();
      full = false;
      history.mark('heal');
      await sleep(10_000);
    } finally {
      if (full) disk.free();
      await load.stop();
    }
    const t = (m: string) => history.markTime(m)!;
    const pgLog = existsSync(lab.pg.logFile) ? readFileSync(lab.pg.logFile, 'utf8').split('\n').filter((l) => /PANIC|FATAL|ERROR|LOG:  (database system|server process|all server)/.test(l)) : [];
    const result = await checkScenario(labTarget(lab), history, load, { writeLease: 'active' });
    const fullWrites = [...during(history.ops, 'issue', t('full'), t('heal')), ...during(history.ops, 'revoke', t('full'), t('heal'))];
    const fullOcsp = during(history.ops, 'ocsp', t('full'), t('heal'));
    const afterIssues = during(history.ops, 'issue', t('heal'), t('load-stop'));
    const notes = [
      `ballast: ${Math.round(ballast / MiB)} MiB to fill the ${DISK_MIB} MiB tmpfs`,
      `writes while full: ${tally(fullWrites)}`,
      `OCSP while full: ${tally(fullOcsp)}`,
      `issuance after the space was freed: ${tally(afterIssues)}`,
      `PostgreSQL log (${pgLog.length} lines of note): ${pgLog.slice(0, 8).join(' | ').slice(0, 1500)}`,
    ];
    console.log(scenarioReport(`fault lab scenario 6b (active-passive; the database primary's disk full for ${FULL_MS / 1000} s under load)`, history, result, notes));
    recordScenario('6b-disk-full-postgres', `The database primary\'s disk full for ${FULL_MS / 1000} s (active-passive)`, history, result, notes);
    assert.ok(result.ok, result.verdict);
    assert.deepEqual(writesAnswered500(history.ops), [], 'no write answered 500');
    assert.ok(fullOcsp.some((o) => o.outcome === 'ok'), `OCSP answered while the disk was full: ${tally(fullOcsp)}`);
    assert.ok(afterIssues.some((o) => o.outcome === 'ok'), `issuance resumed after the space was freed: ${tally(afterIssues)}`);
    assert.ok(result.leaseJudged > 0, 'the lease rule judged some writes');
  });
});
