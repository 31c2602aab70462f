/**
 * How a re-issuance campaign ends (issue 20), on an in-process node with a
 * manual clock (src/core/clock.ts) and its real SQLite store:
 * - the nodes' own TLS certificates (they stay on the old hierarchy during
 *   the campaign on purpose, each node replaces its own after the finish) do
 *   not hold the finish back; anything else outstanding does;
 * - /ca/bundle.pem lists the new hierarchy first and the old one while the
 *   campaign runs, and drops the old hierarchy once a root-loss campaign is
 *   finished;
 * - past the deadline the finish revokes the old hierarchy in bounded batches
 *   and gives the event loop back between them (a setImmediate ticker runs
 *   between every two batches);
 * - the leader's campaign job finishes the campaign by itself once the
 *   (manual) clock passes the deadline; a follower's job does not.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { ManualClock } from '../src/core/clock.js';
import type { Actor } from '../src/core/actor.js';
import { rebuildHierarchy } from '../src/ca/rebuild/hierarchy-rebuild.js';
import { CampaignJobs } from '../src/ra/campaign/campaign-jobs.js';
import { CampaignMetrics } from '../src/metrics/campaign-metrics.js';
import { ValidationPublication } from '../src/validation/publication.js';
import { parseDn } from '../src/pki/names.js';
import { sleep } from '../src/core/wait.js';
import { pemCertificates } from './helpers/acme-clients.js';
import { startInProcessNode, type InProcessTestNode, type RampartNode } from './helpers/running-node.js';

const DAY = 86_400_000;
const actor: Actor = { id: 'test', role: 'admin', source: 'local', channel: 'cli' };

describe('re-issuance campaign: the finish', () => {
  const clock = new ManualClock(Date.UTC(2027, 2, 1));
  let running: InProcessTestNode;
  let node: RampartNode;
  let n = 0;

  before(async () => {
    running = await startInProcessNode({ prefix: 'rampart-campaign-finish-', clock });
    node = running.node;
  });
  after(async () => {
    await running?.close();
  });

  /** A certificate of the active intermediate in the inventory, as `requester` under `profile`. */
  async function leaf(requester: string, profile = 'server'): Promise<string> {
    const name = `host-${++n}.finish.example.test`;
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const now = clock.now();
    const notBefore = new Date(now.getTime() - 60_000);
    const notAfter = new Date(now.getTime() + 30 * DAY);
    const s = await node.ca.signLeaf({
      subjectName: parseDn(`CN=${name}`), spki: new Uint8Array(key.publicKey.export({ type: 'spki', format: 'der' })),
      san: { dns: [name] }, keyUsage: ['digitalSignature'], extKeyUsage: ['1.3.6.1.5.5.7.3.1'], notBefore, notAfter, policies: ['2.23.140.1.2.1'],
    });
    await node.store.insertCertificate({
      serial: s.serial, issuerId: s.issuer.id, profile, subject: `CN=${name}`, sans: [name], notBefore, notAfter, der: s.der,
      status: 'good', revokedAt: null, revocationReason: null, createdAt: now, requester,
    });
    return s.serial;
  }

  async function rebuild(deadline: Date | null, kind: 'root-loss' | 'intermediate-compromise' = 'root-loss') {
    const h = node.config.hierarchy;
    const r = await rebuildHierarchy({ ca: node.ca, keys: node.keys, store: node.store, clock, urls: node.urls, lifecycle: node.issuers, ekus: h.intermediate.ekus, policies: h.intermediate.policies }, {
      kind, algorithm: 'ecdsa-p256', rootDays: h.root.validityDays, intermediateDays: h.intermediate.validityDays, ekus: h.intermediate.ekus, policies: h.intermediate.policies,
    }, actor);
    await node.campaigns.start({ kind, oldIssuers: r.oldIssuers, newIssuers: r.newIssuers, deadline, actor });
    return r;
  }

  const status = async (serial: string) => (await node.store.getCertificate(serial))!.status;
  const bundleSubjects = (p: ValidationPublication) => pemCertificates(String(p.caFile('bundle.pem')!.body)).map((pem) => new X509Certificate(pem).subject.replace(/\n/g, ', '));

  it('the node\'s own TLS certificate does not hold the finish back; the bundle drops the old hierarchy once finished', async () => {
    const nodeTls = await leaf('system', 'node-tls');
    const restA = await leaf('token:ops');
    const restB = await leaf('token:ops');
    const oldCas = node.ca.cas().map((c) => c.subject);
    const r = await rebuild(null);
    const publication = new ValidationPublication({ crl: node.crl, ca: node.ca, clock, retired: () => node.campaigns.retiredIssuers() });

    // During the campaign: the new hierarchy first, the old one still there.
    const during = bundleSubjects(publication);
    assert.deepEqual(during.slice(0, 2).sort(), [r.root.subject, r.intermediate.subject].sort());
    for (const s of oldCas) assert.ok(during.includes(s), `${s} is still in the bundle during the campaign`);

    // Two REST certificates outstanding: refused, and the count leaves the node's TLS certificate out.
    await assert.rejects(node.campaigns.finish({ actor }), /^RampartError: 2 certificate\(s\) of campaign .* are not re-issued yet/);
    await node.campaigns.reissue(restA, actor);
    await assert.rejects(node.campaigns.finish({ actor }), /^RampartError: 1 certificate\(s\) of campaign/);
    await node.campaigns.reissue(restB, actor);

    // Only the node's own TLS certificate is left: the finish goes through without force.
    assert.equal((await node.campaigns.progress()).counts.outstanding, 1);
    const fin = await node.campaigns.finish({ actor });
    assert.equal(fin.outstanding, 1);
    assert.match(fin.note, /^every certificate re-issued but the nodes' own TLS certificates/);
    assert.equal(await status(nodeTls), 'revoked', 'the node\'s old TLS certificate is revoked with the old hierarchy (the node replaces it)');
    assert.equal(await status(restA), 'revoked');

    // Finished: the old hierarchy is gone from the bundle, the new one stays.
    const done = bundleSubjects(publication);
    assert.deepEqual(done.sort(), [r.root.subject, r.intermediate.subject].sort());
    // A node that loads the finished campaign from the store (another process finished it) drops it too.
    await node.campaigns.load();
    assert.deepEqual(bundleSubjects(publication).sort(), done);
  });

  it('past the deadline the finish revokes in bounded batches and yields between them', async () => {
    const serials: string[] = [];
    for (let i = 0; i < 120; i++) serials.push(await leaf(`token:bulk-${i}`));
    await rebuild(new Date(clock.now().getTime() + DAY));
    // The 120, and what the first campaign re-issued (now of the old hierarchy too).
    const total = (await node.campaigns.progress()).counts.total;
    assert.ok(total >= 120);
    assert.equal(await node.campaigns.finishIfDue(), null, 'not before the deadline');
    await assert.rejects(node.campaigns.finish({ actor }), new RegExp(`^RampartError: ${total} certificate\\(s\\)`));
    clock.advance(DAY + 60_000);

    // A ticker on the event loop: it records how many batches were done each time it runs.
    const seen = new Set<number>();
    let batches = 0;
    let ticking = true;
    const tick = (): void => { seen.add(batches); if (ticking) setImmediate(tick); };
    setImmediate(tick);
    const sizes: number[] = [];
    let last = 0;
    const fin = await node.campaigns.finishIfDue({
      batch: 25, onBatch: (r) => { batches++; const total = r.revoked + r.alreadyRevoked + r.failed.length; sizes.push(total - last); last = total; },
    });
    ticking = false;
    assert.ok(fin);
    assert.equal(fin.revoked, total);
    assert.deepEqual(fin.failed, []);
    assert.match(fin.note, new RegExp(`^deadline reached; ${total} certificate\\(s\\) of the old hierarchy revoked \\(superseded\\), ${total} never re-issued`));
    assert.equal(sizes.length, Math.ceil(total / 25), `batches of 25: ${sizes.join(',')}`);
    assert.ok(sizes.every((x) => x > 0 && x <= 25), `batches of at most 25: ${sizes.join(',')}`);
    for (let b = 1; b < batches; b++) assert.ok(seen.has(b), `the event loop ran between batch ${b} and ${b + 1} (saw ${[...seen].join(',')})`);
    for (const s of serials) assert.equal(await status(s), 'revoked');
    assert.equal((await node.campaigns.current())!.state, 'finished');
  });

  it('the leader\'s campaign job finishes the campaign at its deadline; a follower\'s does not', async () => {
    const serials = [await leaf('token:late-1'), await leaf('token:late-2')];
    await rebuild(new Date(clock.now().getTime() + DAY));
    const metrics = new CampaignMetrics(node.metrics.registry);
    const jobs = (isLeader: boolean) => new CampaignJobs({
      campaigns: node.campaigns, events: node.events, metrics, isLeader: () => isLeader, deadlineCheckMs: 20, onError: (e) => { throw e; },
    });
    clock.advance(DAY + 60_000);
    const follower = jobs(false);
    follower.start();
    try {
      for (let i = 0; i < 10; i++) await sleep(20);
      assert.equal((await node.campaigns.current())!.state, 'active', 'a follower leaves the deadline to the leader');
    } finally {
      follower.stop();
    }
    const leader = jobs(true);
    leader.start();
    try {
      let state = 'active';
      for (let i = 0; i < 250 && state === 'active'; i++) { await sleep(20); state = (await node.campaigns.current())!.state; }
      assert.equal(state, 'finished');
      assert.match((await node.campaigns.current())!.finishNote!, /^deadline reached; 2 certificate\(s\)/);
      for (const s of serials) assert.equal(await status(s), 'revoked');
    } finally {
      leader.stop();
    }
  });

  it('after a later intermediate compromise, the bundle holds the current root and its new intermediate only', async () => {
    const compromised = node.ca.cas().find((c) => c.kind === 'intermediate' && c.active)!;
    const r = await rebuild(null, 'intermediate-compromise');
    assert.deepEqual(r.oldIssuers, [compromised.id]);
    await node.campaigns.finish({ actor, force: true });
    await node.campaigns.load();
    const publication = new ValidationPublication({ crl: node.crl, ca: node.ca, clock, retired: () => node.campaigns.retiredIssuers() });
    const subjects = bundleSubjects(publication);
    assert.ok(!subjects.includes(compromised.subject), 'the compromised (now revoked) intermediate is no longer published');
    assert.ok(subjects.includes(r.intermediate.subject) && subjects.includes(r.root.subject));
    // Nothing of the hierarchies of the earlier finished root-loss campaigns comes back (the newest campaign is not a root loss).
    const root = node.ca.root()!;
    const current = new Set(node.ca.cas().filter((c) => c.id === root.id || c.parentId === root.id).map((c) => c.subject));
    for (const s of subjects) assert.ok(current.has(s), `${s} belongs to the current root's hierarchy`);
  });
});
