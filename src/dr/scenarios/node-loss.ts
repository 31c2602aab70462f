/**
 * node-loss: two nodes (`rampart serve` children) on a fresh PostgreSQL in
 * the drill's own directory, in the cluster mode the operator runs
 * (active-passive when the node is single or active-passive, else
 * active-active). A certificate is issued, then the writing node is killed
 * with SIGKILL. Recovery time: from the kill to the first certificate the
 * survivor issues. Data loss: whether the certificate issued before the kill
 * is on the survivor (0 s when it is).
 */
import { randomBytes } from 'node:crypto';
import { startIsolatedPostgres } from '../isolated-postgres.js';
import { caBundle, hasCertificate, issueOnce, lifecycleCheck, newCsr, type NodeEndpoints } from '../lifecycle-check.js';
import { startServe, type ServeProcess } from '../rampart-process.js';
import { httpCall } from '../../core/http-client.js';
import { waitUntil } from '../../core/wait.js';
import type { DrillScenario } from '../drill-scenario.js';

export const nodeLoss: DrillScenario = {
  name: 'node-loss',
  summary: 'kill -9 the writing node of a two-node cluster; measure until the survivor issues',
  async run(ctx) {
    const mode = ctx.config.cluster.mode === 'active-active' ? 'active-active' : 'active-passive';
    const takeover = ctx.config.cluster.takeoverSeconds;
    ctx.note(`cluster mode ${mode}, takeoverSeconds ${takeover} (from the node's configuration), two nodes, one isolated PostgreSQL`);
    const pg = await ctx.step('start an isolated PostgreSQL (initdb)', () => startIsolatedPostgres(ctx.env), (p) => p.host);
    const passphrase = randomBytes(24).toString('base64url');
    const nodeEnv = (id: string): Record<string, string> => ({
      RAMPART_KEY_PASSPHRASE: passphrase,
      RAMPART_DATABASE__TYPE: 'postgres', RAMPART_DATABASE__HOSTS: JSON.stringify([pg.host]), RAMPART_DATABASE__USER: 'rampart', RAMPART_DATABASE__DATABASE: 'rampart',
      RAMPART_CLUSTER__MODE: mode, RAMPART_CLUSTER__NODE_ID: id, RAMPART_CLUSTER__TAKEOVER_SECONDS: String(takeover), RAMPART_CLUSTER__HEARTBEAT_SECONDS: '1',
    });
    const nodes: ServeProcess[] = [];
    nodes.push(await ctx.step('start node n1 (creates the CA hierarchy)', () => startServe(ctx.env, { name: 'n1', dataDir: ctx.env.dir('n1'), env: nodeEnv('n1') }), (n) => n.httpsUrl));
    nodes.push(await ctx.step('start node n2', () => startServe(ctx.env, { name: 'n2', dataDir: ctx.env.dir('n2'), env: nodeEnv('n2') }), (n) => n.httpsUrl));
    const token = nodes[0]!.adminToken;
    if (!token) throw new Error('n1 printed no admin token');
    const ends = (n: ServeProcess): NodeEndpoints => ({ httpUrl: n.httpUrl, httpsUrl: n.httpsUrl, token });
    const ca = await caBundle(nodes[0]!.httpUrl);

    const writable = async (n: ServeProcess): Promise<boolean> => (await httpCall(`${n.httpUrl}/readyz?write=1`, { timeoutMs: 3000 })).status === 200;
    const victim = await ctx.step('find the writing node', () => waitUntil('a writable node', async () => {
      await waitUntil('both nodes registered', async () => {
        const r = await httpCall<{ nodes: Array<{ up: boolean }> }>(`${nodes[0]!.httpsUrl}/api/v1/cluster`, { token, ca });
        return r.status === 200 && r.body.nodes.filter((x) => x.up).length === 2;
      }, 30_000, 200);
      // active-passive: the holder of the active lease; active-active: both write, n1 is killed.
      for (const n of nodes) if (await writable(n)) return n;
      return null;
    }, 30_000, 200), (n) => n.name);
    const survivor = nodes.find((n) => n !== victim)!;

    const csr = await newCsr('drill-node-loss.rampart.invalid');
    const before = await ctx.step(`issue a certificate on ${victim.name} before the fault`, () => issueOnce(ends(victim), ca, csr), (c) => `serial ${c.serial}`);
    const ackedAt = Date.now();

    ctx.faultAt();
    await ctx.step(`kill -9 ${victim.name}`, () => victim.kill('SIGKILL'));
    const timeoutMs = Math.min(ctx.config.tiers[ctx.config.drills.tier['node-loss'] ?? 'issuance']?.rtoMinutes ?? 60, 10) * 60_000 + takeover * 3000;
    let attempts = 0;
    await ctx.step(`wait until ${survivor.name} issues`, () => waitUntil(`issuance on ${survivor.name}`, async () => {
      attempts++;
      return issueOnce(ends(survivor), ca, csr, 5000);
    }, timeoutMs, 250), () => `${attempts} attempt(s)`);
    ctx.recovered();

    const present = await ctx.step('the certificate acknowledged before the fault is on the survivor', () => hasCertificate(ends(survivor), ca, before.serial), (p) => (p ? 'present' : 'MISSING'));
    ctx.dataLoss(present ? 0 : Math.round((Date.now() - ackedAt) / 1000));
    if (!present) throw new Error(`certificate ${before.serial}, acknowledged before the fault, is missing after it`);

    await lifecycleCheck(ends(survivor), ctx.step.bind(ctx));
  },
};
