/**
 * `rampart failback --to A`: brings issuance back to a region that was
 * failed over, with no loss.
 *
 *  1. preflight    which region is active now (B) and what A's database is.
 *  2. reconcile    A came back as a (fenced) primary: what it committed that
 *                  B never received is copied into B (src/region/reconcile.ts)
 *                  before anything is rewound.
 *  3. rebuild A    pg_rewind (or a new base backup) of A's old primary
 *                  against B, started as B's streaming replica.
 *  4. catch up     until A has replayed everything B has.
 *  5. switchover   fence B in its database (its nodes stop writing), wait
 *                  until A replayed B's last WAL, promote A, activate it.
 *  6. switch, DNS, verify, as for a failover.
 *  7. B back as replica: B's old primary rebuilt against A.
 *  8. audit.
 * Steps 3 and 7 run pg_rewind on local data directories (--rebuild-pgdata,
 * --demote-pgdata); without them they are left to the database HA tool and
 * the command checks that the result is in place.
 */
import { StepMeter, type OnProgress } from '../core/progress.js';
import type { RampartConfig } from '../config/schema.js';
import { AuditLog } from '../audit/audit-log.js';
import { systemClock } from '../core/clock.js';
import { firstWritable, waitWritable } from './region-nodes.js';
import { lifecycleCheck } from '../dr/lifecycle-check.js';
import { createDnsProvider } from './dns/create-dns-provider.js';
import type { DnsUpdateResult } from './dns/dns-provider.js';
import { basename } from 'node:path';
import { pgConfValue, pgPort, rebuildAsStandby } from './pg-control.js';
import { reconcileDivergence, type ReconcileReport } from './reconcile.js';
import { lsnDiff, setActiveRegion, writeRegionHeartbeat } from '../storage/region-sql.js';
import { adminSource, findPrimaryHost, promoteSite, sitePool, siteStore, tryView, waitReplayed } from './site-db.js';
import { takeLeadership, type Leadership } from './witness/leadership-transfer.js';
import { Timeline, type TimelineStep } from './timeline.js';

export interface FailbackOptions {
  config: RampartConfig;
  /** The region to bring issuance back to. */
  to: string;
  env?: NodeJS.ProcessEnv;
  token?: string;
  skipVerify?: boolean;
  /** Data directory of `to`'s old primary (local), rebuilt as a replica of the active region. */
  rebuildPgdata?: string;
  /** Data directories of `to`'s in-region standbys (local), rebuilt to stream from its rebuilt primary before the switchover (a synchronous standby must be back before the primary takes writes). */
  rebuildStandbyPgdata?: string[];
  /** Data directory of the active region's primary (local), rebuilt as a replica of `to` after the switchover. */
  demotePgdata?: string;
  /** Base backup when pg_rewind cannot (default true). */
  allowBaseBackup?: boolean;
  catchUpSeconds?: number;
  actor?: string;
  log?: (line: string) => void;
  /** Progress in steps (the CLI's bar). */
  onProgress?: OnProgress;
  baseDir?: string;
}

