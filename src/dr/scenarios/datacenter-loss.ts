/**
 * datacenter-loss: two regions in the drill's own directory (src/dr/region-pair.ts:
 * A's PostgreSQL primary and node a1; B's asynchronous streaming replica and
 * node b1). Certificates are issued in A and one is revoked; B serves
 * validation from its replica. A few more are issued in A, then region A is
 * lost: its node and its database are killed with SIGKILL.
 *
 * Recovery is what an operator runs: `rampart failover region --to B` (A is
 * unreachable, so not fenced: B waits out regions.resumeWithoutPeerSeconds,
 * promotes, activates, updates DNS, verifies), then B must issue, answer OCSP
 * good and revoked (the revocation made before the loss too) and revoke.
 * Then A comes back: its database restarts as the old primary and a1 must
 * refuse issuance (fenced: B is active at a higher epoch); `rampart failback
 * --to A` reconciles what A committed that B never received, rewinds A as
 * B's replica, switches over, and rebuilds B as A's replica. Every certificate
 * acknowledged in either region must then be in A's inventory with the right
 * OCSP status, A must issue and revoke, and b1 must be read-only again.
 *
 * Recovery time: from the kill to the first certificate B issues. Data loss:
 * 0 when every certificate A acknowledged before the loss is on B; else the
 * time from the first one B lacks to the loss (they come back at failback).
 */
import { httpCall } from '../../core/http-client.js';
import { waitUntil } from '../../core/wait.js';
import { caBundle, hasCertificate, issueOnce, lifecycleCheck, newCsr, type IssuedCertificate, type NodeEndpoints } from '../lifecycle-check.js';
import { ocspStatus } from '../ocsp-probe.js';
import { killPostgres, startPostgresAgain } from '../isolated-replica.js';
import { startRegionPair, type PairRegion } from '../region-pair.js';
import { tail, type ServeProcess } from '../rampart-process.js';
import type { DrillContext, DrillScenario } from '../drill-scenario.js';

interface Acked extends IssuedCertificate { at: number; revoked: boolean }
interface FailoverJson { from: string; to: string; epoch: string; timeline: number; fencedSource: boolean; rpoSeconds: number | null; rtoSeconds: number; commandSeconds: number; verifiedSerial: string | null }
interface FailbackJson { epoch: string; lostBytes: number; rebuildMethod: string | null; demoteMethod: string | null; switchoverSeconds: number; reconcile: { recoveredCertificates: string[]; recoveredRevocations: string[] } | null }

const BEFORE = 3;
const LAST = 2;
/** How long an unfenced failover waits after A's last replicated heartbeat (short in a drill; 30 s by default). */
const RESUME_WITHOUT_PEER_SECONDS = 5;

