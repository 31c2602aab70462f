/**
 * Cross-region disaster recovery, end to end on loopback (test/helpers/
 * region-lab.ts): region A (primary + synchronous standby, 2 nodes,
 * HAProxy), region B (asynchronous replica, 2 nodes, HAProxy).
 *
 * 1. Before any failover B serves OCSP, CRLs and the inventory from its
 *    replica, reports its lag, and refuses issuance with a 503.
 * 2. The region-failover drill: issuance load on A and OCSP load on B; B's
 *    replication is cut (a partition), A keeps acknowledging issuances and
 *    revocations B never receives, then all of A is killed. OCSP answers
 *    from B throughout; `rampart failover region --to B` promotes B; issuance
 *    resumes through B's HAProxy; the RTO is printed; every certificate B
 *    had received is valid and every revocation it had received revoked.
 * 3. A comes back (database and nodes): it is fenced (B is active at a
 *    higher epoch on a later timeline) and refuses issuance.
 * 4. Planned failback: `rampart failback --to A` recovers what A committed
 *    alone into the inventory, rewinds A as B's replica, switches over with
 *    zero loss, and puts B back as replica. Every acknowledged issuance and
 *    revocation, on A before the loss and on B after it, is in A's inventory.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { call } from './helpers/api-client.js';
import { waitFor } from './helpers/cluster.js';
import { startRegionLab, type RegionLab } from './helpers/region-lab.js';
import { newCsr } from '../src/dr/lifecycle-check.js';
import { ocspStatus } from '../src/dr/ocsp-probe.js';
import { fromPem } from '../src/pki/certificate-builder.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Issued { serial: string; revoked: boolean }

describe('cross-region DR: two regions on loopback', { timeout: 600_000 }, () => {
  let lab: RegionLab;
  let issuerDer: Uint8Array;
  const ackedOnA: Issued[] = [];
  const ackedOnB: Issued[] = [];

  before(async () => { lab = await startRegionLab({ aNodes: 2, bNodes: 2, resumeWithoutPeerSeconds: 5 }); });
  after(async () => { await lab?.stop(); });

  async function issue(apiUrl: string, cn: string): Promise<{ status: number; serial?: string; body: any }> {
    const r = await call(`${apiUrl}/api/v1/certificates`, {
      token: lab.token, ca: lab.caPem, json: { csr: await newCsr(cn), profile: 'server' }, headers: { 'idempotency-key': randomUUID() },
    });
    if (r.status === 201 || r.status === 200) issuerDer = fromPem(r.body.chainPem)[0]!;
    return { status: r.status, serial: r.body?.serial, body: r.body };
  }
  const revoke = (apiUrl: string, serial: string) => call(`${apiUrl}/api/v1/certificates/${serial}/revoke`, { token: lab.token, ca: lab.caPem, json: { reason: 'keyCompromise' } });
  const inventory = async (httpsUrl: string, serial: string) => call(`${httpsUrl}/api/v1/certificates/${serial}`, { token: lab.token, ca: lab.caPem });

  it('before failover, B serves validation and inventory from its replica and refuses issuance with 503', async () => {
    const a = lab.sites.A;
    const b = lab.sites.B;
    for (let i = 0; i < 3; i++) {
      const r = await issue(a.apiUrl, `before-${i}.example.test`);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      ackedOnA.push({ serial: r.serial!, revoked: false });
    }
    assert.equal((await revoke(a.apiUrl, ackedOnA[0]!.serial)).status, 200);
    ackedOnA[0]!.revoked = true;
    const b1 = b.nodes[0]!;
    await waitFor('B to replay the revocation', async () => (await ocspStatus(`${b.validationUrl}/ocsp`, issuerDer, ackedOnA[0]!.serial)) === 'revoked', 20_000);
    assert.equal(await ocspStatus(`${b.validationUrl}/ocsp`, issuerDer, ackedOnA[1]!.serial), 'good');
    const inv = await inventory(b1.httpsUrl, ackedOnA[2]!.serial);
    assert.equal(inv.status, 200, 'the inventory is served from the replica');
    const crlList = await call(`${b1.httpUrl}/ca/bundle.pem`);
    assert.equal(crlList.status, 200);
    // Issuance on B: a clear 503 from the node itself.
    const refused = await issue(b1.httpsUrl, 'refused.example.test');
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.match(String(refused.body.detail), /region B .*replica of region A/);
    const ready = await call(`${b1.httpUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.writable, false);
    assert.match(ready.body.checks.region.detail, /replica of region A: lag [\d.]+ s/);
    const metrics = String((await call(`${b1.httpUrl}/metrics`)).body);
    assert.match(metrics, /rampart_replication_lag_seconds\{region="B"\} [\d.e+-]+/);
    assert.match(metrics, /rampart_replication_lag_bytes\{region="B"\} \d+/);
    assert.match(metrics, /rampart_region_writable\{region="B"\} 0/);
    const aMetrics = String((await call(`${a.nodes[0]!.httpUrl}/metrics`)).body);
    assert.match(aMetrics, /rampart_region_writable\{region="A"\} 1/);
    assert.match(aMetrics, /rampart_replication_standby_lag_bytes\{region="A",standby="standby2",sync_state="async"\}/);
    const status = await lab.cli(['region', 'status', '--json']);
    assert.equal(status.code, 0, status.stderr);
    const rows = JSON.parse(status.stdout).regions as Array<Record<string, any>>;
    assert.deepEqual(rows.map((r) => [r.region, r.role, r.activeRegion]), [['A', 'primary', 'A'], ['B', 'replica', 'A']]);
    assert.equal(typeof rows[1]!.lagSeconds, 'number');
  });
});
