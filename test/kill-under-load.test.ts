/**
 * kill -9 under concurrent issuance load loses nothing acknowledged.
 *
 * 32 client loops issue certificates over keep-alive HTTPS, each logical
 * request with its own Idempotency-Key (503 + Retry-After answers are retried
 * with the same key, as a client does). After a few hundred acknowledgements
 * the node is killed with SIGKILL while requests are in flight, then started
 * again on the same data directory. Then:
 *
 * - every acknowledged serial is there (JSON and DER, the DER parses and
 *   carries that serial);
 * - the audit chain verifies with the real CLI, and every certificate of the
 *   run has exactly one `certificate.issue` success entry (and no such entry
 *   names a certificate that is not stored);
 * - the idempotency keys dedupe: replaying each acknowledged request (same
 *   key, same body) answers 200 replayed with the same serial; replaying each
 *   request left without an answer at the kill answers either the certificate
 *   it committed before the kill or a new one, and a second replay the same;
 * - the inventory (our subjects) is exactly the serials handed to us: no
 *   certificate was committed without its idempotency record.
 *
 * Nothing asserts on speed; every wait is bounded.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'node:https';
import { httpCall, type HttpResponse } from '../src/core/http-client.js';
import type { IncomingHttpHeaders } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { normalizeSerial } from '../src/core/serial.js';
import { RAMPART_BIN } from './helpers/node-process.js';
import { makeCsr } from './helpers/openssl.js';
import { prepareTestNode, type TestNode } from './helpers/running-node.js';

const LOOPS = 32;
const CSRS = 6;
const ACKS_BEFORE_KILL = 300;
const ACK_WAIT_MS = 120_000;
/** Safety bound on logical requests, should the wait above be reached with the loops still going. */
const MAX_LOGICAL = 20_000;
const DOMAIN = 'kill-load.example.test';

type Res = HttpResponse<any>;

/** One HTTPS request on a keep-alive agent (which carries the trusted CA bundle). */
function request(agent: Agent, url: string, o: { method?: string; token: string; body?: Buffer; headers?: Record<string, string> }): Promise<Res> {
  return httpCall(url, { ...o, agent, timeoutMs: 120_000, headers: { ...o.headers, ...(o.body ? { 'content-type': 'application/json' } : {}) } });
}

/** A Retry-After header in ms, bounded to [0.2, 5] s so a retry neither spins nor stalls the test. */
const retryAfterMs = (h: IncomingHttpHeaders): number => Math.min(5_000, Math.max(200, (Number(h['retry-after']) || 1) * 1000));

/** Runs fn over items, `width` at a time. */
async function pool<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

/** One logical issuance request: its key and body never change across retries and replays. */
interface Logical {
  key: string;
  csr: number;
  body: Buffer;
  /** acked: 201 (or 200 replayed after a transport retry) before/at the kill; no-answer: its request failed at the kill; shed: waiting to retry a 503 at the kill. */
  outcome: 'pending' | 'acked' | 'no-answer' | 'shed' | 'unexpected';
  serial?: string;
  detail?: string;
  outstanding: boolean;
}

