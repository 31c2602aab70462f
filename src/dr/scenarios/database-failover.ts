/**
 * database-failover: a pg_auto_failover formation (monitor, primary and
 * synchronous standby) in the drill's own directory, a Rampart node on both
 * hosts (it finds the read-write one). Certificates are issued, then the
 * primary's keeper, postmaster and backends are killed with SIGKILL; the
 * monitor promotes the standby. Recovery time: from the kill to the first
 * certificate the node issues. Data loss: whether every certificate
 * acknowledged before the kill is on the promoted standby (0 s when all are:
 * synchronous replication). Needs pg_autoctl; fails clearly without it.
 */
import { startFormation, autoFailoverTools } from '../pg-auto-failover.js';
import { caBundle, hasCertificate, issueOnce, lifecycleCheck, newCsr, type IssuedCertificate, type NodeEndpoints } from '../lifecycle-check.js';
import { startServe } from '../rampart-process.js';
import { waitUntil } from '../../core/wait.js';
import { randomBytes } from 'node:crypto';
import type { DrillScenario } from '../drill-scenario.js';

const BEFORE = 5;

export const databaseFailover: DrillScenario = {
  name: 'database-failover',
  summary: 'kill the PostgreSQL primary under a node, promote the standby, measure until issuance works',
  async run(ctx) {
    await ctx.step('check pg_auto_failover (pg_autoctl)', async () => autoFailoverTools(), (t) => `${t.autoctl}, ${t.pgBin}`);
    const db = await ctx.step('start a pg_auto_failover formation (monitor, primary, synchronous standby)',
      () => startFormation(ctx.env, { database: 'rampart', user: 'rampart', progress: ctx.progress }), (f) => f.hosts.join(', '));
    const sync = await ctx.step('synchronous replication is on', async () => {
      const s = await db.syncState();
      if (!/\b(sync|quorum)\b/.test(s)) throw new Error(`the standby is not synchronous (pg_stat_replication.sync_state: "${s}")`);
      return s;
    }, (s) => s);
    ctx.note(`pg_auto_failover formation on ${db.hosts.join(', ')}; standby ${sync}`);

    const passphrase = randomBytes(24).toString('base64url');
    const node = await ctx.step('start a node on both database hosts', () => startServe(ctx.env, {
      name: 'n1', dataDir: ctx.env.dir('n1'), env: {
        RAMPART_KEY_PASSPHRASE: passphrase, RAMPART_DATABASE__TYPE: 'postgres', RAMPART_DATABASE__HOSTS: JSON.stringify(db.hosts),
        RAMPART_DATABASE__USER: 'rampart', RAMPART_DATABASE__DATABASE: 'rampart',
      },
    }), (n) => n.httpsUrl);
    if (!node.adminToken) throw new Error('the node printed no admin token');
    const ends: NodeEndpoints = { httpUrl: node.httpUrl, httpsUrl: node.httpsUrl, token: node.adminToken };
    const ca = await caBundle(node.httpUrl);

    const acked = await ctx.step(`issue ${BEFORE} certificates before the fault`, async () => {
      const out: IssuedCertificate[] = [];
      for (let i = 0; i < BEFORE; i++) out.push(await issueOnce(ends, ca, await newCsr(`drill-dbf-${i}.rampart.invalid`)));
      return out;
    }, (l) => `${l.length} acknowledged`);
    const ackedAt = Date.now();

    ctx.faultAt();
    const killed = await ctx.step('kill -9 the PostgreSQL primary (keeper, postmaster, backends)', () => db.killPrimary(), (p) => `${p.name} 127.0.0.1:${p.port}`);
    const csr = await newCsr('drill-dbf-after.rampart.invalid');
    const tierName = ctx.config.drills.tier['database-failover'] ?? 'issuance';
    const timeoutMs = Math.min(ctx.config.tiers[tierName]?.rtoMinutes ?? 60, 5) * 60_000;
    let attempts = 0;
    await ctx.step('wait until the node issues again', () => waitUntil('issuance after the failover', async () => {
      attempts++;
      return issueOnce(ends, ca, csr, 5000);
    }, timeoutMs, 250), () => `${attempts} attempt(s)`);
    ctx.recovered();
    const promoted = await ctx.step('the standby was promoted', () => db.waitForPrimary(killed.name, 30_000), (p) => `${p.name} 127.0.0.1:${p.port}`);

    const missing: string[] = [];
    await ctx.step('every certificate acknowledged before the kill is on the promoted standby', async () => {
      const onNew = new Set((await db.psql(promoted.port, 'select serial from certificates', { user: 'rampart', database: 'rampart' })).split('\n').filter(Boolean));
      for (const c of acked) if (!onNew.has(c.serial) || !(await hasCertificate(ends, ca, c.serial))) missing.push(c.serial);
    }, () => (missing.length ? `${missing.length} MISSING` : `${acked.length} present`));
    ctx.dataLoss(missing.length ? Math.max(1, Math.round((Date.now() - ackedAt) / 1000)) : 0);
    if (missing.length) throw new Error(`certificate(s) acknowledged before the kill are missing after the failover: ${missing.join(', ')}`);

    await lifecycleCheck(ends, ctx.step.bind(ctx));
  },
};
