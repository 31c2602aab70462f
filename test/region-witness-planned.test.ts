/**
 * A planned region failover with the witness, every role on its own lab host
 * (test/lab/region-lab.ts) and nothing cut: `rampart failover region --to B`
 * run from the third site fences A in A's database; A's node sees itself
 * fenced and revokes its leadership lease at once (no expiry to wait for);
 * the command takes leadership for B, promotes B with nothing lost, and B's
 * node renews the lease. A, still reaching the quorum, never leads again.
 * Needs root (ip netns): without it the test fails saying so.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { httpCall } from '../src/core/http-client.js';
import { sleep } from '../src/core/wait.js';
import { newCsr } from '../src/dr/lifecycle-check.js';
import { requireRoot } from './lab/lab-network.js';
import { startRegionLab, WITNESS, type RegionLab } from './lab/region-lab.js';

describe('region witness: planned failover, nothing cut', () => {
  let lab: RegionLab | undefined;
  after(async () => { await lab?.close(); });

  it('A is fenced and releases leadership, B takes it and is promoted with nothing lost', async (t) => {
    requireRoot();
    lab = await startRegionLab({ log: (l) => console.log(l) });
    const csrIssue = async (url: string, cn: string) => httpCall(`${url}/api/v1/certificates`, {
      token: lab!.token, ca: lab!.ca, json: { profile: 'server', csr: await newCsr(cn) }, headers: { 'idempotency-key': randomUUID() },
    });
    const before = await csrIssue(lab.nodes.A.httpsUrl, 'before-planned.example.test');
    assert.equal(before.status, 201, JSON.stringify(before.body));

    const fo = await lab.cli('ew', 'B', ['failover', 'region', '--to', 'B', '--token', lab.token, '--json']);
    for (const l of fo.stderr.trim().split('\n')) if (l && !l.startsWith('…') && !l.startsWith('{"progress"')) t.diagnostic(l);
    assert.equal(fo.code, 0, `${fo.stderr}\n${fo.stdout}`);
    const report = JSON.parse(fo.stdout);
    assert.equal(report.fencedSource, true, 'A was reachable: fenced in its database');
    assert.equal(report.rpoBytes, 0, 'a planned failover loses nothing');
    const step = report.steps.find((s: { step: string }) => s.step === 'witness: take leadership for B');
    assert.ok(step?.ok, JSON.stringify(report.steps));
    t.diagnostic(`witness step: ${step.durationMs} ms, ${step.detail}`);
    assert.ok(report.verifiedSerial);

    // B serves writes; A, fenced and still in the quorum, stays out.
    const onB = await csrIssue(lab.nodes.B.httpsUrl, 'after-planned.example.test');
    assert.equal(onB.status, 201, JSON.stringify(onB.body));
    const inv = await httpCall(`${lab.nodes.B.httpsUrl}/api/v1/certificates/${before.body.serial}`, { token: lab.token, ca: lab.ca });
    assert.equal(inv.status, 200, 'what A issued before the failover is in B');
    await sleep(WITNESS.leaseSeconds * 1000);
    const refused = await csrIssue(lab.nodes.A.httpsUrl, 'refused-on-a.example.test');
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    const readyA = await httpCall(`${lab.nodes.A.httpUrl}/readyz`);
    assert.match(String(readyA.body.checks.witness.detail), /region A does not lead; leadership held by region B; active record: B epoch 2/);
    const readyB = await httpCall(`${lab.nodes.B.httpUrl}/readyz?write=1`);
    assert.equal(readyB.status, 200);
    assert.match(String(readyB.body.checks.witness.detail), /region B holds leadership/);
  });
});
