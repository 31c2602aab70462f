/**
 * `rampart failover region --to B`: moves issuance to another region.
 *
 *  1. preflight   B's database is a replica, reachable; its lag; its nodes
 *                 answer; A's database reachable or not. When A cannot be
 *                 fenced, B waits until A's last heartbeat it replayed is
 *                 older than resumeWithoutPeerSeconds: an A that comes back
 *                 later will not resume writes on its own (region-monitor).
 *  2. fence A     when A's database answers, region_state there names B at a
 *                 new epoch: every A node's next write fails its in-
 *                 transaction fence, and B replays A up to that point (a
 *                 planned failover loses nothing). When it does not answer,
 *                 that is recorded.
 *  2b. witness   (regions.witness) wait until A's leadership lease in etcd
 *                 expired or was revoked, then take it for B
 *                 (src/region/witness/leadership-transfer.ts): A's nodes
 *                 stopped writing before it could expire. This replaces the
 *                 resumeWithoutPeerSeconds wait of the two-site mode.
 *  3. promote B   promoteCommand or pg_promote(); then region_state on B
 *                 names B at the new epoch, with B's new timeline, and a
 *                 heartbeat.
 *  4. switch      B's nodes see it within regions.checkSeconds: they take
 *                 leases and report /readyz?write=1 200.
 *  5. DNS         the configured provider points the name at B's targets.
 *  6. verify      a certificate is issued, checked good by OCSP, revoked and
 *                 checked revoked, through B's nodes.
 *  7. audit       one region.failover entry in B's audit chain.
 * It returns the timeline with the RTO and the RPO.
 */
import { StepMeter, type OnProgress } from '../core/progress.js';
import type { RampartConfig } from '../config/schema.js';
import { AuditLog } from '../audit/audit-log.js';
import { systemClock } from '../core/clock.js';
import { countReady, firstWritable, waitWritable } from './region-nodes.js';
import { lifecycleCheck } from '../dr/lifecycle-check.js';
import type { DnsUpdateResult } from './dns/dns-provider.js';
import { createDnsProvider } from './dns/create-dns-provider.js';
import { transaction } from '../storage/sql-database.js';
import { lsnDiff, setActiveRegion, skipCrlNumbers, writeRegionHeartbeat, type DbRegionView } from '../storage/region-sql.js';
import { promoteSite, sitePool, siteStore, tryView, waitReplayed } from './site-db.js';
import { Timeline, type TimelineStep } from './timeline.js';
import { takeLeadership, type Leadership } from './witness/leadership-transfer.js';

export interface FailoverOptions {
  config: RampartConfig;
  to: string;
  env?: NodeJS.ProcessEnv;
  /** API token for the verification issuance (operator or admin). */
  token?: string;
  /** Skip the issuance check (not recommended; recorded). */
  skipVerify?: boolean;
  /** Refuse when B is further behind than this (seconds of heartbeat age) unless `force`. */
  maxLagSeconds: number;
  /** How long to wait for B to replay a fenced A's last writes. */
  catchUpSeconds?: number;
  force?: boolean;
  /** When the incident started, for the RTO (default: A's last heartbeat B replayed). */
  incidentStart?: Date;
  actor?: string;
  log?: (line: string) => void;
  /** Progress in steps (the CLI's bar). */
  onProgress?: OnProgress;
  baseDir?: string;
}

