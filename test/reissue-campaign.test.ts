/**
 * The re-issuance campaign after `rampart pki rebuild` (issue 20), with real
 * processes: a node on SQLite, three lego accounts (lego 4.35.2 from Debian
 * sid, ARI-aware; each its own account) holding certificates, and one
 * certificate issued over REST. Their timer (`lego renew`, lego's own
 * decision) fires before the campaign and keeps every certificate. The root
 * is declared lost and rebuilt by the CLI while the node runs. The same
 * timers of two clients then renew, only because lego asked renewal
 * information (RFC 9773; its log says so, nothing else is said to them), with
 * `replaces` naming the old certificate (stored with the order), and get certificates
 * that openssl verifies against the new root and not the old one; the third
 * never runs and is listed as outstanding in the work list (NDJSON, CSV);
 * the REST certificate is re-issued by the API from its stored public key;
 * progress shows in the CLI, the API and the metrics; finishing with --force
 * revokes the outstanding certificate of the old hierarchy.
 */
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import Database from 'better-sqlite3';
import { certIdOf } from '../src/acme/ari.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { acmeNodeEnv, pemCertificates, removeAll, waitForDirectory, writeCaFiles } from './helpers/acme-clients.js';
import { call } from './helpers/api-client.js';
import { openssl } from './helpers/openssl.js';
import { removeDir, startNode, tempDir, type NodeProcess } from './helpers/node-process.js';
import { freePort } from './helpers/ports.js';
import { rampartAsync } from './helpers/rampart-cli.js';
import { askRenewalInfo, heldCertificate, legoTimerTick } from '../src/dr/lego-timer.js';
import { ensureLego, legoCertFile, type LegoAccount, type LegoEndpoint } from '../src/dr/lego-client.js';
import { ARI_RENEWAL } from '../src/dr/scenarios/root-key-loss.js';
import { newCsr } from '../src/dr/lifecycle-check.js';
import { sleep } from '../src/core/wait.js';

