/**
 * A node's view of its region, re-read every `regions.checkSeconds`, and the
 * decision it drives: may this node issue and revoke now?
 *
 * - Its database is a replica (a region not yet promoted): no. It serves
 *   OCSP, CRLs and the inventory from the replica and reports its lag.
 * - Its database is a primary but region_state names another region (a
 *   failover fenced this one): no.
 * - A reachable peer region is a primary that is active at a higher epoch
 *   (or the same epoch on a later timeline): this region was failed over
 *   while it was away. The node writes that fence into its own database, so
 *   every node of the region stops at once, even those that cannot reach
 *   the peer: no.
 * - Otherwise yes, provided a peer confirmed it, there are no peers, or the
 *   region has been alive all along (its heartbeat is younger than
 *   resumeWithoutPeerSeconds). A region coming back from a long outage with
 *   no peer in sight waits: it may have been failed over meanwhile.
 *
 * The decision is cached; every write also carries a RegionFence that the
 * store checks inside the write's transaction (src/storage/region-sql.ts),
 * so a decision that went stale between two checks cannot commit.
 *
 * With a witness (regions.witness, src/region/witness/) the region must also
 * hold the leadership lease: writable() and the fence's `held` say no as soon
 * as the lease is not renewed in time, and a held lease stands in for a peer's
 * confirmation after an outage (no other region can have been promoted
 * without taking the lease).
 */
import type { Logger } from 'pino';
import type { RegionFence } from '../core/types.js';
import { openSqlDatabase, type SqlDatabase } from '../storage/sql-database.js';
import {
  adoptTimeline, claimRegionIfUnset, lsnDiff, readRegionView, setActiveRegion, writeRegionHeartbeat, type DbRegionView,
} from '../storage/region-sql.js';
import type { RegionsConfig } from '../config/region-config.js';

export type DbRole = 'primary' | 'replica' | 'unknown';

export interface PeerStatus {
  region: string;
  reachable: boolean;
  role: DbRole;
  activeRegion: string | null;
  epoch: string | null;
  timeline: number | null;
  error?: string;
}

export interface RegionStatus {
  region: string;
  dbRole: DbRole;
  activeRegion: string | null;
  epoch: string | null;
  timeline: number | null;
  writable: boolean;
  fenced: boolean;
  reason: string;
  /** Replica only: age of the newest replayed heartbeat of the active region (seconds), and WAL bytes behind. */
  lagSeconds: number | null;
  lagBytes: number | null;
  replayLsn: string | null;
  lastReplayedHeartbeat: string | null;
  walReceiver: DbRegionView['walReceiver'];
  standbys: DbRegionView['standbys'];
  peers: PeerStatus[];
  checkedAt: string | null;
  error: string | null;
}

export interface RegionMonitorOptions {
  config: RegionsConfig;
  /** The node's own store pool. */
  pool: SqlDatabase;
  /** Connection defaults for peer regions' databases. */
  peerDefaults: { database: string; user: string; passwordEnv: string };
  env: NodeJS.ProcessEnv;
  nodeId: string;
  /** Whether this node holds the region's leader (or active) lease: it writes the heartbeat. */
  isLeader: () => boolean;
  log: Logger;
  onChange?: (s: RegionStatus, previous: RegionStatus) => void;
  /** Called when this node fenced its own region (for the audit log). */
  onFenced?: (by: PeerStatus, s: RegionStatus) => void;
  /** Witness mode: the region writes only while this says it holds the leadership lease. */
  witness?: { holds(): boolean; refusal(): string };
}

const INITIAL = (region: string): RegionStatus => ({
  region, dbRole: 'unknown', activeRegion: null, epoch: null, timeline: null, writable: false, fenced: false,
  reason: 'region not checked yet', lagSeconds: null, lagBytes: null, replayLsn: null, lastReplayedHeartbeat: null,
  walReceiver: null, standbys: [], peers: [], checkedAt: null, error: null,
});

export class RegionMonitor {
  private s: RegionStatus;
  private fenceValue: RegionFence | undefined;
  private readonly peers = new Map<string, SqlDatabase>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private ticking: Promise<void> | null = null;
  private lastHeartbeat = 0;
  private lastGoodCheck = 0;