export interface FailbackReport {
  from: string;
  to: string;
  epoch: string;
  timeline: number;
  reconcile: ReconcileReport | null;
  rebuildMethod: string | null;
  demoteMethod: string | null;
  /** WAL bytes of the active region not replayed by `to` at promotion: 0 for a clean switchover. */
  lostBytes: number;
  dns: DnsUpdateResult | null;
  verifiedSerial: string | null;
  switchoverSeconds: number;
  steps: TimelineStep[];
  text: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function failback(o: FailbackOptions): Promise<FailbackReport> {
  const env = o.env ?? process.env;
  const regions = o.config.regions;
  if (!regions?.sites[o.to]) throw new Error(`unknown region "${o.to}"`);
  if (!o.skipVerify && regions.sites[o.to]!.nodes.length && !o.token) {
    throw new Error('an API token is needed to verify issuance after the failback (--token or RAMPART_TOKEN), or --skip-verify');
  }
  // About 17 steps (preflight ×2, reconcile, rebuild, catch up, fence, replay, promote, activate, nodes, DNS, 4 verify steps, rebuild the other region, audit): the bar's total, an estimate.
  const t = new Timeline(o.log, o.onProgress ? new StepMeter(o.onProgress, 'failback', { steps: 17 }) : undefined);
  const pools: Array<{ close(): Promise<void> }> = [];
  let leadership: Leadership | null = null;
  let promoted = false;
  const pool = (region: string, primary = false) => { const p = sitePool(o.config, region, env, { primary }); pools.push(p); return p; };
  try {
    // 1. preflight: the active region is a primary that names itself active.
    const active = await t.step('preflight: find the active region', async () => {
      for (const r of Object.keys(regions.sites)) {
        if (r === o.to) continue;
        const { view } = await tryView(pool(r, true), 4000);
        if (view && !view.inRecovery && view.state?.activeRegion === r) return { region: r, view, resumed: false };
      }
      // A failback that stopped after fencing the active region: it is a primary that names `to` already.
      for (const r of Object.keys(regions.sites)) {
        if (r === o.to) continue;
        const { view } = await tryView(pool(r, true), 4000);
        if (view && !view.inRecovery && view.state?.activeRegion === o.to) return { region: r, view, resumed: true };
      }
      throw new Error(`no other region's database is an active primary: nothing to fail back from (is ${o.to} already active?)`);
    }, (a) => `region ${a.region} (epoch ${a.view.state!.epoch}, timeline ${a.view.timeline}) at ${a.view.lsn}`);
    const from = active.region;
    const activeHost = await findPrimaryHost(o.config, from, env);
    if (!activeHost) throw new Error(`region ${from}'s primary host could not be identified`);
    const back = await t.step(`preflight: region ${o.to}`, () => tryView(pool(o.to), 4000),
      (v) => (v.view ? `${v.view.inRecovery ? `replica (${v.view.walReceiver?.status ?? 'no WAL receiver'} from ${v.view.walReceiver?.sender ?? '?'})` : `primary on timeline ${v.view.timeline}, active ${v.view.state?.activeRegion ?? '-'}`}` : `unreachable: ${v.error}`));

    // 2. reconcile what the returning region committed alone.
    let reconcile: ReconcileReport | null = null;
    if (back.view && !back.view.inRecovery) {
      reconcile = await t.step(`reconcile: what ${o.to} committed that ${from} never received`, async () => {
        const store = siteStore(o.config, from, env);
        try {
          const meta = await store.getMeta('region.lastFailover');
          const last = meta ? JSON.parse(meta) as { replayedUpTo: string | null } : null;
          // A minute of margin: created_at is the issuing node's clock, before its commit.
          const since = last?.replayedUpTo ? new Date(new Date(last.replayedUpTo).getTime() - 60_000) : new Date(0);
          const old = pool(o.to);
          return await old.once('reconcile', (sql) => reconcileDivergence(sql, store, since, { actor: o.actor ?? 'operator', fromRegion: o.to }), 300_000);
        } finally {
          await store.close();
        }
      }, (r) => `${r.recoveredCertificates.length} certificate(s) and ${r.recoveredRevocations.length} revocation(s) recovered into ${from} (scanned ${r.scanned} since ${r.since})`);
    }

    // 3. rebuild the returning region as a replica of the active one.
    let rebuildMethod: string | null = null;
    if (!back.view || !back.view.inRecovery) {
      if (!o.rebuildPgdata) throw new Error(`region ${o.to}'s database is ${back.view ? 'a primary' : 'unreachable'}: give --rebuild-pgdata DIR (its data directory on this host) or rebuild it as a replica of ${from} with your HA tool, then run failback again`);
      const r = await t.step(`rebuild ${o.to} as a replica of ${from}`, () => rebuildAsStandby(o.rebuildPgdata!, adminSource(o.config, from, activeHost, env), {
        appName: `rampart-region-${o.to}`, allowBaseBackup: o.allowBaseBackup ?? true, log: (l) => o.log?.(`    ${l}`),
      }), (x) => `${x.method}: ${x.steps.map((s) => `${s.step} ${(s.ms / 1000).toFixed(1)} s`).join(', ')}`);
      rebuildMethod = r.method;
    }
    for (const dir of o.rebuildStandbyPgdata ?? []) {
      // They cascade from the rebuilt primary now and follow it across its promotion.
      const port = pgPort(o.rebuildPgdata ?? dir);
      const host = regions.sites[o.to]!.database.hosts.find((h) => h.endsWith(`:${port}`));
      if (!o.rebuildPgdata || !host) throw new Error(`--rebuild-standby-pgdata needs --rebuild-pgdata with a port listed in regions.sites.${o.to}.database.hosts`);
      const appName = pgConfValue(dir, 'cluster_name') ?? basename(dir);
      await t.step(`rebuild ${o.to}'s standby ${appName} from its rebuilt primary`, () => rebuildAsStandby(dir, adminSource(o.config, o.to, host, env), {
        // A fresh copy: its upstream is a standby, from which pg_rewind misjudges the timelines.
        appName, method: 'basebackup', log: (l) => o.log?.(`    ${l}`),
      }), (x) => x.method);
    }
    const replica = pool(o.to);

    // 4. catch up
    await t.step(`wait for ${o.to} to catch up with ${from}`, async () => {
      const deadline = Date.now() + (o.catchUpSeconds ?? 120) * 1000;
      for (;;) {
        const [a, b] = await Promise.all([tryView(pool(from, true), 3000), tryView(replica, 3000)]);
        const behind = a.view && b.view ? lsnDiff(a.view.lsn, b.view.lsn) : null;
        if (b.view && !b.view.inRecovery) throw new Error(`region ${o.to}'s database is not a replica`);
        if (behind !== null && behind < 1024 * 1024) return behind;
        if (Date.now() > deadline) throw new Error(`region ${o.to} is still ${behind ?? '?'} bytes behind ${from}`);
        await sleep(250);
      }
    }, (b) => `${b} bytes behind`);

    // 5. switchover without loss
    const sw0 = performance.now();
    const epoch = active.resumed ? active.view.state!.epoch : active.view.state!.epoch + 1n;
    const fenceLsn = await t.step(`fence ${from}`, async () => {
      const p = pool(from, true);
      await p.once('fence', (sql) => setActiveRegion(sql, o.to, epoch, `switchover back to ${o.to}`), 5000);
      const [r] = await p.once('fence-lsn', (sql) => sql`SELECT pg_current_wal_lsn()::text AS lsn`, 5000);
      return String(r!.lsn);
    }, (l) => `${from}'s nodes refuse writes; its WAL ends at ${l}`);
    const caught = await t.step(`wait for ${o.to} to replay ${from}'s last writes`, () => waitReplayed(replica, fenceLsn, (o.catchUpSeconds ?? 120) * 1000, lsnDiff),
      (c) => (c.caughtUp ? `replayed ${c.replayLsn}` : `${c.behindBytes} bytes behind`));
    if (!caught.caughtUp) throw new Error(`region ${o.to} did not replay ${from}'s last writes: ${from} stays fenced; run failback again`);
    // Witness mode: the fenced region's nodes revoke its lease; leadership moves once it is gone.
    const w = regions.witness;
    if (w) {
      leadership = await t.step(`witness: take leadership for ${o.to}`, () => takeLeadership({ config: w, to: o.to, epoch: epoch.toString(), log: o.log }),
        (l) => `lease ${l.leaseId} taken after ${(l.waitedMs / 1000).toFixed(1)} s`);
    }
    await t.step(`promote ${o.to}'s database`, () => promoteSite(o.config, o.to, replica, env));
    promoted = true;
    const activated = await t.step(`activate region ${o.to}`, async () => {
      const row = await replica.once('activate', (sql) => setActiveRegion(sql, o.to, epoch, `failback from ${from}`), 10_000);
      await replica.once('heartbeat', (sql) => writeRegionHeartbeat(sql, o.to, 'failback'), 10_000);
      return row;
    }, (r) => `epoch ${r.epoch}, timeline ${r.timeline}`);
    const site = regions.sites[o.to]!;
    if (site.nodes.length) await t.step(`wait for ${o.to}'s nodes to take writes`, () => waitWritable(o.to, site.nodes), (s) => s);
    leadership?.handOver();
    const switchoverSeconds = (performance.now() - sw0) / 1000;

    // 6. DNS, verify
    let dns: DnsUpdateResult | null = null;
    const provider = regions.dns ? createDnsProvider(regions.dns, { env, baseDir: o.baseDir }) : null;
    if (provider && regions.dns && regions.dns.provider !== 'none') {
      const d = regions.dns;
      dns = await t.step(`DNS (${provider.kind})`, () => provider.update({ name: d.name, type: d.type, ttl: d.ttl, targets: site.dnsTargets, region: o.to, reason: `failback from ${from}` }),
        (r) => `${r.name} -> ${r.targets.join(', ')}`);
    }
    let verifiedSerial: string | null = null;
    if (!o.skipVerify && site.nodes.length) {
      const n = await firstWritable(site.nodes);
      verifiedSerial = (await lifecycleCheck({ httpUrl: n.http, httpsUrl: n.https, token: o.token! }, (name, fn) => t.step(`verify: ${name}`, fn),
        `failback-check-${Date.now()}.${o.to.toLowerCase()}.rampart.invalid`)).serial;
    }

    // 7. the old active region becomes the replica again.
    let demoteMethod: string | null = null;
    if (o.demotePgdata) {
      const newPrimary = await findPrimaryHost(o.config, o.to, env);
      if (!newPrimary) throw new Error(`region ${o.to}'s primary host could not be identified`);
      const r = await t.step(`rebuild ${from} as a replica of ${o.to}`, () => rebuildAsStandby(o.demotePgdata!, adminSource(o.config, o.to, newPrimary, env), {
        appName: `rampart-region-${from}`, allowBaseBackup: o.allowBaseBackup ?? true, log: (l) => o.log?.(`    ${l}`),
      }), (x) => x.method);
      demoteMethod = r.method;
    } else {
      t.note(`${from} back as replica`, `not done here (no --demote-pgdata): ${from}'s database is a fenced primary until it is rebuilt as a replica of ${o.to}`, false);
    }

    // 8. audit
    const lostBytes = caught.behindBytes ?? 0;
    await t.step('audit', async () => {
      const store = siteStore(o.config, o.to, env);
      try {
        await new AuditLog({ store, clock: systemClock }).record({
          actor: o.actor ?? 'operator', source: 'cli', channel: 'cli', action: 'region.failback', target: `region:${o.to}`, outcome: 'success',
          details: {
            from, to: o.to, epoch: epoch.toString(), timeline: activated.timeline, lostBytes, rebuildMethod, demoteMethod, verifiedSerial,
            recoveredCertificates: reconcile?.recoveredCertificates.length ?? 0, recoveredRevocations: reconcile?.recoveredRevocations.length ?? 0,
            switchoverSeconds: Math.round(switchoverSeconds * 10) / 10,
          },
        });
      } finally {
        await store.close();
      }
    });
    const r: Omit<FailbackReport, 'text'> = {
      from, to: o.to, epoch: epoch.toString(), timeline: activated.timeline, reconcile, rebuildMethod, demoteMethod, lostBytes, dns, verifiedSerial,
      switchoverSeconds, steps: t.steps,
    };
    const text = [
      `region failback ${from} -> ${o.to}: epoch ${r.epoch}, timeline ${r.timeline}`,
      t.format(),
      `switchover (fence ${from} to ${o.to} writable): ${switchoverSeconds.toFixed(1)} s; data lost: ${lostBytes} bytes`,
      reconcile ? `recovered from ${o.to}'s divergent history: ${reconcile.recoveredCertificates.length} certificate(s), ${reconcile.recoveredRevocations.length} revocation(s)` : '',
    ].filter(Boolean).join('\n');
    return { ...r, text };
  } catch (e) {
    if (leadership && !promoted) await leadership.abandon().catch(() => undefined);
    throw e;
  } finally {
    leadership?.handOver();
    t.finish();
    await Promise.all(pools.map((p) => p.close()));
  }
}
