/**
 * A node's hold on its region's leadership lease in the witness (etcd).
 *
 * Every `renewSeconds` the node reads the leader key and the active record
 * (one linearizable read) and then:
 * - its region should lead (its database is the primary and names it
 *   active, region-monitor.ts) and the record names it (or is absent):
 *   the leader key absent → it grants a lease and creates the key
 *   (create_revision == 0, with the record unchanged); the key names its
 *   region → it renews that lease (every node of the region renews the one
 *   lease; whoever created it);
 * - its region was fenced (its database, a primary, names another region)
 *   and the key still names it → it revokes the lease: leadership is free
 *   for the region a failover is promoting. A replica region's nodes never
 *   revoke: the key names their region while a failover to it, holding the
 *   lease, promotes their database.
 *
 * holds() is true only until `sent + TTL − margin` by this process's
 * monotonic clock, where `sent` is when the node sent its last renewal that
 * etcd answered (or the grant): etcd cannot expire the lease before
 * `sent + TTL`, and nobody can create the key before it does. A node cut off
 * from the quorum therefore stops taking writes `margin` seconds before
 * another region can take leadership, by itself, without hearing from anyone.
 */
import type { Logger } from 'pino';
import type { WitnessConfig } from '../../config/witness-config.js';
import { EtcdGateway } from './etcd-gateway.js';
import { claimLeader, readWitness, witnessKeys, type ActiveRecord } from './witness-keys.js';

export interface WitnessStatus {
  region: string;
  /** This node may write now (lease held, renewed in time). */
  held: boolean;
  /** Region named by the leader key at the last read (null: free; undefined: not read yet). */
  leader: string | null | undefined;
  /** The active record at the last read. */
  active: ActiveRecord | null;
  leaseId: string | null;
  /** Milliseconds this node may still write without another renewal (0 when not held). */
  remainingMs: number;
  /** Time of the last successful round with the quorum (ISO), and the last error. */
  lastContact: string | null;
  error: string | null;
  /** Rounds that got no answer from the quorum, since start-up. */
  failedRounds: number;
  endpoint: string;
  /** Why the node does not hold leadership (empty when it does). */
  reason: string;
}

export interface RegionWitnessOptions {
  config: WitnessConfig;
  region: string;
  /** Whether this region should lead now, by its own database (primary, names itself active, not fenced). */
  shouldLead: () => boolean;
  /** Whether this region was fenced (its database, a primary, names another region): it frees leadership at once. */
  shouldRelease: () => boolean;
  /** The region epoch in this node's database (recorded when the first region claims leadership). */
  epoch: () => string | null;
  log: Logger;
}

export class RegionWitness {
  private readonly etcd: EtcdGateway;
  private readonly keys;
  private leaseId: string | null = null;
  /** performance.now() after which this node no longer holds leadership. */
  private deadline = 0;
  private leader: string | null | undefined = undefined;
  private active: ActiveRecord | null = null;
  private lastContact: Date | null = null;
  private error: string | null = null;
  private reason = 'witness not read yet';
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private ticking: Promise<void> | null = null;
  private wasHeld = false;
  private failedRounds = 0;

  constructor(private readonly o: RegionWitnessOptions) {
    this.etcd = new EtcdGateway({ endpoints: o.config.endpoints, timeoutMs: o.config.requestTimeoutMs, caFile: o.config.caFile });
    this.keys = witnessKeys(o.config.prefix);
  }

  holds(): boolean { return this.leaseId !== null && performance.now() < this.deadline; }

  /** Why writes are refused (for the 503 and the region check). */
  refusal(): string {
    return `region ${this.o.region} does not hold the witness lease: ${this.holds() ? '' : this.reason}`;
  }

  status(): WitnessStatus {
    const held = this.holds();
    return {
      region: this.o.region, held, leader: this.leader, active: this.active, leaseId: this.leaseId,
      remainingMs: held ? Math.round(this.deadline - performance.now()) : 0, lastContact: this.lastContact?.toISOString() ?? null,
      error: this.error, failedRounds: this.failedRounds, endpoint: this.etcd.endpoint, reason: held ? '' : this.reason,
    };
  }