  constructor(private readonly o: RegionMonitorOptions) {
    this.s = INITIAL(o.config.self);
    for (const [name, site] of Object.entries(o.config.sites)) {
      if (name === o.config.self) continue;
      const password = o.env[site.database.passwordEnv ?? o.peerDefaults.passwordEnv];
      this.peers.set(name, openSqlDatabase({
        hosts: site.database.hosts, database: site.database.database ?? o.peerDefaults.database, user: site.database.user ?? o.peerDefaults.user,
        ...(password ? { password } : {}), targetSessionAttrs: 'any', max: 1, retryForMs: 0,
        connectTimeoutSeconds: o.config.peerTimeoutSeconds, applicationName: `rampart ${o.nodeId} peer-check`,
      }));
    }
  }

  get region(): string { return this.o.config.self; }
  status(): RegionStatus {
    const w = this.o.witness;
    return this.s.writable && w && !w.holds() ? { ...this.s, writable: false, reason: w.refusal() } : this.s;
  }
  writable(): boolean { return this.s.writable && (this.o.witness?.holds() ?? true); }
  isReplica(): boolean { return this.s.dbRole === 'replica'; }
  /** Whether this region should lead, by its own database: a primary that names it active, not fenced. */
  shouldLead(): boolean { return this.s.dbRole === 'primary' && this.s.activeRegion === this.region && !this.s.fenced; }
  /** Whether a failover fenced this region: its database, a primary, names another region active. */
  fencedByFailover(): boolean { return this.s.dbRole === 'primary' && this.s.activeRegion !== null && this.s.activeRegion !== this.region; }

  /** The fence a write must carry; undefined when this node may not write. */
  fence(): RegionFence | undefined {
    if (!this.writable() || !this.fenceValue) return undefined;
    const w = this.o.witness;
    return w ? { ...this.fenceValue, held: () => w.holds() } : this.fenceValue;
  }

  /** One check now (start-up, tests, the failover command's wait). */
  async tick(): Promise<RegionStatus> {
    if (this.ticking) { await this.ticking; return this.s; }
    this.ticking = this.check().finally(() => { this.ticking = null; });
    await this.ticking;
    return this.s;
  }

