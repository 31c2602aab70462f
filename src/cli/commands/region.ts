/**
 * Cross-region commands: `rampart region status|resume`, `rampart failover
 * region --to B`, `rampart failback --to A` (src/region/).
 */
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { failoverRegion } from '../../region/failover.js';
import { failback } from '../../region/failback.js';
import { writeRegionHeartbeat, lsnDiff } from '../../storage/region-sql.js';
import { findPrimaryHost, sitePool, siteStore, tryView } from '../../region/site-db.js';
import { AuditLog } from '../../audit/audit-log.js';
import { systemClock } from '../../core/clock.js';
import { cliActor, loadCliConfig, out, type GlobalOptions } from '../context.js';
import { withProgress } from '../progress-view.js';
import { describeWitness } from '../../region/witness/witness-keys.js';

function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 86_400) throw new InvalidArgumentError('expected seconds (0..86400)');
  return n;
}

function isoTime(v: string): Date {
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new InvalidArgumentError('expected an ISO 8601 time, e.g. 2026-11-23T17:40:00Z');
  return d;
}

export function registerRegion(program: Command, g: () => GlobalOptions): void {
  const region = program.command('region').description('cross-region disaster recovery: state of every region');
  region.command('status')
    .description("each region's database (primary or replica), the active region and epoch, lag, and its nodes")
    .action(async () => {
      const config = loadCliConfig(g());
      if (!config.regions) throw new Error('no regions configured (regions.sites)');
      const rows: Array<Record<string, any>> = [];
      for (const [name, site] of Object.entries(config.regions.sites)) {
        const pool = sitePool(config, name, process.env);
        try {
          const { view, error } = await tryView(pool, 4000);
          const active = view?.state?.activeRegion ?? null;
          const hb = view?.heartbeats.find((h) => h.region === active);
          rows.push({
            region: name, reachable: view !== null, error, role: view ? (view.inRecovery ? 'replica' : 'primary') : null, activeRegion: active,
            epoch: view?.state?.epoch.toString() ?? null, timeline: view?.timeline ?? null, lsn: view?.lsn ?? null,
            lagSeconds: view?.inRecovery && hb ? (view.now.getTime() - hb.at.getTime()) / 1000 : null,
            walReceiver: view?.walReceiver ?? null, standbys: view?.standbys ?? [], nodes: site.nodes.length,
          });
        } finally {
          await pool.close();
        }
      }
      const primaries = rows.filter((r) => r.role === 'primary' && r.activeRegion === r.region);
      for (const r of rows) {
        const ref = primaries[0];
        (r as Record<string, unknown>).lagBytes = r.role === 'replica' && ref ? lsnDiff(ref.lsn, r.lsn) : null;
      }
      const witness = config.regions.witness ? await describeWitness(config.regions.witness) : null;
      out(g(), { regions: rows, ...(witness ? { witness } : {}) }, () => rows.map((r) => (r.reachable
        ? `${r.region}: ${r.role} (timeline ${r.timeline}) — active region ${r.activeRegion ?? '-'} epoch ${r.epoch ?? '-'}${r.role === 'replica' ? `, lag ${r.lagSeconds === null ? '?' : `${r.lagSeconds.toFixed(1)} s`} / ${(r as Record<string, unknown>).lagBytes ?? '?'} bytes, ${r.walReceiver?.status ?? 'no WAL receiver'}` : ''}${r.role === 'primary' && r.activeRegion !== r.region ? '  [FENCED]' : ''}`
        : `${r.region}: unreachable (${r.error})`)).join('\n')
        + (primaries.length > 1 ? '\nWARNING: more than one region claims to be active' : '')
        + (witness ? `\nwitness: ${witness.text}` : ''));
    });
  region.command('resume')
    .description('lets this region (regions.self) take writes again after an outage when no peer region can confirm it is still the active one: only when you know no other region was promoted')
    .action(async () => {
      const config = loadCliConfig(g());
      if (!config.regions) throw new Error('no regions configured (regions.sites)');
      const self = config.regions.self;
      const host = await findPrimaryHost(config, self, process.env);
      if (!host) throw new Error(`region ${self} has no primary database to resume`);
      const pool = sitePool(config, self, process.env, { host });
      try {
        const { view } = await tryView(pool, 4000);
        if (view?.state?.activeRegion !== self) throw new Error(`region ${self} is fenced (active region: ${view?.state?.activeRegion ?? '-'}): use rampart failback`);
        await pool.once('resume', (sql) => writeRegionHeartbeat(sql, self, cliActor().id), 5000);
      } finally {
        await pool.close();
      }
      const store = siteStore(config, self, process.env);
      try {
        const a = cliActor();
        await new AuditLog({ store, clock: systemClock }).record({ actor: a.id, source: a.source, channel: a.channel, action: 'region.resume', target: `region:${self}`, outcome: 'success' });
      } finally {
        await store.close();
      }
      out(g(), { resumed: self }, () => `region ${self}: heartbeat written; its nodes take writes within regions.checkSeconds`);
    });

  program.command('failover').description('move issuance to another site').command('region')
    .description('promote another region: preflight, fence the active region, promote, switch nodes, DNS, verify issuance, audit; prints the timeline with RTO and RPO')
    .requiredOption('--to <region>', 'the region to promote')
    .option('--token <token>', 'API token for the verification issuance (default $RAMPART_TOKEN)')
    .option('--max-lag <seconds>', "refuse when the target is further behind than this (default: the region-failover tier's RPO)", seconds)
    .option('--catch-up <seconds>', 'wait this long for the target to replay a fenced region\'s last writes', seconds, 30)
    .option('--since <time>', 'when the incident began, for the RTO (default: the last heartbeat of the old region the target replayed)', isoTime)
    .option('--skip-verify', 'do not issue a test certificate (recorded as skipped)')
    .option('--force', 'promote even when the target lags more than --max-lag or did not catch up with a fenced region, and without waiting out resumeWithoutPeerSeconds after an unfenced region\'s last heartbeat')
    .action(async (opts: { to: string; token?: string; maxLag?: number; catchUp: number; since?: Date; skipVerify?: boolean; force?: boolean }) => {
      const config = loadCliConfig(g());
      const r = await withProgress(g(), (v) => failoverRegion({
        config, to: opts.to, token: opts.token ?? process.env.RAMPART_TOKEN, skipVerify: opts.skipVerify, force: opts.force,
        maxLagSeconds: opts.maxLag ?? (config.tiers['region-failover']?.rpoMinutes ?? 5) * 60, catchUpSeconds: opts.catchUp, incidentStart: opts.since,
        actor: cliActor().id, log: (line) => v.log(line), onProgress: v.onProgress, baseDir: g().config ? dirname(resolve(g().config!)) : process.cwd(),
      }));
      out(g(), { ...r, text: undefined }, () => r.text);
    });

  program.command('failback')
    .description('bring issuance back to a failed-over region with no loss: reconcile what it committed alone, rebuild it as a replica, switch over, put the other region back as replica')
    .requiredOption('--to <region>', 'the region to bring back')
    .option('--token <token>', 'API token for the verification issuance (default $RAMPART_TOKEN)')
    .option('--rebuild-pgdata <dir>', "the returning region's old primary data directory on this host (pg_rewind, else a base backup)")
    .option('--rebuild-standby-pgdata <dir>', "an in-region standby of the returning region on this host, rebuilt to stream from its rebuilt primary (repeatable; its cluster_name is its application_name)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--demote-pgdata <dir>', "the currently active region's primary data directory on this host, rebuilt as a replica after the switchover")
    .option('--no-base-backup', 'fail instead of taking a base backup when pg_rewind cannot')
    .option('--catch-up <seconds>', 'wait this long for replication to catch up', seconds, 120)
    .option('--skip-verify', 'do not issue a test certificate')
    .action(async (opts: { to: string; token?: string; rebuildPgdata?: string; rebuildStandbyPgdata: string[]; demotePgdata?: string; baseBackup: boolean; catchUp: number; skipVerify?: boolean }) => {
      const config = loadCliConfig(g());
      const r = await withProgress(g(), (v) => failback({
        config, to: opts.to, token: opts.token ?? process.env.RAMPART_TOKEN, skipVerify: opts.skipVerify, rebuildPgdata: opts.rebuildPgdata, rebuildStandbyPgdata: opts.rebuildStandbyPgdata,
        demotePgdata: opts.demotePgdata, allowBaseBackup: opts.baseBackup, catchUpSeconds: opts.catchUp, actor: cliActor().id, log: (line) => v.log(line), onProgress: v.onProgress,
        baseDir: g().config ? dirname(resolve(g().config!)) : process.cwd(),
      }));
      out(g(), { ...r, text: undefined }, () => r.text);
    });
}