describe('kill -9 under concurrent issuance load', { timeout: 600_000 }, () => {
  let node: TestNode | undefined;
  const agents: Agent[] = [];
  after(async () => {
    for (const a of agents) a.destroy();
    await node?.close();
  });

  it('loses nothing acknowledged: certificates, audit entries and idempotency keys survive', async (t) => {
    node = await prepareTestNode({ prefix: 'rampart-killload-' });
    // Only the overload governor may refuse: the rate limits are turned off.
    writeFileSync(join(node.dataDir, 'rampart.yaml'), [
      'limits:', '  api:', '    perIp: { ratePerSecond: 0 }', '    perToken: { ratePerSecond: 0 }', '',
    ].join('\n'));
    await node.start();
    const token = node.adminToken!;
    assert.ok(token, 'the first start printed the admin token');
    const csrs = Array.from({ length: CSRS }, (_, i) =>
      readFileSync(makeCsr(node!.dir, `klu${i}`, { subj: `/CN=klu${i}.${DOMAIN}`, san: `DNS:klu${i}.${DOMAIN}` }).csrPath, 'utf8'));
    const bodies = csrs.map((csr) => Buffer.from(JSON.stringify({ csr, profile: 'server' })));

    // ---------------------------------------------------------------- load, then kill -9
    const loadAgent = new Agent({ keepAlive: true, maxSockets: LOOPS, ca: node.ca });
    agents.push(loadAgent);
    const issueUrl = `${node.httpsUrl}/api/v1/certificates`;
    const logical: Logical[] = [];
    let killed = false;
    let acks = 0;
    let outstanding = 0;
    let retries503 = 0;
    let transportRetries = 0;
    const unexpected: string[] = [];

    const loop = async (): Promise<void> => {
      while (!killed && logical.length < MAX_LOGICAL && unexpected.length === 0) {
        const i = logical.length;
        const lr: Logical = { key: `klu-${randomUUID()}`, csr: i % CSRS, body: bodies[i % CSRS]!, outcome: 'pending', outstanding: false };
        logical.push(lr);
        for (;;) {
          let res: Res | undefined;
          let err: unknown;
          lr.outstanding = true;
          outstanding++;
          try {
            res = await request(loadAgent, issueUrl, { token, body: lr.body, headers: { 'idempotency-key': lr.key } });
          } catch (e) {
            err = e;
          } finally {
            lr.outstanding = false;
            outstanding--;
          }
          if (res && (res.status === 201 || (res.status === 200 && res.headers['idempotent-replayed'] === 'true'))) {
            lr.outcome = 'acked';
            lr.serial = String(res.body.serial);
            acks++;
            break;
          }
          if (res && res.status === 503) {
            retries503++;
            if (!killed) await sleep(retryAfterMs(res.headers));
            if (killed) { lr.outcome = 'shed'; return; }
            continue;
          }
          if (res) {
            lr.outcome = 'unexpected';
            lr.detail = `${res.status} ${JSON.stringify(res.body).slice(0, 500)}`;
            unexpected.push(`${lr.key}: ${lr.detail}`);
            return;
          }
          if (killed) { lr.outcome = 'no-answer'; lr.detail = String(err); return; }
          // A transport error before the kill (a keep-alive connection closed under us): the same key again.
          transportRetries++;
          await sleep(200);
          if (killed) { lr.outcome = 'no-answer'; lr.detail = String(err); return; }
        }
      }
    };
    const loops = Array.from({ length: LOOPS }, () => loop());

    const deadline = Date.now() + ACK_WAIT_MS;
    while (acks < ACKS_BEFORE_KILL && unexpected.length === 0 && Date.now() < deadline && logical.length < MAX_LOGICAL) await sleep(20);
    // Kill with requests on the wire (practically always some: 32 loops keep sending).
    const inFlightDeadline = Date.now() + 10_000;
    while (outstanding === 0 && Date.now() < inFlightDeadline && unexpected.length === 0) await sleep(5);
    const ackedAtKill = acks;
    const outstandingAtKill = outstanding;
    killed = true;
    if (acks >= ACKS_BEFORE_KILL && unexpected.length === 0) await node.stop('SIGKILL');
    await Promise.all(loops);
    loadAgent.destroy();

    assert.deepEqual(unexpected, [], 'every issuance answer under load was 201 or 503');
    assert.ok(ackedAtKill >= ACKS_BEFORE_KILL,
      `${ACKS_BEFORE_KILL} acknowledged issuances within ${ACK_WAIT_MS / 1000} s (got ${acks}, ${retries503} 503 retries, ${transportRetries} transport retries); node output:\n${node.output().slice(-3000)}`);
    assert.ok(outstandingAtKill > 0, 'requests were in flight at the kill');

    const acked = logical.filter((l) => l.outcome === 'acked');
    const noAnswer = logical.filter((l) => l.outcome === 'no-answer');
    const shed = logical.filter((l) => l.outcome === 'shed');
    assert.equal(acked.length + noAnswer.length + shed.length, logical.length, 'every logical request ended acknowledged, unanswered or shed');
    assert.equal(new Set(acked.map((l) => l.serial)).size, acked.length, 'no serial was acknowledged twice');
    t.diagnostic(`acks before the kill: ${ackedAtKill} (${acked.length} in all, answers racing the kill included)`);
    t.diagnostic(`in flight at the kill: ${outstandingAtKill} requests; ${noAnswer.length} left without an answer, ${shed.length} waiting to retry a 503`);
    t.diagnostic(`503 retries: ${retries503}; transport retries before the kill: ${transportRetries}; logical requests: ${logical.length}`);

    // ---------------------------------------------------------------- restart on the same data
    await node.start();
    assert.equal(node.process.adminToken, null, 'no new admin token on a restart');
    const agent = new Agent({ keepAlive: true, maxSockets: 8, ca: node.ca });
    agents.push(agent);
    const api = (path: string, o: { method?: string; body?: Buffer; headers?: Record<string, string> } = {}) => request(agent, `${node!.httpsUrl}${path}`, { token, ...o });
    /** A request after the restart; 503s (shedding) retried for up to 60 s with the same key. */
    let retries503After = 0;
    // Every request it makes is safe to repeat (GETs, POSTs with their Idempotency-Key), so a keep-alive socket the
    // node closed while this process was blocked (spawnSync below) and that was reused as it closed is retried too.
    const patient = async (path: string, o: { method?: string; body?: Buffer; headers?: Record<string, string> } = {}): Promise<Res> => {
      const until = Date.now() + 60_000;
      for (let resets = 0; ;) {
        const r = await api(path, o).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'ECONNRESET' || ++resets > 3) throw e;
          return null;
        });
        if (!r) continue;
        if (r.status !== 503 || Date.now() > until) return r;
        retries503After++;
        await sleep(retryAfterMs(r.headers));
      }
    };

    // Every acknowledged certificate is there, JSON and DER (all of them checked, then reported together).
    const lost: string[] = [];
    await pool(acked, 8, async (l) => {
      const r = await patient(`/api/v1/certificates/${l.serial}`);
      if (r.status !== 200 || r.body.serial !== l.serial) {
        lost.push(`${l.serial} (key ${l.key}): GET ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
        return;
      }
      const d = await patient(`/api/v1/certificates/${l.serial}?format=der`);
      assert.equal(d.status, 200, `DER of ${l.serial}`);
      const x = new X509Certificate(d.raw);
      assert.equal(normalizeSerial(x.serialNumber), l.serial, 'the DER carries the acknowledged serial');
      assert.match(x.subject, new RegExp(`CN=klu${l.csr}\\.${DOMAIN.replace(/\./g, '\\.')}`), `subject of ${l.serial}`);
    });
    assert.deepEqual(lost, [], `${lost.length} of ${acked.length} acknowledged certificates are missing after kill -9 and restart`);

    // Idempotency: acknowledged keys replay the same certificate.
    const notReplayed: string[] = [];
    await pool(acked, 8, async (l) => {
      const r = await patient('/api/v1/certificates', { body: l.body, headers: { 'idempotency-key': l.key } });
      if (r.status !== 200 || r.headers['idempotent-replayed'] !== 'true' || r.body.serial !== l.serial) {
        notReplayed.push(`${l.key} (acknowledged ${l.serial}): ${r.status} replayed=${r.headers['idempotent-replayed']} serial ${r.body?.serial}`);
      }
    });
    assert.deepEqual(notReplayed, [], `${notReplayed.length} of ${acked.length} acknowledged keys did not replay their certificate (200, Idempotent-Replayed, same serial)`);

    // Keys left without an answer: the certificate committed before the kill, or a new one; stable on a second replay.
    const unresolved = [...noAnswer, ...shed];
    let committedUnanswered = 0;
    let issuedOnReplay = 0;
    await pool(unresolved, 8, async (l) => {
      const first = await patient('/api/v1/certificates', { body: l.body, headers: { 'idempotency-key': l.key } });
      assert.ok(first.status === 200 || first.status === 201, `replay of unanswered key ${l.key} (${l.outcome}): ${first.status} ${JSON.stringify(first.body).slice(0, 300)}`);
      if (first.status === 200) {
        assert.equal(first.headers['idempotent-replayed'], 'true');
        committedUnanswered++;
      } else {
        issuedOnReplay++;
      }
      l.serial = String(first.body.serial);
      const second = await patient('/api/v1/certificates', { body: l.body, headers: { 'idempotency-key': l.key } });
      assert.equal(second.status, 200, `second replay of ${l.key}`);
      assert.equal(second.body.serial, l.serial, `key ${l.key} names one certificate (${l.serial}, then ${second.body.serial})`);
    });
    t.diagnostic(`unanswered keys after the restart: ${committedUnanswered} had committed before the kill, ${issuedOnReplay} issued on replay; 503 retries after the restart: ${retries503After}`);

    // The inventory of our subjects is exactly the serials handed to us.
    const known = new Map<string, string>(); // serial -> key
    for (const l of [...acked, ...unresolved]) {
      assert.ok(!known.has(l.serial!), `serial ${l.serial} handed out for two keys (${known.get(l.serial!)} and ${l.key})`);
      known.set(l.serial!, l.key);
    }
    const inventory: string[] = [];
    let totalReported = -1;
    for (let cursor: string | null = null, pages = 0; ; pages++) {
      assert.ok(pages < 1000, 'inventory paging ends');
      const r = await patient(`/api/v1/certificates?limit=500${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      totalReported = r.body.total;
      for (const c of r.body.items as Array<{ serial: string; subject: string }>) if (c.subject.includes(DOMAIN)) inventory.push(c.serial);
      cursor = r.body.nextCursor;
      if (!cursor) break;
    }
    assert.equal(new Set(inventory).size, inventory.length, 'the inventory lists each certificate once');
    const strangers = inventory.filter((s) => !known.has(s));
    assert.deepEqual(strangers, [], 'every stored certificate of the run was handed to a client for one of its keys (none committed without its idempotency record)');
    const missing = [...known.keys()].filter((s) => !inventory.includes(s));
    assert.deepEqual(missing, [], 'the inventory lists every serial handed out');
    assert.equal(inventory.length, known.size, `inventory (${inventory.length} of ours, ${totalReported} in all) = distinct serials issued`);

    // The audit chain verifies (the real CLI) and holds one issue entry per certificate.
    const v = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', node.dataDir, '--json', 'audit', 'verify'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(v.status, 0, v.stderr + v.stdout);
    const report = JSON.parse(v.stdout);
    assert.equal(report.ok, true, JSON.stringify(report));
    const issueEntries = new Map<string, number>();
    let auditEntries = 0;
    for (let before: number | null = null, pages = 0; ; pages++) {
      assert.ok(pages < 1000, 'audit paging ends');
      const r = await patient(`/api/v1/audit?limit=500${before ? `&before=${before}` : ''}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      for (const e of r.body.items as Array<{ action: string; outcome: string; target: string; details: { subject?: string } }>) {
        auditEntries++;
        if (e.action !== 'certificate.issue' || e.outcome !== 'success' || !String(e.details?.subject ?? '').includes(DOMAIN)) continue;
        const serial = e.target.replace(/^serial:/, '');
        issueEntries.set(serial, (issueEntries.get(serial) ?? 0) + 1);
      }
      before = r.body.nextBefore;
      if (!before) break;
    }
    assert.ok(report.entries >= auditEntries, `the CLI verified the whole chain (${report.entries} >= ${auditEntries} read over the API)`);
    const noEntry = acked.filter((l) => issueEntries.get(l.serial!) !== 1).map((l) => `${l.serial} (${issueEntries.get(l.serial!) ?? 0} entries)`);
    assert.deepEqual(noEntry, [], 'every acknowledged serial has exactly one certificate.issue success entry');
    const noEntryUnresolved = unresolved.filter((l) => issueEntries.get(l.serial!) !== 1).map((l) => `${l.serial} (${issueEntries.get(l.serial!) ?? 0} entries)`);
    assert.deepEqual(noEntryUnresolved, [], 'every certificate issued for an unanswered key has exactly one certificate.issue success entry');
    const auditOnly = [...issueEntries.keys()].filter((s) => !known.has(s));
    assert.deepEqual(auditOnly, [], 'no certificate.issue success entry names a certificate that is not stored');
    t.diagnostic(`inventory: ${inventory.length} certificates of the run (${totalReported} in all); audit: ${report.entries} entries, chain OK`);

    await node.stop();
  });
});
