/**
 * The SQL behind multi-region operation (PostgreSQL only): what a node or the
 * failover command reads from one region's database in one round trip
 * (recovery state, timeline, WAL positions, the region_state row, the
 * heartbeats), and the few writes that move the active region.
 *
 * region_state is one row: the active region, its epoch (bumped by every
 * failover, like a lease epoch) and the timeline the database was on when
 * the region became active. It replicates with everything else, so a
 * replica region reads the same row its primary has.
 */
import type { Sql, TransactionSql } from 'postgres';
import type { RegionFence } from '../core/types.js';
import { RampartError } from '../core/errors.js';

type Q = Sql | TransactionSql;

export interface RegionRow {
  activeRegion: string;
  epoch: bigint;
  timeline: number;
  changedAt: Date;
  reason: string;
}

export interface RegionHeartbeat { region: string; at: Date; node: string; lsn: string }

export interface StandbyLag { name: string; state: string; syncState: string; lagBytes: number | null; replayLagSeconds: number | null }

export interface DbRegionView {
  inRecovery: boolean;
  /** A primary's current WAL timeline; a replica's received (or last checkpoint's) timeline. */
  timeline: number;
  /** The database's clock. */
  now: Date;
  /** null before any region claimed the database. */
  state: RegionRow | null;
  heartbeats: RegionHeartbeat[];
  /** pg_current_wal_lsn on a primary, pg_last_wal_replay_lsn on a replica. */
  lsn: string | null;
  /** Replica only. */
  receiveLsn: string | null;
  /** Replica only: commit time of the last replayed transaction. */
  replayTimestamp: Date | null;
  /** Replica only: the WAL receiver's status ('streaming', ...) and upstream, null when none runs. */
  walReceiver: { status: string; sender: string | null } | null;
  /** Primary only: its streaming standbys (pg_stat_replication). */
  standbys: StandbyLag[];
}

const TIMELINE_NOW = `CASE WHEN pg_is_in_recovery()
  THEN COALESCE((SELECT received_tli FROM pg_stat_wal_receiver), (SELECT timeline_id FROM pg_control_checkpoint()))
  ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END`;

const num = (v: unknown): number => Number(v);
const big = (v: unknown): bigint => BigInt(String(v));
const date = (v: unknown): Date => new Date(num(v));

/** 'X/Y' -> byte position. */
export function lsnToBigInt(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (!m) throw new Error(`bad LSN "${lsn}"`);
  return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
}

/** Bytes from `from` to `to` (0 when `to` is not ahead). */
export function lsnDiff(to: string | null, from: string | null): number | null {
  if (!to || !from) return null;
  const d = lsnToBigInt(to) - lsnToBigInt(from);
  return d > 0n ? Number(d) : 0;
}

function toRow(r: Record<string, unknown>): RegionRow {
  return { activeRegion: String(r.active_region), epoch: big(r.epoch), timeline: num(r.timeline), changedAt: date(r.changed_at), reason: String(r.reason) };
}

/** A primary's streaming standbys and how far each is behind (pg_stat_replication; empty on a replica). */
export async function readStandbys(sql: Q): Promise<StandbyLag[]> {
  return (await sql`SELECT application_name, state, sync_state,
      pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS lag_bytes,
      extract(epoch from replay_lag)::float8 AS replay_lag FROM pg_stat_replication
      WHERE NOT pg_is_in_recovery() ORDER BY application_name`)
    .map((r) => ({
      name: String(r.application_name), state: String(r.state), syncState: String(r.sync_state),
      lagBytes: r.lag_bytes === null ? null : num(r.lag_bytes), replayLagSeconds: r.replay_lag === null ? null : num(r.replay_lag),
    }));
}

/** Everything a region decision needs, from one database. */
export async function readRegionView(sql: Q): Promise<DbRegionView> {
  const [s] = await sql.unsafe(`SELECT pg_is_in_recovery() AS rec, ${TIMELINE_NOW} AS tli,
      (extract(epoch from clock_timestamp())*1000)::bigint AS now,
      CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text ELSE pg_current_wal_lsn()::text END AS lsn,
      pg_last_wal_receive_lsn()::text AS receive_lsn,
      (extract(epoch from pg_last_xact_replay_timestamp())*1000)::bigint AS replay_ts,
      to_regclass('region_state') IS NOT NULL AS has_tables`);
  const inRecovery = s!.rec === true;
  let state: RegionRow | null = null;
  let heartbeats: RegionHeartbeat[] = [];
  if (s!.has_tables === true) {
    const [r] = await sql`SELECT * FROM region_state WHERE id = 1`;
    state = r ? toRow(r) : null;
    heartbeats = (await sql`SELECT region, at, node, lsn FROM region_heartbeats ORDER BY region`)
      .map((h) => ({ region: String(h.region), at: date(h.at), node: String(h.node), lsn: String(h.lsn) }));
  }
  let walReceiver: DbRegionView['walReceiver'] = null;
  let standbys: StandbyLag[] = [];
  if (inRecovery) {
    const [w] = await sql`SELECT status, sender_host, sender_port FROM pg_stat_wal_receiver`;
    if (w) walReceiver = { status: String(w.status), sender: w.sender_host ? `${String(w.sender_host)}:${String(w.sender_port)}` : null };
  } else {
    standbys = await readStandbys(sql);
  }
  return {
    inRecovery, timeline: num(s!.tli), now: date(s!.now), state, heartbeats,
    lsn: s!.lsn === null ? null : String(s!.lsn), receiveLsn: s!.receive_lsn === null ? null : String(s!.receive_lsn),
    replayTimestamp: s!.replay_ts === null ? null : date(s!.replay_ts), walReceiver, standbys,
  };
}