export const datacenterLoss: DrillScenario = {
  name: 'datacenter-loss',
  summary: 'two regions: lose region A (nodes and database), fail over to B, verify issuance and validation there, fail back to A',
  async run(ctx) {
    const pair = await ctx.step('start region A\'s database and region B\'s asynchronous streaming replica', () => startRegionPair(ctx.env, {
      resumeWithoutPeerSeconds: RESUME_WITHOUT_PEER_SECONDS, progress: ctx.progress,
    }), (p) => `A 127.0.0.1:${p.sites.A.db.port}, B 127.0.0.1:${p.sites.B.db.port}`);
    const a1 = await ctx.step('start node a1 in region A (creates the CA hierarchy)', () => pair.startNode('A'), (n) => n.httpsUrl);
    if (!a1.adminToken) throw new Error('a1 printed no admin token');
    const token = a1.adminToken;
    const b1 = await ctx.step('start node b1 in region B (read-only while B is a replica)', () => pair.startNode('B'), (n) => n.httpsUrl);
    const ends = (n: ServeProcess): NodeEndpoints => ({ httpUrl: n.httpUrl, httpsUrl: n.httpsUrl, token });
    const ca = await caBundle(a1.httpUrl);
    const acked: Acked[] = [];
    const issueIn = async (n: ServeProcess, count: number, label: string): Promise<Acked[]> => {
      const out: Acked[] = [];
      for (let i = 0; i < count; i++) out.push({ ...(await issueOnce(ends(n), ca, await newCsr(`drill-dcloss-${label}-${i}.rampart.invalid`))), at: Date.now(), revoked: false });
      acked.push(...out);
      return out;
    };
    const early = await ctx.step(`issue ${BEFORE} certificates in region A`, () => issueIn(a1, BEFORE, 'a'), (l) => l.map((c) => c.serial).join(' '));
    const revoked = early[0]!;
    const good = early[1]!;
    await ctx.step(`revoke ${revoked.serial} in region A`, () => revokeOn(a1, token, ca, revoked.serial));
    revoked.revoked = true;
    await ctx.step('region B serves validation from its replica (OCSP revoked and good)', () => waitUntil('B to answer OCSP for A\'s certificates', async () =>
      (await ocspStatus(`${b1.httpUrl}/ocsp`, revoked.issuerDer, revoked.serial)) === 'revoked' && (await ocspStatus(`${b1.httpUrl}/ocsp`, good.issuerDer, good.serial)) === 'good', 30_000, 200),
    () => `${revoked.serial} revoked, ${good.serial} good`);
    await ctx.step('region B refuses issuance while it is a replica', () => expectRefused(b1, token, ca), (d) => d);
    // The last ones are not waited for: whatever B had not replayed at the loss is the failover's data loss.
    await ctx.step(`issue ${LAST} more certificates in region A just before the loss`, () => issueIn(a1, LAST, 'b'), (l) => l.map((c) => c.serial).join(' '));

    ctx.faultAt();
    const lostAt = Date.now();
    await ctx.step('lose region A: kill -9 node a1 and its PostgreSQL', async () => {
      await a1.kill('SIGKILL');
      return killPostgres(pair.sites.A.db.dataDir);
    }, (pid) => `postmaster ${pid} killed; data directory kept (as after a power cut)`);

    const fo = await ctx.step('rampart failover region --to B', async () => {
      const r = await pair.cli(['--json', 'failover', 'region', '--to', 'B'], { env: { RAMPART_TOKEN: token } });
      if (r.code !== 0) throw new Error(`failover failed (exit ${r.code}): ${tail(r.stderr || r.stdout)}`);
      return JSON.parse(r.stdout) as FailoverJson;
    }, (r) => `${r.from} -> ${r.to} at epoch ${r.epoch}, timeline ${r.timeline}; ${r.fencedSource ? 'A fenced' : 'A not fenced (unreachable)'}; command ${r.commandSeconds.toFixed(1)} s; verified with ${r.verifiedSerial ?? '-'}`);
    ctx.note(`failover: epoch ${fo.epoch}, timeline ${fo.timeline}, A ${fo.fencedSource ? 'fenced' : 'not fenced'}, at-risk window ${fo.rpoSeconds === null ? '?' : `${fo.rpoSeconds.toFixed(1)} s`} (A's last heartbeat B replayed)`);
    const onB = await ctx.step('issue in region B', async () => (await issueIn(b1, 1, 'on-b'))[0]!, (c) => `serial ${c.serial}`);
    ctx.recovered();
    await ctx.step('OCSP in region B: the certificate revoked before the loss is revoked, another good', async () => {
      const [r, g] = [await ocspStatus(`${b1.httpUrl}/ocsp`, revoked.issuerDer, revoked.serial), await ocspStatus(`${b1.httpUrl}/ocsp`, good.issuerDer, good.serial)];
      if (r !== 'revoked' || g !== 'good') throw new Error(`OCSP on B: ${revoked.serial} ${r} (want revoked), ${good.serial} ${g} (want good)`);
      return `${revoked.serial} revoked, ${good.serial} good, ${onB.serial} ${await ocspStatus(`${b1.httpUrl}/ocsp`, onB.issuerDer, onB.serial)}`;
    }, (s) => s);
    const beforeLoss = acked.filter((c) => c.at <= lostAt);
    const missing = await ctx.step('certificates acknowledged in A before the loss are in region B', async () => {
      const out: Acked[] = [];
      for (const c of beforeLoss) if (!(await hasCertificate(ends(b1), ca, c.serial))) out.push(c);
      return out;
    }, (m) => `${beforeLoss.length - m.length} of ${beforeLoss.length}${m.length ? `; not replicated before the loss: ${m.map((c) => c.serial).join(' ')}` : ''}`);
    ctx.dataLoss(missing.length ? Math.max(1, Math.round((lostAt - Math.min(...missing.map((c) => c.at))) / 1000)) : 0);
    if (missing.length) ctx.note(`${missing.length} certificate(s) acknowledged by A were not on B at the failover; failback must recover them`);
    await lifecycleCheck(ends(b1), stepIn(ctx, 'B'), `drill-dcloss-lifecycle-b-${Date.now()}.rampart.invalid`);

    await ctx.step('region A comes back: its database restarts as the old primary', () => startPostgresAgain(pair.sites.A.db.dataDir));
    const a1again = await ctx.step('node a1 restarts and is fenced (region B is active at a higher epoch)', async () => {
      const n = await pair.startNode('A');
      return { n, detail: await waitUntil('a1 to refuse issuance', () => expectRefused(n, token, ca).catch(() => null), 30_000, 500) };
    }, (x) => x.detail);
    const fb = await ctx.step('rampart failback --to A (reconcile, rewind A as B\'s replica, switch over, rebuild B as A\'s replica)', async () => {
      const r = await pair.cli(['--json', 'failback', '--to', 'A', '--rebuild-pgdata', pair.sites.A.db.dataDir, '--demote-pgdata', pair.sites.B.db.dataDir],
        { env: { RAMPART_TOKEN: token }, timeoutMs: 600_000 });
      if (r.code !== 0) throw new Error(`failback failed (exit ${r.code}): ${tail(r.stderr || r.stdout)}`);
      return JSON.parse(r.stdout) as FailbackJson;
    }, (r) => `epoch ${r.epoch}; ${r.reconcile?.recoveredCertificates.length ?? 0} certificate(s) and ${r.reconcile?.recoveredRevocations.length ?? 0} revocation(s) recovered from A; A by ${r.rebuildMethod}, B by ${r.demoteMethod}; switchover ${r.switchoverSeconds.toFixed(1)} s, ${r.lostBytes} bytes lost`);
    const notRecovered = missing.filter((c) => !fb.reconcile?.recoveredCertificates.includes(c.serial));
    if (notRecovered.length) throw new Error(`failback did not recover ${notRecovered.map((c) => c.serial).join(', ')} (acknowledged by A, never on B)`);
    const a = a1again.n;
    await ctx.step('every certificate acknowledged in either region is in region A, with its OCSP status', async () => {
      for (const c of acked) {
        if (!(await hasCertificate(ends(a), ca, c.serial))) throw new Error(`${c.serial} is not in A's inventory after the failback`);
        const s = await waitUntil(`OCSP for ${c.serial} on A`, async () => ocspStatus(`${a.httpUrl}/ocsp`, c.issuerDer, c.serial).catch(() => null), 15_000, 200);
        if (s !== (c.revoked ? 'revoked' : 'good')) throw new Error(`OCSP on A says ${s} for ${c.serial} (want ${c.revoked ? 'revoked' : 'good'})`);
      }
      return acked.length;
    }, (n) => `${n} of ${acked.length}`);
    await lifecycleCheck(ends(a), stepIn(ctx, 'A'), `drill-dcloss-lifecycle-a-${Date.now()}.rampart.invalid`);
    await ctx.step('region B is a replica again: b1 refuses issuance', () => waitUntil('b1 to refuse issuance', () => expectRefused(b1, token, ca).catch(() => null), 30_000, 500), (d) => d);
  },
};

