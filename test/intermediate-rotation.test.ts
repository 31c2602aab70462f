/**
 * Intermediate rotation with an online root (`rampart ca rotate`): the new
 * intermediate takes over issuance, the old one keeps answering OCSP and
 * publishing CRLs for what it issued, checked with the real openssl client on
 * a real node. Then retirement on an in-process node with a manual clock: an
 * inactive intermediate whose certificates have all expired gets no new CRLs
 * or OCSP signers and no longer shows in health.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call } from './helpers/api-client.js';
import { RAMPART_BIN } from './helpers/node-process.js';
import { makeCsr, mustOpenssl, openssl } from './helpers/openssl.js';
import { startInProcessNode, startTestNode, type InProcessTestNode, type RampartNode, type TestNode } from './helpers/running-node.js';
import { ManualClock } from '../src/core/clock.js';
import { signRotatedIntermediate } from '../src/ca/rotation.js';
import { IssuerRetirement } from '../src/ca/retirement.js';
import { parseDn } from '../src/pki/names.js';

function rampart(dataDir: string, args: string[]) {
  const r = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', dataDir, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function json(dataDir: string, args: string[]) {
  const r = rampart(dataDir, ['--json', ...args]);
  assert.equal(r.code, 0, `rampart ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout);
}

const DAY = 86_400_000;

describe('intermediate rotation (online root)', () => {
  let node: TestNode;
  let dir: string;
  let dataDir: string;
  const f = (n: string) => join(dir, n);
  let base: string;
  let token: string;
  let ca: string;

  before(async () => {
    node = await startTestNode({ prefix: 'rampart-rotation-', publicBaseUrl: true });
    ({ dir, dataDir } = node);
    base = node.httpUrl;
    token = node.adminToken!;
    const issuers = (await call(`${node.httpsUrl}/api/v1/issuers`, { token, ca: node.ca })).body.items;
    ca = issuers.find((i: { kind: string }) => i.kind === 'root').certificatePem;
    writeFileSync(f('root.pem'), ca);
  });
  after(async () => {
    await node?.close();
  });

  async function issuersNow(): Promise<Array<{ id: string; kind: string; active: boolean; subject: string; certificatePem: string; parentId: string | null }>> {
    return (await call(`${node.httpsUrl}/api/v1/issuers`, { token, ca })).body.items;
  }

  async function issue(name: string): Promise<{ serial: string; leaf: string; issuerId: string }> {
    const { csrPath } = makeCsr(dir, name, { subj: `/CN=${name}`, san: `DNS:${name}` });
    const r = await call(`${node.httpsUrl}/api/v1/certificates`, { token, ca, json: { csr: readFileSync(csrPath, 'utf8'), profile: 'server' } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    writeFileSync(f(`${name}.pem`), r.body.certificatePem);
    return { serial: r.body.serial, leaf: f(`${name}.pem`), issuerId: r.body.issuerId };
  }

  function ocsp(issuer: string, cert: string): string {
    return mustOpenssl(['ocsp', '-issuer', issuer, '-cert', cert, '-CAfile', f('root.pem'), '-url', `${base}/ocsp`]);
  }

  it('issues under intermediate 2 after the rotation while intermediate 1 keeps serving OCSP and its CRL', async () => {
    const before = await issuersNow();
    const int1 = before.find((i) => i.kind === 'intermediate' && i.active)!;
    writeFileSync(f('int1.pem'), int1.certificatePem);
    const old = await issue('old.rotation.test');
    const other = await issue('other.rotation.test');
    assert.equal(old.issuerId, int1.id);

    await node.stop();
    const rotated = json(dataDir, ['ca', 'rotate']);
    assert.equal(rotated.previous.id, int1.id);
    assert.equal(rotated.intermediate.subject, 'CN=Rampart Dev Issuing CA 2, O=Rampart, C=XX');
    assert.equal(rotated.root.keyOnline, true);
    const int2Id: string = rotated.intermediate.id;
    const again = rampart(dataDir, ['ca', 'rotate', '--subject', 'CN=Rampart Dev Issuing CA 2, O=Rampart, C=XX']);
    assert.notEqual(again.code, 0, 'two intermediates never share a name');
    assert.match(again.stderr, /exists or is requested/);
    await node.start();

    const after = await issuersNow();
    const int2 = after.find((i) => i.id === int2Id)!;
    assert.equal(int2.active, true);
    assert.equal(after.find((i) => i.id === int1.id)!.active, false);
    assert.ok(after.some((i) => i.kind === 'ocsp-signer' && i.parentId === int2Id), 'the new intermediate has its OCSP signer');
    writeFileSync(f('int2.pem'), int2.certificatePem);
    assert.match(mustOpenssl(['verify', '-x509_strict', '-CAfile', f('root.pem'), f('int2.pem')]), /: OK/);
    // Overlap: both intermediates are valid now.
    assert.match(mustOpenssl(['verify', '-x509_strict', '-CAfile', f('root.pem'), f('int1.pem')]), /: OK/);

    const fresh = await issue('new.rotation.test');
    assert.equal(fresh.issuerId, int2Id);
    assert.match(mustOpenssl(['x509', '-in', fresh.leaf, '-noout', '-issuer']), /Rampart Dev Issuing CA 2/);
    assert.match(mustOpenssl(['verify', '-CAfile', f('root.pem'), '-untrusted', f('int2.pem'), fresh.leaf]), /: OK/);
    assert.notEqual(openssl(['verify', '-CAfile', f('root.pem'), '-untrusted', f('int1.pem'), fresh.leaf]).code, 0);

    for (const [issuer, cert] of [[f('int1.pem'), old.leaf], [f('int2.pem'), fresh.leaf]] as const) {
      const r = ocsp(issuer, cert);
      assert.match(r, /Response verify OK/);
      assert.match(r, /: good/);
    }

    // Revoke the old certificate: OCSP from intermediate 1 says revoked, and intermediate 1's CRL lists it.
    const rv = await call(`${node.httpsUrl}/api/v1/certificates/${old.serial}/revoke`, { token, ca, json: { reason: 'superseded' } });
    assert.equal(rv.status, 200, JSON.stringify(rv.body));
    const revoked = ocsp(f('int1.pem'), old.leaf);
    assert.match(revoked, /Response verify OK/);
    assert.match(revoked, /: revoked/);
    let crlText = '';
    for (let i = 0; i < 50; i++) {
      const crl = await call(`${base}/crl/${int1.id}.crl`);
      writeFileSync(f('int1.crl'), crl.raw);
      crlText = mustOpenssl(['crl', '-inform', 'DER', '-in', f('int1.crl'), '-text', '-noout']);
      if (crlText.toUpperCase().includes(old.serial.toUpperCase())) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(crlText.toUpperCase().includes(old.serial.toUpperCase()), `intermediate 1's CRL lists ${old.serial}:\n${crlText}`);
    writeFileSync(f('int1.crl.pem'), mustOpenssl(['crl', '-inform', 'DER', '-in', f('int1.crl')]));
    assert.match(mustOpenssl(['crl', '-in', f('int1.crl.pem'), '-CAfile', f('int1.pem'), '-noout']), /verify OK/);
    const check = openssl(['verify', '-crl_check', '-CAfile', f('root.pem'), '-untrusted', f('int1.pem'), '-CRLfile', f('int1.crl.pem'), old.leaf]);
    assert.notEqual(check.code, 0);
    assert.match(check.out, /certificate revoked/);
    assert.match(mustOpenssl(['verify', '-crl_check', '-CAfile', f('root.pem'), '-untrusted', f('int1.pem'), '-CRLfile', f('int1.crl.pem'), other.leaf]), /: OK/);
    assert.match(ocsp(f('int1.pem'), other.leaf), /: good/);

    // Issuance goes on under intermediate 2.
    assert.equal((await issue('later.rotation.test')).issuerId, int2Id);

    // Health and metrics show both CAs' expiry.
    const ready = await call(`${node.httpUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.status, 'healthy', JSON.stringify(ready.body.checks));
    assert.equal(ready.body.checks.caExpiry.status, 'pass');
    assert.match(ready.body.checks.caExpiry.detail, new RegExp(`earliest CA expiry in \\d+ days \\(${int2Id}\\)`));
    assert.match(ready.body.checks.caExpiry.detail, new RegExp(`${int1.id} \\(inactive, serving OCSP/CRL\\) expires in \\d+ days`));
    const metrics = String((await call(`${node.httpUrl}/metrics`)).raw);
    for (const id of [int1.id, int2Id]) {
      assert.match(metrics, new RegExp(`rampart_ca_certificate_expiry_timestamp_seconds\\{issuer="${id}",kind="intermediate"\\} \\d`));
    }
    const listed = json(dataDir, ['ca']);
    assert.equal(listed.issuers.find((i: { id: string }) => i.id === int1.id).state, 'serving');
    assert.equal(listed.issuers.find((i: { id: string }) => i.id === int2Id).state, 'active');
  });
});

describe('intermediate retirement (manual clock)', () => {
  const clock = new ManualClock(Date.UTC(2027, 0, 10));
  let running: InProcessTestNode;
  let node: RampartNode;

  before(async () => {
    running = await startInProcessNode({ prefix: 'rampart-retire-', clock, bootstrap: false });
    node = running.node;
    await node.issuers.createHierarchy(node.config.hierarchy, { id: 'test', role: 'admin', source: 'local', channel: 'cli' });
  });
  after(async () => {
    await running?.close();
  });

  async function leaf(validDays: number): Promise<string> {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const now = clock.now();
    const s = await node.ca.signLeaf({
      subjectName: parseDn('CN=retire.example.test'), spki: new Uint8Array(key.publicKey.export({ type: 'spki', format: 'der' })),
      san: { dns: ['retire.example.test'] }, keyUsage: ['digitalSignature'], extKeyUsage: ['1.3.6.1.5.5.7.3.1'],
      notBefore: new Date(now.getTime() - 60_000), policies: ['2.23.140.1.2.1'], notAfter: new Date(now.getTime() + validDays * DAY),
    });
    await node.store.insertCertificate({
      serial: s.serial, issuerId: s.issuer.id, profile: 'server', subject: 'CN=retire.example.test', sans: ['retire.example.test'],
      notBefore: new Date(now.getTime() - 60_000), notAfter: new Date(now.getTime() + validDays * DAY), der: s.der, status: 'good',
      revokedAt: null, revocationReason: null, createdAt: now, requester: 'test',
    });
    return s.serial;
  }

  it('an inactive intermediate serves until its last certificate expires, then gets no new CRLs or OCSP signers and leaves health', async () => {
    const int1 = node.ca.active();
    await leaf(5);
    const bundle = await signRotatedIntermediate({
      ca: node.ca, keys: node.keys, store: node.store, clock, urls: node.urls, subject: 'CN=Retire Test Issuing CA 2, O=Rampart', algorithm: 'ecdsa-p256', validityDays: 365,
    });
    const plan = await node.issuers.importIntermediate(bundle, { id: 'test', role: 'admin', source: 'local', channel: 'cli' }, 'ca.rotate');
    const int2 = plan.intermediate;
    assert.equal(node.ca.active().id, int2.id);
    assert.equal(plan.previous!.id, int1.id);

    const fresh = () => new IssuerRetirement({ store: node.store, clock });
    assert.equal(await fresh().state(node.ca.get(int1.id)!), 'serving');
    let report = await node.health.run(clock.now());
    assert.match(report.checks.caExpiry!.detail, new RegExp(`${int1.id} \\(inactive, serving`));
    await node.crl.refreshStale();
    const crlWhileServing = (await node.store.latestCrl(int1.id))!.number;

    // Six days later the one certificate of intermediate 1 has expired.
    clock.advance(6 * DAY);
    assert.equal(await fresh().state(node.ca.get(int1.id)!), 'retired');
    report = await node.health.run(clock.now());
    assert.equal(report.checks.caExpiry!.status, 'pass', report.checks.caExpiry!.detail);
    assert.doesNotMatch(report.checks.caExpiry!.detail, new RegExp(int1.id));

    // Past half the CRL validity: the serving CA's CRL is renewed, the retired one's is not.
    clock.advance(1 * DAY);
    const int2Before = (await node.store.latestCrl(int2.id))!.number;
    await node.crl.refreshStale();
    await node.crl.idle();
    assert.equal((await node.store.latestCrl(int1.id))!.number, crlWhileServing, 'no new CRL for the retired intermediate');
    assert.ok((await node.store.latestCrl(int2.id))!.number > int2Before, 'the active intermediate\'s CRL is renewed');

    // Inside the OCSP signer renewal window: the active CA gets a new signer, the retired one does not.
    const signer1 = node.ca.ocspSignerOf(int1.id)!.id;
    const signer2 = node.ca.ocspSignerOf(int2.id)!.id;
    clock.advance(15 * DAY);
    await node.issuers.ensureOcspSigners();
    assert.notEqual(node.ca.ocspSignerOf(int2.id)!.id, signer2, 'renewed for the active intermediate');
    assert.equal(node.ca.ocspSignerOf(int1.id)!.id, signer1, 'not renewed for the retired intermediate');
  });
});