describe('re-issuance campaign: ARI-driven renewal after a root rebuild', () => {
  let node: NodeProcess | undefined;
  let dir: string;
  let endpoint: LegoEndpoint;
  let ca: { bundle: string; root: string };
  let tlsCa: string;
  const accounts: LegoAccount[] = [];

  before(async () => {
    ensureLego();
    dir = tempDir('rampart-campaign-');
    const [httpPort, tlsPort] = [await freePort(), await freePort()];
    node = await startNode({ env: acmeNodeEnv({ httpPort, tlsPort }) });
    ca = await writeCaFiles(node.httpUrl, dir);
    tlsCa = readFileSync(ca.bundle, 'utf8');
    endpoint = { directory: `${node.httpsUrl}/acme/directory`, caFile: ca.bundle, httpPort };
    await waitForDirectory(endpoint.directory, ca.bundle);
    for (const name of ['alpha', 'bravo', 'charlie']) accounts.push({ name, path: join(dir, `lego-${name}`), domain: `${name}.campaign.example.test`, email: `${name}@example.test` });
  });

  after(async () => {
    await node?.stop();
    if (node) removeDir(node.dataDir);
    removeAll(dir);
  });

  it('clients renew through ARI alone; the one that never renews is outstanding; REST re-issue; finish revokes', { timeout: 600_000 }, async () => {
    const n = node!;
    const api = (path: string, o: Parameters<typeof call>[1] = {}) => call(`${n.httpsUrl}${path}`, { token: n.adminToken!, ca: tlsCa, ...o });
    for (const a of accounts) assert.equal((await legoTimerTick(a, endpoint)).action, 'obtained');
    const before = Object.fromEntries(accounts.map((a) => [a.name, heldCertificate(a).serialNumber.toLowerCase()]));
    const oldLeaves = Object.fromEntries(accounts.map((a) => [a.name, heldCertificate(a)]));
    // Before any campaign, the timers fire and lego keeps every certificate: renewal information says "not yet".
    for (const a of accounts.slice(0, 2)) {
      const t = await legoTimerTick(a, endpoint);
      assert.equal(t.action, 'kept', t.lego.output);
      assert.doesNotMatch(t.lego.output, ARI_RENEWAL);
      assert.ok((await askRenewalInfo(endpoint, oldLeaves[a.name]!)).start.getTime() > Date.now(), 'the suggested window lies ahead');
    }
    const rest = await api('/api/v1/certificates', { method: 'POST', json: { csr: await newCsr('rest.campaign.example.test'), profile: 'server' } });
    assert.equal(rest.status, 201, JSON.stringify(rest.body));

    // The root is lost: rebuild from the CLI while the node runs.
    const bundleOut = join(dir, 'new-trust.pem');
    const rb = await rampartAsync(n.dataDir, ['--json', 'pki', 'rebuild', '--trust-bundle-out', bundleOut], 120_000);
    assert.equal(rb.code, 0, rb.stderr);
    const rebuilt = JSON.parse(rb.stdout) as { root: { id: string }; campaign: { total: number; outstanding: number; byChannel: Record<string, { total: number }> } };
    // The 5th: the node's own TLS certificate (channel other).
    assert.equal(rebuilt.campaign.total, 5, JSON.stringify(rebuilt.campaign.byChannel));
    assert.equal(rebuilt.campaign.byChannel.other!.total, 1);
    assert.equal(rebuilt.campaign.byChannel.acme!.total, 3);
    assert.equal(rebuilt.campaign.byChannel.rest!.total, 1);
    const newRoot = join(dir, 'new-root.pem');
    writeFileSync(newRoot, openssl(['x509', '-in', bundleOut]).out);

    // alpha and bravo's timers fire: nothing tells them but renewal information (bounded wait for the node to pick the campaign up).
    for (const a of accounts.slice(0, 2)) {
      let tick = await legoTimerTick(a, endpoint);
      for (let i = 0; i < 60 && tick.action === 'kept'; i++) { await sleep(2000); tick = await legoTimerTick(a, endpoint); }
      assert.equal(tick.action, 'renewed', `${a.name}: lego never renewed: ${tick.lego.output.slice(-2000)}`);
      assert.match(tick.lego.output, ARI_RENEWAL, 'lego renewed because renewal information said so');
      assert.ok((await askRenewalInfo(endpoint, oldLeaves[a.name]!)).end.getTime() < Date.now(), 'the suggested window lies in the past');
      const v = openssl(['verify', '-CAfile', newRoot, '-untrusted', legoCertFile(a), legoCertFile(a)]);
      assert.equal(v.code, 0, `${a.name}'s new certificate chains to the new root: ${v.out}`);
      const old = openssl(['verify', '-CAfile', ca.root, '-untrusted', legoCertFile(a), legoCertFile(a)]);
      assert.notEqual(old.code, 0, `${a.name}'s new certificate does not chain to the old root`);
    }
    // lego named the certificate it replaces in its new orders (RFC 9773 §5), and the server took it.
    const db = new Database(join(n.dataDir, 'rampart.db'), { readonly: true });
    try {
      const replaced = (db.prepare('SELECT replaces FROM acme_orders WHERE replaces IS NOT NULL').all() as Array<{ replaces: string }>).map((r) => r.replaces).sort();
      assert.deepEqual(replaced, accounts.slice(0, 2).map((a) => certIdOf(new Uint8Array(oldLeaves[a.name]!.raw))).sort());
    } finally {
      db.close();
    }

    // The published bundle during the campaign: the new hierarchy first, the old root still in it.
    const fingerprints = (pem: string) => pemCertificates(pem).map((c) => new X509Certificate(c).fingerprint256);
    const [newRootFp] = fingerprints(readFileSync(newRoot, 'utf8'));
    const [oldRootFp] = fingerprints(readFileSync(ca.root, 'utf8'));
    const published = async () => fingerprints((await call(`${n.httpUrl}/ca/bundle.pem`)).raw.toString());
    const during = await published();
    assert.equal(during[0], newRootFp, 'the new root comes first');
    assert.ok(during.includes(oldRootFp!), 'the old root is still published during the campaign');

    // REST: the work list names it; the API re-issues it from the stored public key.
    const csv = await api('/api/v1/campaign/items?format=csv&outstanding=true');
    assert.equal(csv.status, 200);
    const lines = csv.raw.toString().trim().split('\n');
    assert.match(lines[0]!, /^serial,channel,requester,profile,subject,names,notAfter,state,replacedBy,replacedAt$/);
    const restSerial = (rest.body as { serial: string }).serial;
    assert.ok(lines.some((l) => l.startsWith(`${restSerial},rest,`)), csv.raw.toString());
    const re = await api(`/api/v1/campaign/items/${restSerial}/reissue`, { method: 'POST', json: {} });
    assert.equal(re.status, 201, JSON.stringify(re.body));
    const again = await api(`/api/v1/campaign/items/${restSerial}/reissue`, { method: 'POST', json: {} });
    assert.equal(again.status, 409, 'a second re-issue is refused');
    const bad = await api('/api/v1/campaign/items/zz-not-hex/reissue', { method: 'POST', json: {} });
    assert.equal(bad.status, 400);

    // charlie never renews: it is the one outstanding item.
    const nd = await api('/api/v1/campaign/items?outstanding=true');
    const outstanding = nd.raw.toString().trim().split('\n').map((l) => JSON.parse(l) as { serial: string; channel: string; requester: string; state: string });
    assert.deepEqual(outstanding.filter((o) => o.channel !== 'other').map((o) => o.serial), [before.charlie]);
    assert.ok(outstanding.every((o) => o.state === 'outstanding'));
    const progress = await api('/api/v1/campaign');
    assert.equal(progress.status, 200);
    assert.deepEqual({ total: progress.body.total, reissued: progress.body.reissued, outstanding: progress.body.outstanding }, { total: 5, reissued: 3, outstanding: 2 });
    const st = await rampartAsync(n.dataDir, ['pki', 'campaign', 'status'], 60_000);
    assert.match(st.stdout, /3 of 5 re-issued, 2 outstanding/);
    let metrics = '';
    for (let i = 0; i < 40 && !/rampart_campaign_certificates\{channel="acme",state="outstanding"\} 1\b/.test(metrics); i++) {
      await sleep(1000);
      metrics = (await call(`${n.httpUrl}/metrics`)).raw.toString();
    }
    assert.match(metrics, /rampart_campaign_certificates\{channel="acme",state="reissued"\} 2\b/);
    assert.match(metrics, /rampart_campaign_active 1\b/);

    // Finishing is refused while one is outstanding; --force revokes the old hierarchy's remaining certificates.
    const refused = await api('/api/v1/campaign/finish', { method: 'POST', json: {} });
    assert.equal(refused.status, 409);
    const fin = await rampartAsync(n.dataDir, ['--json', 'pki', 'campaign', 'finish', '--force'], 120_000);
    assert.equal(fin.code, 0, fin.stderr);
    const finished = JSON.parse(fin.stdout) as { revoked: number; outstanding: number };
    assert.equal(finished.outstanding, 2);
    const charlie = await api(`/api/v1/certificates/${before.charlie}`);
    assert.equal(charlie.body.status, 'revoked');
    const alphaOld = await api(`/api/v1/certificates/${before.alpha}`);
    assert.equal(alphaOld.body.status, 'revoked', 'the replaced certificates of the old hierarchy are revoked too');
    // Finished (by another process): within its 30 s reload the node's bundle drops the old hierarchy.
    let after = await published();
    for (let i = 0; i < 60 && after.includes(oldRootFp!); i++) { await sleep(1000); after = await published(); }
    assert.ok(!after.includes(oldRootFp!), 'the old root is no longer published');
    assert.equal(after[0], newRootFp);
  });
});