/** The lifecycle steps, named after the region they run in. */
function stepIn(ctx: DrillContext, region: PairRegion): DrillContext['step'] {
  return (name, fn, detail) => ctx.step(`region ${region}: ${name}`, fn, detail);
}

async function revokeOn(n: ServeProcess, token: string, ca: string, serial: string): Promise<void> {
  const r = await httpCall<{ detail?: string }>(`${n.httpsUrl}/api/v1/certificates/${serial}/revoke`, { token, ca, json: { reason: 'keyCompromise' } });
  if (r.status !== 200) throw new Error(`revocation of ${serial}: HTTP ${r.status} ${r.body.detail ?? ''}`);
}

/** An issuance attempt the node must refuse with 503; resolves with its reason. */
async function expectRefused(n: ServeProcess, token: string, ca: string): Promise<string> {
  try {
    const c = await issueOnce({ httpUrl: n.httpUrl, httpsUrl: n.httpsUrl, token }, ca, await newCsr('drill-dcloss-refused.rampart.invalid'));
    throw new Error(`${n.name} issued ${c.serial}: it should refuse`);
  } catch (e) {
    const m = /^issuance: HTTP 503 (.*)$/.exec((e as Error).message);
    if (!m) throw e;
    return `503: ${m[1]}`.slice(0, 200);
  }
}
