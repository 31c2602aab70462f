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
import 'reflect-metadata';
import { X509Crl } from '@peculiar/x509';
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
    // CRLs from the replica: the intermediate's, with the revocation in it.
    const crlLine = /CRL\s+(http:\/\/\S+\/crl\/int-\S+\.crl)/.exec(b1.output());
    assert.ok(crlLine, 'b1 printed its intermediate CRL URL');
    await waitFor('the CRL with the revocation replicated to B', async () => {
      const crl = await call(crlLine![1]!);
      if (crl.status !== 200) return false;
      const norm = (x: string) => x.toLowerCase().replace(/^0+/, '');
      return new X509Crl(new Uint8Array(crl.raw)).entries.some((e) => norm(e.serialNumber) === norm(ackedOnA[0]!.serial));
    }, 20_000);
    // Issuance on B: a clear 503 from the node itself.
    const refused = await issue(b1.httpsUrl, 'refused.example.test');
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.match(String(refused.body.detail), /region B .*replica of region A/);
    // Through B's HAProxy: the inventory (reads go to every ready node), but no issuance (no node takes writes).
    let viaLb = { status: 0, headers: {} as Record<string, unknown> };
    await waitFor('the inventory through B\'s HAProxy', async () => (viaLb = await inventory(b.apiUrl, ackedOnA[2]!.serial)).status === 200, 20_000);
    assert.match(String(viaLb.headers['x-rampart-node']), /^b[12]$/);
    assert.equal((await issue(b.apiUrl, 'refused-lb.example.test')).status, 503);
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
    // `rampart cluster status` on region B's side shows the replica and its lag.
    const cs = await lab.cli(['cluster', 'status'], 60_000, 'B');
    assert.equal(cs.code, 0, cs.stderr);
    assert.match(cs.stdout, /region: B\s+database: replica\s+active region: A \(epoch 1, timeline 1\)\s+read-only\s+lag: [\d.]+ s, \d+ bytes/);
    assert.match(cs.stdout, /peer region A: primary, active A epoch 1/);
  });

  /** OCSP requests in a loop against one validation URL until stopped (bounded). */
  function ocspLoad(url: string, serials: () => string[]) {
    const stats = { ok: 0, fail: 0, errors: [] as string[], stop: false };
    const done = (async () => {
      for (let i = 0; !stats.stop && i < 100_000; i++) {
        const list = serials();
        try {
          await ocspStatus(`${url}/ocsp`, issuerDer, list[i % list.length]!);
          stats.ok++;
        } catch (e) {
          stats.fail++;
          if (stats.errors.length < 5) stats.errors.push((e as Error).message);
        }
        await sleep(10);
      }
    })();
    return { stats, stop: async () => { stats.stop = true; await done; } };
  }

  const divergent: Issued[] = [];
  let divergentRevocation = '';

  it('region-failover drill: A lost under load, OCSP from B throughout, failover to B, issuance resumes', async (t) => {
    const a = lab.sites.A;
    const b = lab.sites.B;
    const received = ackedOnA.map((x) => x.serial);
    const onB = ocspLoad(b.validationUrl, () => received);
    const onA = ocspLoad(a.validationUrl, () => received);
    // Issuance load on A through its HAProxy; every fourth certificate revoked.
    const t0 = Date.now();
    for (let i = 0; Date.now() - t0 < 3000 && i < 200; i++) {
      const r = await issue(a.apiUrl, `load-${i}.example.test`);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const rec = { serial: r.serial!, revoked: false };
      if (i % 4 === 3) {
        assert.equal((await revoke(a.apiUrl, rec.serial)).status, 200);
        rec.revoked = true;
      }
      ackedOnA.push(rec);
    }
    // B has everything so far; then a partition cuts its replication while A keeps going.
    const aLsn = await lab.pg.psql('SELECT pg_current_wal_lsn()', lab.db.aPrimary.port);
    await waitFor('B to replay A', async () => (await lab.pg.psql(`SELECT pg_last_wal_replay_lsn() >= '${aLsn}'::pg_lsn`, lab.db.bReplica.port)) === 't', 30_000);
    received.splice(0, received.length, ...ackedOnA.map((x) => x.serial));
    const expectedOnB = new Map(ackedOnA.map((x) => [x.serial, x.revoked]));
    await lab.pg.psql("ALTER SYSTEM SET primary_conninfo = ''", lab.db.bReplica.port);
    await lab.pg.psql('SELECT pg_reload_conf()', lab.db.bReplica.port);
    await waitFor('B\'s WAL receiver to stop', async () => (await lab.pg.psql('SELECT count(*) FROM pg_stat_wal_receiver', lab.db.bReplica.port)) === '0', 30_000);
    for (let i = 0; i < 3; i++) {
      const r = await issue(a.apiUrl, `partition-${i}.example.test`);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      divergent.push({ serial: r.serial!, revoked: false });
    }
    divergentRevocation = ackedOnA.find((x) => !x.revoked)!.serial;
    assert.equal((await revoke(a.apiUrl, divergentRevocation)).status, 200);

    // All of region A is lost.
    const tKill = Date.now();
    for (let i = 0; i < a.nodes.length; i++) await lab.killNode('A', i);
    await a.haproxy?.stop();
    await lab.pg.kill(lab.db.aPrimary);
    await lab.pg.kill(lab.db.aStandby);
    await sleep(1000);

    const fo = await lab.cli(['failover', 'region', '--to', 'B', '--token', lab.token, '--json']);
    assert.equal(fo.code, 0, `${fo.stderr}\n${fo.stdout}`);
    const report = JSON.parse(fo.stdout);
    for (const l of fo.stderr.trim().split('\n')) if (!l.startsWith('…')) t.diagnostic(l);
    assert.equal(report.from, 'A');
    assert.equal(report.to, 'B');
    assert.equal(report.fencedSource, false, 'A was unreachable: not fenced, and said so');
    assert.match(report.fenceNote, /NOT fenced/);
    assert.equal(report.epoch, '2');
    assert.ok(report.timeline >= 2, `B's database is on a new timeline (${report.timeline})`);
    assert.equal(typeof report.rtoSeconds, 'number');
    assert.ok(report.verifiedSerial, 'issuance was verified on B');
    assert.deepEqual(JSON.parse(readFileSync(lab.dnsFile, 'utf8')).records['ca.rampart.test'].targets, [b.dnsTarget]);

    // Issuance resumes through B's HAProxy.
    let resumed: { status: number; serial?: string; body?: unknown } = { status: 0 };
    try {
      await waitFor('issuance through B\'s HAProxy', async () => (resumed = await issue(b.apiUrl, 'after-failover.example.test')).status === 201, 30_000);
    } catch (e) {
      const states = await Promise.all(b.nodes.map(async (n) => (await call(`${n!.httpUrl}/readyz?write=1`)).body));
      throw new Error(`${(e as Error).message}; last answer ${resumed.status} ${JSON.stringify(resumed.body)}; B nodes: ${JSON.stringify(states.map((x: any) => [x.writable, x.checks?.region?.detail]))}`);
    }
    const rto = (Date.now() - tKill) / 1000;
    ackedOnB.push({ serial: resumed.serial!, revoked: false });
    t.diagnostic(`RTO: ${rto.toFixed(1)} s from killing region A to the first issuance through region B's HAProxy (failover report: ${report.rtoSeconds.toFixed(1)} s from A's last replayed heartbeat; command ${report.commandSeconds.toFixed(1)} s)`);

    await onA.stop();
    await onB.stop();
    t.diagnostic(`OCSP on B: ${onB.stats.ok} answers, ${onB.stats.fail} failures; on A: ${onA.stats.ok} answers, ${onA.stats.fail} failures (A was killed)`);
    assert.equal(onB.stats.fail, 0, `OCSP from B never failed: ${onB.stats.errors.join('; ')}`);
    assert.ok(onB.stats.ok > 50, `OCSP from B answered throughout (${onB.stats.ok})`);
    assert.ok(onA.stats.fail > 0, 'the OCSP load on A did see A go away');

    // Everything B had received: valid, and every revocation still revoked.
    for (const [serial, revoked] of expectedOnB) {
      assert.equal(await ocspStatus(`${b.validationUrl}/ocsp`, issuerDer, serial), revoked ? 'revoked' : 'good', serial);
    }
    // What A acknowledged after the partition never reached B (the RPO of this drill).
    for (const d of divergent) assert.equal((await inventory(b.nodes[0]!.httpsUrl, d.serial)).status, 404);
    assert.equal(await ocspStatus(`${b.validationUrl}/ocsp`, issuerDer, divergentRevocation), 'good');
    t.diagnostic(`RPO: ${divergent.length} issuances and 1 revocation acknowledged by A during the partition are not in B`);
    assert.equal(await lab.pg.psql("SELECT count(*) FROM audit_log WHERE action = 'region.failover'", lab.db.bReplica.port, 'rampart'), '1');
    // A was not fenced, so it may have published CRLs B never saw: B's CRL numbers jumped ahead.
    // (A CA whose first CRL B had not replayed starts at exactly 1,000,000: its next CRL is 1,000,001.)
    const counters = await lab.pg.psql("SELECT string_agg(issuer_id || '=' || last_number, ', ') FROM crl_counters", lab.db.bReplica.port, 'rampart');
    assert.ok(Number(await lab.pg.psql('SELECT min(last_number) FROM crl_counters', lab.db.bReplica.port, 'rampart')) >= 1_000_000, `CRL counters on B: ${counters}`);
    assert.equal(await lab.pg.psql("SELECT count(*) FROM issuers i WHERE kind IN ('root', 'intermediate') AND NOT EXISTS (SELECT 1 FROM crl_counters c WHERE c.issuer_id = i.id)", lab.db.bReplica.port, 'rampart'), '0', 'every CA has a counter');
    // Region B's nodes now report it active.
    const ready = await call(`${b.nodes[1]!.httpUrl}/readyz?write=1`);
    assert.equal(ready.status, 200);
    assert.match(ready.body.checks.region.detail, /active region \(epoch 2/);
  });

  it('a returning A is fenced: B is active at a higher epoch on a later timeline; A refuses issuance, also inside the transaction', async (t) => {
    const a = lab.sites.A;
    await lab.pg.start(lab.db.aPrimary);
    await lab.pg.start(lab.db.aStandby);
    // The old primary comes back as a primary, on its old timeline, still naming itself active.
    assert.equal(await lab.pg.psql('SELECT pg_is_in_recovery()', lab.db.aPrimary.port), 'f');
    for (let i = 0; i < a.nodes.length; i++) await lab.startNode('A', i);
    const a1 = a.nodes[0]!;
    const refused = await issue(a1.httpsUrl, 'split-brain.example.test');
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.match(String(refused.body.detail), /region A does not accept issuance.*region B is active at epoch 2/);
    assert.equal((await revoke(a1.httpsUrl, ackedOnA[1]!.serial)).status, 503, 'nor revocation');
    // Nor administrative writes: a token created here would vanish when A is rewound at failback.
    const tok = await call(`${a1.httpsUrl}/api/v1/tokens`, { token: lab.token, ca: lab.caPem, json: { name: 'split-brain-token', role: 'issuer' } });
    assert.equal(tok.status, 503, JSON.stringify(tok.body));
    assert.match(String(tok.body.detail), /region A does not accept writes now: .*region B is active at epoch 2/);
    assert.equal((await call(`${a1.httpsUrl}/api/v1/operators`, { token: lab.token, ca: lab.caPem })).status, 200, 'reads still work');
    const cliTok = await lab.cli(['token', 'create', '--role', 'issuer', '--name', 'split-brain-token'], 60_000, 'A');
    assert.equal(cliTok.code, 1, `${cliTok.stdout}\n${cliTok.stderr}`);
    assert.match(cliTok.stderr, /region A does not accept writes now: .*region B is active at epoch 2/);
    assert.equal(await lab.pg.psql("SELECT count(*) FROM api_tokens WHERE name = 'split-brain-token'", lab.db.aPrimary.port, 'rampart'), '0');
    // The fence is in A's own database, so every node of A sees it.
    assert.equal(await lab.pg.psql('SELECT active_region || \' \' || epoch FROM region_state', lab.db.aPrimary.port, 'rampart'), 'B 2');
    assert.equal(await lab.pg.psql("SELECT count(*) > 0 FROM audit_log WHERE action = 'region.fenced'", lab.db.aPrimary.port, 'rampart'), 't');
    const ready = await call(`${a.nodes[1]!.httpUrl}/readyz?write=1`);
    assert.equal(ready.status, 503);
    assert.equal(ready.body.writable, false);
    assert.match(ready.body.checks.region.detail, /timeline 1\)/);
    const metrics = String((await call(`${a1.httpUrl}/metrics`)).body);
    assert.match(metrics, /rampart_region_fenced\{region="A"\} 1/);
    // A write carrying A's old region fence (a node that had not re-checked) is refused in its transaction,
    // for the epoch and for the timeline.
    const { PostgresStore } = await import('../src/storage/postgres/postgres-store.js');
    const store = new PostgresStore({ hosts: [lab.db.aPrimary.host], database: 'rampart', user: 'rampart', retryForMs: 0 });
    try {
      const good = ackedOnA.find((x) => !x.revoked && x.serial !== divergentRevocation)!;
      const rec = (await store.getCertificate(good.serial))!;
      const dummy = { ...rec, serial: 'aa'.repeat(16) };
      await assert.rejects(store.insertCertificate(dummy, undefined, { lease: '', holder: '', epoch: 0n, region: { name: 'A', epoch: 1n, timeline: 1 } }), /region A \(epoch 1\) is no longer the active region/);
      await assert.rejects(store.revokeCertificate(rec.serial, 1, new Date(), undefined, { lease: '', holder: '', epoch: 0n, region: { name: 'B', epoch: 2n, timeline: 2 } }), /timeline 1, not 2/);
      assert.equal(await store.getCertificate(dummy.serial), null);
      assert.equal((await store.getCertificate(rec.serial))!.status, 'good');
    } finally {
      await store.close();
    }
    t.diagnostic(ready.body.checks.region.detail);
  });

  it('planned failback to A: divergent writes recovered, A rewound as replica, switchover with zero loss, B back as replica', async (t) => {
    const a = lab.sites.A;
    const b = lab.sites.B;
    // More issuance on B while it is active.
    for (let i = 0; i < 3; i++) {
      const r = await issue(b.apiUrl, `on-b-${i}.example.test`);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      ackedOnB.push({ serial: r.serial!, revoked: false });
    }
    assert.equal((await revoke(b.apiUrl, ackedOnB[0]!.serial)).status, 200);
    ackedOnB[0]!.revoked = true;
    // A's in-region (synchronous) standby followed A's old timeline: it is rebuilt too, before A takes writes.
    const fb = await lab.cli(['failback', '--to', 'A', '--token', lab.token, '--rebuild-pgdata', lab.db.aPrimary.dataDir,
      '--rebuild-standby-pgdata', lab.db.aStandby.dataDir, '--demote-pgdata', lab.db.bReplica.dataDir, '--json'], 300_000);
    for (const l of fb.stderr.trim().split('\n')) if (!l.startsWith('…') && !l.startsWith('    ')) t.diagnostic(l);
    assert.equal(fb.code, 0, `${fb.stderr}\n${fb.stdout}`);
    const report = JSON.parse(fb.stdout);
    assert.equal(report.from, 'B');
    assert.equal(report.to, 'A');
    assert.equal(report.epoch, '3');
    assert.equal(report.lostBytes, 0, 'switchover lost nothing');
    assert.deepEqual([...report.reconcile.recoveredCertificates].sort(), divergent.map((d) => d.serial).sort());
    assert.deepEqual(report.reconcile.recoveredRevocations, [divergentRevocation]);
    assert.ok(['rewind', 'basebackup'].includes(report.rebuildMethod));
    assert.ok(['rewind', 'basebackup'].includes(report.demoteMethod));
    assert.ok(report.verifiedSerial);
    t.diagnostic(`failback: switchover ${report.switchoverSeconds.toFixed(1)} s, A rebuilt by ${report.rebuildMethod}, B by ${report.demoteMethod}`);
    assert.deepEqual(JSON.parse(readFileSync(lab.dnsFile, 'utf8')).records['ca.rampart.test'].targets, [a.dnsTarget]);
    lab.pg.setPrimary(lab.db.aPrimary);
    assert.equal(await lab.pg.psql('SELECT pg_is_in_recovery()', lab.db.aPrimary.port), 'f');
    assert.equal(await lab.pg.psql('SELECT pg_is_in_recovery()', lab.db.bReplica.port), 't');
    assert.equal(await lab.pg.psql("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'", lab.db.aPrimary.port), 'sync', 'A\'s in-region standby is synchronous again');
    assert.equal(await lab.pg.psql('SELECT active_region || \' \' || epoch FROM region_state', lab.db.aPrimary.port, 'rampart'), 'A 3');

    // Every acknowledged issuance and revocation (A before the loss, A during the partition, B after): in A's inventory.
    await lab.startHaproxy('A');
    const all = [...ackedOnA, ...divergent.map((d) => ({ ...d })), ...ackedOnB];
    const revokedSet = new Set([...all.filter((x) => x.revoked).map((x) => x.serial), divergentRevocation]);
    for (const x of all) {
      assert.equal((await inventory(a.nodes[0]!.httpsUrl, x.serial)).status, 200, `${x.serial} in A's inventory`);
      assert.equal(await ocspStatus(`${a.validationUrl}/ocsp`, issuerDer, x.serial), revokedSet.has(x.serial) ? 'revoked' : 'good', x.serial);
    }
    // A issues again through its HAProxy; B is a replica again: validation only.
    let again: { status: number; serial?: string } = { status: 0 };
    await waitFor('issuance through A\'s HAProxy', async () => (again = await issue(a.apiUrl, 'after-failback.example.test')).status === 201, 30_000);
    await waitFor('B to replay A\'s new certificate', async () => (await ocspStatus(`${b.validationUrl}/ocsp`, issuerDer, again.serial!)) === 'good', 30_000);
    // B's nodes are read-only again, every one still running: its database was rewound under it, which
    // once killed a node (postgres.js writing to a dropped connection; see src/main/process-guard.ts).
    for (const n of b.nodes) {
      assert.ok(n && n.child.exitCode === null && n.child.signalCode === null,
        `B node ${n?.httpsUrl} exited (${n?.child.exitCode ?? n?.child.signalCode}):\n${n?.output().split('\n').slice(-30).join('\n')}`);
    }
    for (const n of b.nodes) await waitFor(`${n!.httpsUrl} to be read-only again`, async () => (await issue(n!.httpsUrl, 'b-again.example.test')).status === 503, 20_000);
    assert.equal(await lab.pg.psql("SELECT count(*) FROM audit_log WHERE action IN ('region.failover', 'region.failback')", lab.db.aPrimary.port, 'rampart'), '2');
    assert.equal(await lab.pg.psql("SELECT count(*) FROM audit_log WHERE action = 'certificate.recover'", lab.db.aPrimary.port, 'rampart'), String(divergent.length));
    // What the process guard caught on any node through the whole drill (information, not a failure).
    for (const n of [...a.nodes, ...b.nodes]) {
      const caught = (n?.output() ?? '').split('\n').filter((l) => /porsager\/postgres#1208|unhandled promise rejection/.test(l));
      if (caught.length) t.diagnostic(`process guard on ${n!.httpsUrl}: ${caught.length} event(s): ${caught[0]!.slice(0, 300)}`);
    }
  });
});