export interface FailoverReport {
  from: string;
  to: string;
  epoch: string;
  timeline: number;
  fencedSource: boolean;
  fenceNote: string;
  /** WAL bytes the old region had committed that the new one never replayed (null: unknown, the old region was unreachable). */
  rpoBytes: number | null;
  /** Seconds of the old region's writes at risk: 0 when fenced and caught up; else the age of its last replayed heartbeat at promotion. */
  rpoSeconds: number | null;
  /** Commit time of the last transaction of the old region that the new one replayed. */
  replayedUpTo: string | null;
  rtoSeconds: number;
  rtoFrom: string;
  commandSeconds: number;
  dns: DnsUpdateResult | null;
  verifiedSerial: string | null;
  steps: TimelineStep[];
  text: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How far CRL numbers jump after an unfenced failover (far more CRLs than a region publishes in any outage). */
export const CRL_NUMBER_GAP = 1_000_000;

export async function failoverRegion(o: FailoverOptions): Promise<FailoverReport> {
  const env = o.env ?? process.env;
  const regions = o.config.regions;
  if (!regions) throw new Error('no regions are configured (regions.sites)');
  if (!regions.sites[o.to]) throw new Error(`unknown region "${o.to}" (regions.sites: ${Object.keys(regions.sites).join(', ')})`);
  if (!o.skipVerify && regions.sites[o.to]!.nodes.length && !o.token) {
    throw new Error('an API token is needed to verify issuance after the failover (--token or RAMPART_TOKEN), or --skip-verify');
  }
  // About 13 steps (preflight ×2, fence, replay, promote, activate, nodes, DNS, 4 verify steps, audit): the bar's total, an estimate.
  const t = new Timeline(o.log, o.onProgress ? new StepMeter(o.onProgress, 'failover', { steps: 13 }) : undefined);
  const target = sitePool(o.config, o.to, env);
  let leadership: Leadership | null = null;
  let promoted = false;
  const sources = new Map(Object.keys(regions.sites).filter((r) => r !== o.to).map((r) => [r, sitePool(o.config, r, env, { timeoutSeconds: regions.peerTimeoutSeconds, primary: true })]));
  try {
    // 1. preflight
    const pre = await t.step(`preflight: region ${o.to}`, async () => {
      const { view, error } = await tryView(target, 5000);
      if (!view) throw new Error(`region ${o.to}'s database is unreachable: ${error}`);
      if (!view.inRecovery) {
        throw new Error(view.state?.activeRegion === o.to ? `region ${o.to} is already the active region (epoch ${view.state.epoch})` : `region ${o.to}'s database is not a replica: refusing to promote it`);
      }
      if (!view.state) throw new Error(`region ${o.to}'s replica has no region_state yet (has the active region's database been migrated and claimed?)`);
      // A failover that stopped after fencing the old region: the fence has replicated, naming the target already.
      const from = view.state.activeRegion !== o.to ? view.state.activeRegion
        : view.heartbeats.filter((h) => h.region !== o.to).sort((a, b) => b.at.getTime() - a.at.getTime())[0]?.region
          ?? Object.keys(regions.sites).find((r) => r !== o.to)!;
      const hb = view.heartbeats.find((h) => h.region === from) ?? null;
      const lag = hb ? (view.now.getTime() - hb.at.getTime()) / 1000 : null;
      const nodes = regions.sites[o.to]!.nodes;
      const readyNodes = await countReady(nodes);
      if (nodes.length && readyNodes === 0) throw new Error(`none of region ${o.to}'s ${nodes.length} node(s) is ready (GET /readyz)`);
      return { view, from, hb, lag, readyNodes, nodes: nodes.length };
    }, (p) => `replica of ${p.from} (epoch ${p.view.state!.epoch}), replayed up to ${p.view.lsn}, last heartbeat of ${p.from} ${p.lag === null ? 'never' : `${p.lag.toFixed(1)} s ago`}; ${p.readyNodes}/${p.nodes} nodes ready`);
    const from = pre.from;
    const source = sources.get(from);
    if (!source) throw new Error(`region ${from} (active per ${o.to}'s replica) is not in regions.sites`);
    const src = await t.step(`preflight: region ${from}`, () => tryView(source, regions.peerTimeoutSeconds * 1000),
      (s) => (s.view ? `reachable, ${s.view.inRecovery ? 'replica' : 'primary'}, active ${s.view.state?.activeRegion ?? '-'} epoch ${s.view.state?.epoch ?? '-'}, at ${s.view.lsn}` : `unreachable: ${s.error}`));
    const sourceUp = src.view !== null && !src.view.inRecovery;
    const alreadyFenced = sourceUp && src.view!.state?.activeRegion === o.to;
    if (!sourceUp && pre.lag !== null && pre.lag > o.maxLagSeconds && !o.force) {
      throw new Error(`region ${o.to} is ${pre.lag.toFixed(0)} s behind (last heartbeat of ${from}), more than --max-lag ${o.maxLagSeconds} s: use --force to promote anyway and lose that much`);
    }
    const highest = [pre.view.state!.epoch, src.view?.state?.epoch ?? 0n].reduce((a, b) => (a > b ? a : b));
    // A re-run after the fence was written keeps its epoch.
    const epoch = alreadyFenced || pre.view.state!.activeRegion === o.to ? highest : highest + 1n;

    // 2. fence the old region
    let fencedSource = false;
    let fenceNote: string;
    let fenceLsn: string | null = null;
    if (sourceUp) {
      const fenced = await t.step(`fence ${from}`, async () => {
        if (!alreadyFenced) await source.once('fence', (sql) => setActiveRegion(sql, o.to, epoch, `fenced by failover to ${o.to}`), 5000);
        const v = await source.once('fence-lsn', (sql) => sql`SELECT pg_current_wal_lsn()::text AS lsn`, 5000);
        return String(v[0]!.lsn);
      }, (lsn) => `region_state in ${from} names ${o.to} at epoch ${epoch}: ${from}'s nodes refuse writes; its WAL ends at ${lsn}`);
      fencedSource = true;
      fenceLsn = fenced;
      fenceNote = `fenced in its database at epoch ${epoch}`;
      const caught = await t.step(`wait for ${o.to} to replay ${from} up to the fence`, () => waitReplayed(target, fenced, (o.catchUpSeconds ?? 30) * 1000, lsnDiff),
        (c) => (c.caughtUp ? `replayed ${c.replayLsn}: nothing lost` : `still ${c.behindBytes ?? '?'} bytes behind at ${c.replayLsn}`));
      if (!caught.caughtUp && !o.force) throw new Error(`region ${o.to} did not catch up with ${from} within ${o.catchUpSeconds ?? 30} s (${caught.behindBytes} bytes behind): ${from} stays fenced; retry, or --force to lose them`);
    } else {
      fenceNote = `NOT fenced: ${src.view ? `its database is a replica` : `unreachable (${src.error})`}; its nodes fence themselves when they see ${o.to} active at epoch ${epoch}`;
      t.note(`fence ${from}`, fenceNote, false);
      const waitMs = regions.witness ? 0 : pre.hb ? regions.resumeWithoutPeerSeconds * 1000 - (Date.now() - pre.hb.at.getTime() + (pre.view.now.getTime() - Date.now())) : 0;
      if (waitMs > 0 && !o.force) {
        await t.step(`wait until ${from}'s last heartbeat is ${regions.resumeWithoutPeerSeconds} s old`, () => sleep(waitMs),
          () => `an unfenced ${from} that returns now waits for a peer before writing`);
      }
    }

    // 2b. witness: leadership only once the old region's lease is gone (never --force).
    if (regions.witness) {
      const w = regions.witness;
      leadership = await t.step(`witness: take leadership for ${o.to}`, () => takeLeadership({ config: w, to: o.to, epoch: epoch.toString(), log: o.log }),
        (l) => `lease ${l.leaseId} taken after ${(l.waitedMs / 1000).toFixed(1)} s (${from}'s lease expired or was revoked; ${from}'s nodes stopped writing ${w.marginSeconds} s before it could expire)`);
    }

    // 3. promote
    const before = await tryView(target, 5000);
    const replayedUpTo = before.view?.replayTimestamp?.toISOString() ?? null;
    const promotedFrom: DbRegionView | null = before.view;
    await t.step(`promote ${o.to}'s database`, () => promoteSite(o.config, o.to, target, env));
    promoted = true;
    const activated = await t.step(`activate region ${o.to}`, async () => {
      // One transaction: the CRL counters have moved before any node of this region sees it active,
      // so none can publish a CRL numbered like one the unfenced old region may have published.
      return target.once('activate', (sql) => transaction(sql, async (tx) => {
        const skipped = fencedSource ? 0 : await skipCrlNumbers(tx, CRL_NUMBER_GAP);
        const row = await setActiveRegion(tx, o.to, epoch, `failover from ${from}${fencedSource ? '' : ` (${from} not fenced)`}`);
        await writeRegionHeartbeat(tx, o.to, 'failover');
        return { row, skipped };
      }), 10_000);
    }, ({ row: r, skipped }) => `region_state: ${r.activeRegion} at epoch ${r.epoch}, timeline ${r.timeline}${skipped ? `; ${skipped} CRL counter(s) moved ${CRL_NUMBER_GAP} ahead (${from} may have published CRLs this region never received)` : ''}`)
      .then((x) => x.row);

    // 4. switch nodes
    const site = regions.sites[o.to]!;
    if (site.nodes.length) await t.step(`wait for ${o.to}'s nodes to take writes`, () => waitWritable(o.to, site.nodes), (s) => s);
    // B's nodes renew the lease themselves once they see B active (or create it again if it lapsed).
    leadership?.handOver();

    // 5. DNS
    let dns: DnsUpdateResult | null = null;
    const provider = regions.dns ? createDnsProvider(regions.dns, { env, baseDir: o.baseDir }) : null;
    if (provider && regions.dns && regions.dns.provider !== 'none') {
      const d = regions.dns;
      dns = await t.step(`DNS (${provider.kind})`, () => provider.update({
        name: d.name, type: d.type, ttl: d.ttl, targets: site.dnsTargets, region: o.to, reason: `failover from ${from}`,
      }), (r) => `${r.name} -> ${r.targets.join(', ')} (was ${r.previous?.join(', ') ?? 'unknown'})${r.detail ? `; ${r.detail}` : ''}`);
    } else {
      t.note('DNS', 'no DNS provider configured (regions.dns): clients follow by other means', true);
    }

    // 6. verify
    let verifiedSerial: string | null = null;
    if (o.skipVerify || !site.nodes.length) {
      t.note('verify issuance', o.skipVerify ? 'SKIPPED (--skip-verify)' : 'no nodes listed for this region', false);
    } else {
      const writable = await firstWritable(site.nodes);
      const outcome = await lifecycleCheck({ httpUrl: writable.http, httpsUrl: writable.https, token: o.token! },
        (name, fn) => t.step(`verify: ${name}`, fn), `failover-check-${Date.now()}.${o.to.toLowerCase()}.rampart.invalid`);
      verifiedSerial = outcome.serial;
    }
    const rtoFrom = o.incidentStart ?? pre.hb?.at ?? t.startedAt;
    const rtoSeconds = (Date.now() - rtoFrom.getTime()) / 1000;
    const rpoBytes = fencedSource ? lsnDiff(fenceLsn, promotedFrom?.lsn ?? null) : null;
    const rpoSeconds = fencedSource && rpoBytes === 0 ? 0 : pre.hb && promotedFrom ? Math.max(0, (promotedFrom.now.getTime() - pre.hb.at.getTime()) / 1000) : null;

    // 7. audit
    await t.step('audit', async () => {
      const store = siteStore(o.config, o.to, env);
      try {
        const audit = new AuditLog({ store, clock: systemClock });
        await audit.record({
          actor: o.actor ?? 'operator', source: 'cli', channel: 'cli', action: 'region.failover', target: `region:${o.to}`, outcome: 'success',
          details: {
            from, to: o.to, epoch: epoch.toString(), timeline: activated.timeline, fencedSource, fenceNote, rpoBytes, rpoSeconds, replayedUpTo,
            replayedLsn: promotedFrom?.lsn ?? null, rtoSeconds: Math.round(rtoSeconds * 10) / 10, verifiedSerial, dns: dns ? { name: dns.name, targets: dns.targets } : null,
          },
        });
        await store.setMeta('region.lastFailover', JSON.stringify({ from, to: o.to, epoch: epoch.toString(), replayedUpTo, replayedLsn: promotedFrom?.lsn ?? null, at: new Date().toISOString() }));
      } finally {
        await store.close();
      }
    });
    const report: Omit<FailoverReport, 'text'> = {
      from, to: o.to, epoch: epoch.toString(), timeline: activated.timeline, fencedSource, fenceNote, rpoBytes, rpoSeconds, replayedUpTo,
      rtoSeconds, rtoFrom: rtoFrom.toISOString(), commandSeconds: t.elapsedMs() / 1000, dns, verifiedSerial, steps: t.steps,
    };
    return { ...report, text: formatReport(report, t) };
  } catch (e) {
    // Stopped before B's database was promoted: leadership goes back as it was.
    if (leadership && !promoted) await leadership.abandon().catch(() => undefined);
    throw e;
  } finally {
    leadership?.handOver();
    t.finish();
    await target.close();
    await Promise.all([...sources.values()].map((p) => p.close()));
  }
}

function formatReport(r: Omit<FailoverReport, 'text'>, t: Timeline): string {
  const rpo = r.rpoBytes === 0 ? 'RPO: 0 — the old region was fenced and the new one replayed all it had committed'
    : r.rpoBytes !== null ? `RPO: ${r.rpoBytes} bytes of WAL committed in ${r.from} were never replayed in ${r.to}`
      : `RPO: unknown, at most about ${r.rpoSeconds === null ? '?' : r.rpoSeconds.toFixed(1)} s — ${r.to} has what ${r.from} committed up to ${r.replayedUpTo ?? '?'}; `
        + `\`rampart failback\` lists (and recovers) what ${r.from} committed after that, once its disk is back`;
  return [
    `region failover ${r.from} -> ${r.to}: epoch ${r.epoch}, timeline ${r.timeline}`,
    t.format(),
    `RTO: ${r.rtoSeconds.toFixed(1)} s (from ${r.rtoFrom} to verified issuance); this command took ${r.commandSeconds.toFixed(1)} s`,
    rpo,
    `old region ${r.from}: ${r.fenceNote}`,
  ].join('\n');
}
