/**
 * Fault lab, scenario 6 (issue 18): a data disk fills under load.
 * A single node on SQLite (the default deployment) keeps its data directory
 * on a small tmpfs the test mounts. Under load (issuance, revocation, OCSP,
 * sent to the node directly), a ballast file fills the filesystem to the
 * last byte for 12 s, then is deleted; the load goes on. Then a CRL, every
 * revocation asked of the node, and the history checker over the SQLite file:
 * - writes refused while the disk is full are 503, never 500 (nor any other 5xx);
 * - validation keeps answering (OCSP answered all along);
 * - nothing acknowledged is lost (checker PASS);
 * - service resumes by itself (issuance acknowledged after the space is freed,
 *   the same process: no restart);
 * - while full, /readyz stays 200 (HAProxy keeps the node for validation)
 *   and /readyz?write=1 answers 503 (it leaves the issuance backend).
 * Reported (printed): the usual counts, the longest unavailability, what
 * the refusals said. Needs root (mount): without it the test fails saying so.
 * The tmpfs is unmounted and removed at the end, also on failure.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { httpCall } from '../src/core/http-client.js';
import { sleep } from '../src/core/wait.js';
import { removeDir, startNode, type NodeProcess } from './helpers/node-process.js';
import { History } from './lab/history.js';
import { requireRoot } from './lab/lab-network.js';
import { checkScenario, invokedIn, recordScenario, scenarioReport, tally } from './lab/scenario.js';
import { createSmallDisk, subdir, type SmallDisk } from './lab/small-disk.js';
import { readSqliteSnapshot } from './lab/store-snapshot.js';
import { Workload } from './lab/workload.js';

const MiB = 1024 * 1024;
const FULL_MS = 12_000;

const during = invokedIn;

const notPassing = (body: unknown): string => JSON.stringify(Object.entries((body as { checks?: Record<string, { status: string; detail: string }> } | null)?.checks ?? {})
  .filter(([, c]) => c.status !== 'pass').map(([k, c]) => `${k} ${c.status}: ${c.detail}`));

describe('fault lab: the data disk of a SQLite node fills under load', () => {
  let disk: SmallDisk | undefined;
  let node: NodeProcess | undefined;
  after(async () => {
    await node?.stop('SIGKILL').catch(() => undefined);
    try { if (node) removeDir(node.dataDir); } finally { await disk?.remove(); }
  });

  it('refuses writes with 503, keeps validating, loses nothing and resumes by itself', async () => {
    requireRoot('the disk-full scenario (mount -t tmpfs)');
    disk = await createSmallDisk(96);
    node = await startNode({
      dataDir: subdir(disk, 'data'),
      env: {
        RAMPART_HEALTH__DISK_FREE_MIN_BYTES: String(16 * MiB), RAMPART_HEALTH__DISK_FREE_CRITICAL_BYTES: String(4 * MiB),
        // The workload is a closed loop (~230 issuances/s after the heal on a quiet host): above the default
        // 200/s per address and token, whose 429s would mix into the refusals this scenario judges (only 503).
        RAMPART_LIMITS__API__PER_IP__RATE_PER_SECOND: '0', RAMPART_LIMITS__API__PER_TOKEN__RATE_PER_SECOND: '0',
      },
    });
    const token = node.adminToken;
    assert.ok(token, 'the node printed an admin token');
    const ca = String((await httpCall(`${node.httpUrl}/ca/bundle.pem`)).body);
    const history = new History(join(disk.dir, '..', `history-${process.pid}.jsonl`));
    const load = new Workload(history, {
      apiUrl: node.httpsUrl, validationUrl: node.httpUrl, token, ca, issuers: 2, revokeEveryMs: 300, ocspEveryMs: 100, timeoutMs: 8000, maxRunMs: 90_000,
    });
    load.start();
    let full = false;
    let ballast = 0;
    let readyWhileFull = { status: 0, body: null as unknown };
    let writeReadyWhileFull = { status: 0, body: null as unknown };
    try {
      await sleep(4000);
      history.mark('full');
      full = true;
      ballast = disk.fill();
      await sleep(FULL_MS / 2);
      readyWhileFull = await httpCall(`${node.httpUrl}/readyz`, { timeoutMs: 5000 });
      writeReadyWhileFull = await httpCall(`${node.httpUrl}/readyz?write=1`, { timeoutMs: 5000 });
      await sleep(FULL_MS / 2);
      disk.free();
      full = false;
      history.mark('heal');
      await sleep(8000);
    } finally {
      if (full) disk.free();
      await load.stop();
    }
    const t = (m: string) => history.markTime(m)!;
    const proc = node;
    const result = await checkScenario({
      apiUrl: proc.httpsUrl, token, ca, nodes: [{ id: 'node', httpUrl: proc.httpUrl }], snapshot: () => readSqliteSnapshot(join(proc.dataDir, 'rampart.db')),
    }, history, load);
    const writes = history.ops.filter((o) => o.type === 'issue' || o.type === 'revoke');
    const fullWrites = [...during(history.ops, 'issue', t('full'), t('heal')), ...during(history.ops, 'revoke', t('full'), t('heal'))];
    const fullOcsp = during(history.ops, 'ocsp', t('full'), t('heal'));
    const afterIssues = during(history.ops, 'issue', t('heal'), t('load-stop'));
    const notes = [
      `ballast: ${Math.round(ballast / MiB)} MiB to fill the 96 MiB tmpfs`,
      `writes while full: ${tally(fullWrites)}`,
      `OCSP while full: ${tally(fullOcsp)}`,
      `issuance after the space was freed: ${tally(afterIssues)}`,
      `/readyz while full: ${readyWhileFull.status}; ${notPassing(readyWhileFull.body)}`,
      `/readyz?write=1 while full: ${writeReadyWhileFull.status}`,
    ];
    console.log(scenarioReport(`fault lab scenario 6a (one SQLite node; its data disk full for ${FULL_MS / 1000} s under load)`, history, result, notes));
    recordScenario('6a-disk-full-sqlite', `The data disk of a single SQLite node full for ${FULL_MS / 1000} s`, history, result, notes);
    assert.ok(result.ok, result.verdict);
    assert.deepEqual(writes.filter((o) => o.outcome === 'failed' && !/^503\b/.test(o.detail ?? '')).map((o) => `${o.id}: ${o.detail}`), [], 'every refused write is a 503');
    assert.ok(fullWrites.some((o) => o.outcome === 'failed'), `writes were refused while the disk was full: ${tally(fullWrites)}`);
    assert.ok(fullOcsp.filter((o) => o.outcome === 'ok').length > 0 && fullOcsp.every((o) => o.outcome === 'ok'), `OCSP answered all along while the disk was full: ${tally(fullOcsp)}`);
    assert.ok(afterIssues.some((o) => o.outcome === 'ok'), `issuance resumed after the space was freed: ${tally(afterIssues)}`);
    assert.equal(proc.child.exitCode, null, 'the node ran throughout (no restart)');
    // Behind HAProxy: the node stays in the validation backend, and leaves the issuance backend.
    assert.equal(readyWhileFull.status, 200, `/readyz while full: ${notPassing(readyWhileFull.body)}`);
    assert.equal(writeReadyWhileFull.status, 503, '/readyz?write=1 while full');
  });
});