/** Inside a write's transaction: throws 'fenced' unless `f`'s region is still active at that epoch, on that timeline. */
export async function checkRegionFence(tx: TransactionSql, f: RegionFence): Promise<void> {
  // A share lock on region_state blocks a failover's update of it: a node cut off mid-write must not hold it
  // for as long as TCP keepalive takes (as for the lease row, postgres-store.ts), so the server ends an idle
  // transaction after 2 s (SET LOCAL).
  const [r] = await tx.unsafe(`SELECT active_region, epoch, ${TIMELINE_NOW} AS tli, set_config('idle_in_transaction_session_timeout', '2000', true) FROM region_state WHERE id = 1 FOR SHARE`);
  if (!r || r.active_region !== f.name || big(r.epoch) !== f.epoch) {
    throw new RampartError('fenced', `region ${f.name} (epoch ${f.epoch}) is no longer the active region`
      + (r ? `: region ${String(r.active_region)} is, at epoch ${String(r.epoch)}` : ''));
  }
  if (num(r.tli) !== f.timeline) {
    throw new RampartError('fenced', `the database is on timeline ${String(r.tli)}, not ${f.timeline} as checked: this node re-checks its region first`);
  }
  if (f.held && !f.held()) {
    throw new RampartError('fenced', `region ${f.name} no longer holds its witness lease (not renewed in time): the write is refused`);
  }
}

/** The first primary to see an empty region_state claims it for its region (epoch 1). */
export async function claimRegionIfUnset(sql: Q, region: string, reason: string): Promise<RegionRow> {
  await sql.unsafe(`INSERT INTO region_state (id, active_region, epoch, timeline, changed_at, reason)
    VALUES (1, $1, 1, ${TIMELINE_NOW}, (extract(epoch from clock_timestamp())*1000)::bigint, $2) ON CONFLICT (id) DO NOTHING`, [region, reason]);
  const [r] = await sql`SELECT * FROM region_state WHERE id = 1`;
  return toRow(r!);
}

/**
 * Makes `region` the active one at `epoch` (never lowering the stored
 * epoch), recording the database's current timeline. Used by failover
 * (on the promoted side, and to fence the old side) and by a node fencing
 * its own region when a peer region is active at a higher epoch.
 */
export async function setActiveRegion(sql: Q, region: string, epoch: bigint, reason: string): Promise<RegionRow> {
  const [r] = await sql.unsafe(`INSERT INTO region_state (id, active_region, epoch, timeline, changed_at, reason)
    VALUES (1, $1, $2::bigint, ${TIMELINE_NOW}, (extract(epoch from clock_timestamp())*1000)::bigint, $3)
    ON CONFLICT (id) DO UPDATE SET active_region = excluded.active_region, epoch = GREATEST(region_state.epoch, excluded.epoch),
      timeline = excluded.timeline, changed_at = excluded.changed_at, reason = excluded.reason
    RETURNING *`, [region, epoch.toString(), reason]);
  return toRow(r!);
}

/** After an in-region database failover (same region, same epoch): records the new timeline. */
export async function adoptTimeline(sql: Q, region: string, epoch: bigint): Promise<boolean> {
  const r = await sql.unsafe(`UPDATE region_state SET timeline = ${TIMELINE_NOW}, changed_at = (extract(epoch from clock_timestamp())*1000)::bigint,
      reason = 'in-region database failover: new timeline' WHERE id = 1 AND active_region = $1 AND epoch = $2::bigint AND timeline <> ${TIMELINE_NOW}`,
  [region, epoch.toString()]);
  return r.count > 0;
}

/** The active region's leader, every second: what replicas measure their lag against, and proof the region is alive. */
export async function writeRegionHeartbeat(sql: Q, region: string, node: string): Promise<void> {
  await sql.unsafe(`INSERT INTO region_heartbeats (region, at, node, lsn)
    VALUES ($1, (extract(epoch from clock_timestamp())*1000)::bigint, $2, pg_current_wal_lsn()::text)
    ON CONFLICT (region) DO UPDATE SET at = excluded.at, node = excluded.node, lsn = excluded.lsn`, [region, node]);
}

/**
 * After promoting a region that could not fence the old one: the old region
 * may have published CRLs the new one never received, numbered past what it
 * replayed. CRL numbers must never repeat (RFC 5280 5.2.3), so every counter
 * jumps ahead by `gap`; skipping numbers is allowed.
 */
export async function skipCrlNumbers(sql: Q, gap: number): Promise<number> {
  // Every CA, also one with no CRL counter yet: the old region may have started its numbering meanwhile.
  const r = await sql.unsafe(`INSERT INTO crl_counters (issuer_id, last_number)
    SELECT id, $1::bigint FROM issuers WHERE kind IN ('root', 'intermediate')
    ON CONFLICT (issuer_id) DO UPDATE SET last_number = crl_counters.last_number + $1::bigint`, [String(gap)]);
  return r.count;
}