  async tick(): Promise<WitnessStatus> {
    if (this.ticking) { await this.ticking; return this.status(); }
    this.ticking = this.round().catch((e) => {
      this.failedRounds++;
      this.error = (e as Error).message;
      this.reason = `no answer from the witness quorum since ${this.lastContact?.toISOString() ?? 'start-up'} (${this.error}); writes stop ${this.o.config.marginSeconds} s before the lease can expire`;
    }).finally(() => { this.ticking = null; this.noteChange(); });
    await this.ticking;
    return this.status();
  }

  private async round(): Promise<void> {
    const c = this.o.config;
    const readAt = performance.now();
    const v = await readWitness(this.etcd, this.keys);
    this.lastContact = new Date();
    this.error = null;
    this.leader = v.leader?.value ?? null;
    this.active = v.record;
    const self = this.o.region;
    if (!this.o.shouldLead()) {
      this.drop(`region ${self} is not the active region in its database`);
      if (v.leader?.value === self && this.o.shouldRelease()) {
        // Fenced by a failover (or demoted): free leadership at once rather than at expiry.
        await this.etcd.revoke(v.leader.lease);
        this.o.log.warn({ lease: v.leader.lease }, `witness: region ${self} is no longer active in its database: its leadership lease is revoked`);
        this.leader = null;
      }
      return;
    }
    if (v.record && v.record.region !== self) {
      return this.drop(`the witness names region ${v.record.region} active (epoch ${v.record.epoch}, since ${v.record.at}): leadership was given to it`);
    }
    if (!v.leader) {
      const granted = await this.etcd.grant(c.leaseSeconds);
      const record = v.record ? undefined : { region: self, epoch: this.o.epoch() ?? '0', at: new Date().toISOString() };
      if (await claimLeader(this.etcd, this.keys, self, granted.id, v.active, record)) {
        // The lease cannot expire before grant-request time + TTL.
        this.hold(granted.id, readAt, granted.ttl);
        this.leader = self;
        if (record) this.active = record;
        this.o.log.info({ lease: granted.id }, `witness: region ${self} took leadership`);
      } else {
        await this.etcd.revoke(granted.id).catch(() => undefined);
        this.drop('another node or region created the leader key first; re-read next round');
      }
      return;
    }
    if (v.leader.value !== self) return this.drop(`region ${v.leader.value} holds the leadership lease`);
    const sent = performance.now();
    const ttl = await this.etcd.keepAlive(v.leader.lease);
    if (ttl <= 0) return this.drop('the leadership lease expired before it was renewed');
    this.hold(v.leader.lease, sent, ttl);
  }

  private hold(id: string, sentAt: number, ttlSeconds: number): void {
    const until = sentAt + (ttlSeconds - this.o.config.marginSeconds) * 1000;
    if (this.leaseId !== id) this.deadline = 0;
    this.leaseId = id;
    this.deadline = Math.max(this.deadline, until);
  }

  private drop(reason: string): void {
    this.leaseId = null;
    this.deadline = 0;
    this.reason = reason;
  }

  private noteChange(): void {
    const held = this.holds();
    if (held !== this.wasHeld) {
      this.wasHeld = held;
      const s = this.status();
      if (held) this.o.log.warn({ witness: s }, `witness: region ${this.o.region} holds leadership (lease ${s.leaseId}, ${s.remainingMs} ms left)`);
      else this.o.log.warn({ witness: s }, `witness: region ${this.o.region} does not hold leadership: ${s.reason}`);
    }
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const loop = (): void => {
      if (!this.running) return;
      void this.tick().finally(() => {
        if (!this.running) return;
        this.timer = setTimeout(loop, this.o.config.renewSeconds * 1000);
        this.timer.unref();
      });
    };
    loop();
    // A deadline passing between rounds is logged when it passes (holds() itself needs no timer).
    const watch = setInterval(() => this.noteChange(), 250);
    watch.unref();
    this.stopWatch = () => clearInterval(watch);
  }

  private stopWatch: () => void = () => undefined;

  async stop(): Promise<void> {
    this.running = false;
    this.stopWatch();
    if (this.timer) clearTimeout(this.timer);
    if (this.ticking) await this.ticking.catch(() => undefined);
  }
}