  private async check(): Promise<void> {
    const prev = this.s;
    const timeoutMs = Math.max(2000, this.o.config.peerTimeoutSeconds * 1000);
    let own: DbRegionView;
    try {
      own = await this.o.pool.once('region-check', (sql) => readRegionView(sql), timeoutMs);
    } catch (e) {
      // Keep the last decision: the in-transaction fence still protects every write.
      this.set({ ...prev, error: `own database: ${(e as Error).message}`, checkedAt: new Date().toISOString() }, prev);
      return;
    }
    const next: RegionStatus = {
      ...INITIAL(this.region), dbRole: own.inRecovery ? 'replica' : 'primary', timeline: own.timeline,
      walReceiver: own.walReceiver, standbys: own.standbys, checkedAt: own.now.toISOString(), replayLsn: own.inRecovery ? own.lsn : null,
    };
    let state = own.state;
    if (!own.inRecovery && !state) {
      state = await this.o.pool.once('region-claim', (sql) => claimRegionIfUnset(sql, this.region, `first node of region ${this.region} on an empty database`), timeoutMs);
    }
    next.activeRegion = state?.activeRegion ?? null;
    next.epoch = state?.epoch.toString() ?? null;
    next.peers = await this.checkPeers(timeoutMs);

    if (own.inRecovery) {
      const hb = own.heartbeats.find((h) => h.region === state?.activeRegion) ?? own.heartbeats.slice().sort((a, b) => b.at.getTime() - a.at.getTime())[0];
      next.lastReplayedHeartbeat = hb?.at.toISOString() ?? null;
      next.lagSeconds = hb ? Math.max(0, (own.now.getTime() - hb.at.getTime()) / 1000) : null;
      const upstream = next.peers.find((p) => p.region === state?.activeRegion && p.reachable && p.role === 'primary');
      next.lagBytes = lsnDiff(upstream ? this.peerLsn.get(upstream.region) ?? null : own.receiveLsn, own.lsn);
      next.reason = `read-only replica of region ${state?.activeRegion ?? '?'}: validation and inventory only until this region is promoted (rampart failover region --to ${this.region})`;
      this.fenceValue = undefined;
      this.set(next, prev);
      return;
    }
    if (!state) return this.set({ ...next, reason: 'no region state' }, prev);
    if (state.activeRegion !== this.region) {
      this.fenceValue = undefined;
      return this.set({ ...next, fenced: true, reason: `fenced: region ${state.activeRegion} is active (epoch ${state.epoch}, since ${state.changedAt.toISOString()}: ${state.reason})` }, prev);
    }
    // A peer that took over while we were away wins: fence this region in its own database.
    const winner = next.peers.find((p) => p.reachable && p.role === 'primary' && p.activeRegion === p.region && p.epoch !== null
      && (BigInt(p.epoch) > state!.epoch || (BigInt(p.epoch) === state!.epoch && (p.timeline ?? 0) > own.timeline)));
    if (winner) {
      const epoch = BigInt(winner.epoch!);
      const reason = `fenced by node ${this.o.nodeId}: region ${winner.region} is active at epoch ${epoch} on timeline ${winner.timeline} (this region: epoch ${state.epoch}, timeline ${own.timeline})`;
      try {
        await this.o.pool.once('region-fence-self', (sql) => setActiveRegion(sql, winner.region, epoch, reason), timeoutMs);
      } catch (e) {
        this.o.log.error({ err: e }, 'could not record the fence of this region in its database');
      }
      this.fenceValue = undefined;
      const s = { ...next, activeRegion: winner.region, epoch: epoch.toString(), fenced: true, reason };
      this.set(s, prev);
      this.o.onFenced?.(winner, s);
      return;
    }
    if (state.timeline !== own.timeline) {
      // Same region, same epoch, new timeline: the region's own HA tool promoted a standby.
      await this.o.pool.once('region-adopt-timeline', (sql) => adoptTimeline(sql, this.region, state!.epoch), timeoutMs).catch(() => false);
    }
    const self = own.heartbeats.find((h) => h.region === this.region);
    const aliveAllAlong = self !== undefined && own.now.getTime() - self.at.getTime() <= this.o.config.resumeWithoutPeerSeconds * 1000;
    const confirmed = next.peers.some((p) => p.reachable);
    // This node has been writable without a gap (its database answered within the resume window), at this epoch.
    const continuous = prev.writable && prev.epoch === state.epoch.toString() && Date.now() - this.lastGoodCheck <= this.o.config.resumeWithoutPeerSeconds * 1000;
    this.lastGoodCheck = Date.now();
    if (this.peers.size === 0 || confirmed || aliveAllAlong || continuous || (this.o.witness?.holds() ?? false)) {
      this.fenceValue = { name: this.region, epoch: state.epoch, timeline: own.timeline };
      next.writable = true;
      next.reason = `active region (epoch ${state.epoch}, timeline ${own.timeline})`;
    } else {
      this.fenceValue = undefined;
      next.reason = `region ${this.region} was down for ${self ? Math.round((own.now.getTime() - self.at.getTime()) / 1000) : '?'} s and no peer region is reachable: `
        + 'writes wait until one confirms this region is still active (or run `rampart region resume`)';
    }
    this.set(next, prev);
    if (next.writable && this.o.isLeader() && Date.now() - this.lastHeartbeat >= this.o.config.heartbeatSeconds * 1000 - 100) {
      this.lastHeartbeat = Date.now();
      await this.o.pool.once('region-heartbeat', (sql) => writeRegionHeartbeat(sql, this.region, this.o.nodeId), timeoutMs)
        .catch((e) => this.o.log.warn({ err: e }, 'region heartbeat failed'));
    }
  }

  private readonly peerLsn = new Map<string, string | null>();

  private async checkPeers(timeoutMs: number): Promise<PeerStatus[]> {
    return Promise.all([...this.peers].map(async ([region, pool]): Promise<PeerStatus> => {
      try {
        const v = await pool.once('peer-region', (sql) => readRegionView(sql), timeoutMs);
        this.peerLsn.set(region, v.lsn);
        return {
          region, reachable: true, role: v.inRecovery ? 'replica' : 'primary', activeRegion: v.state?.activeRegion ?? null,
          epoch: v.state?.epoch.toString() ?? null, timeline: v.timeline,
        };
      } catch (e) {
        this.peerLsn.delete(region);
        return { region, reachable: false, role: 'unknown', activeRegion: null, epoch: null, timeline: null, error: (e as Error).message };
      }
    }));
  }

  private set(next: RegionStatus, prev: RegionStatus): void {
    this.s = next;
    if (next.writable !== prev.writable || next.dbRole !== prev.dbRole || next.fenced !== prev.fenced || next.activeRegion !== prev.activeRegion) {
      this.o.onChange?.(next, prev);
    }
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const loop = (): void => {
      if (!this.running) return;
      void this.tick().catch((e) => this.o.log.warn({ err: e }, 'region check failed')).finally(() => {
        if (!this.running) return;
        this.timer = setTimeout(loop, this.o.config.checkSeconds * 1000);
        this.timer.unref();
      });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    if (this.ticking) await this.ticking.catch(() => undefined);
    await Promise.all([...this.peers.values()].map((p) => p.close()));
  }
}
