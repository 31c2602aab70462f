/**
 * The cluster role of a node: its registration, the leader lease (singleton
 * jobs: CRL publication, OCSP signer renewal) and, in active-passive mode, the
 * active lease (only its holder issues and revokes). In 'single' mode there
 * are no leases: the node is always leader and writable.
 */
import { hostname } from 'node:os';
import type { ClusterMode, Fence, LeaseState, NodeInfo } from '../core/types.js';
import { RampartError } from '../core/errors.js';
import type { ClusterStore } from '../storage/store.js';
import type { ClockSkew } from './clock-skew.js';
import { LeaseManager } from './lease-manager.js';
import { NodeRegistry, isNodeUp } from './node-registry.js';

export const LEADER_LEASE = 'leader';
export const ACTIVE_LEASE = 'active';

/** What the RA and the CRL publisher ask before writing. */
export interface WriteGate {
  /** Throws notWritable when this node must not accept issuance or revocation; else the fence to write with (if any). */
  writeFence(): Fence | undefined;
  /** Throws notWritable when this node must not publish (not the leader); else the fence to write with (if any). */
  leaderFence(): Fence | undefined;
  isLeader(): boolean;
  canWrite(): boolean;
}

export interface ClusterOptions {
  store: ClusterStore;
  mode: ClusterMode;
  nodeId: string;
  takeoverSeconds: number;
  heartbeatSeconds: number;
  version: string;
  roles: string[];
  urls: () => { httpUrl: string; httpsUrl: string };
  health: () => NodeInfo['health'];
  onLeadership?: (lease: string, held: boolean, state: LeaseState | null) => void;
  onError?: (e: unknown) => void;
  /** Measures the node clock against the database clock in every lease round. */
  skew?: ClockSkew;
  /** While false (the database is a read-only replica), leases and the registry leave the database alone. */
  enabled?: () => boolean;
}

export function defaultNodeId(httpListen: string): string {
  const port = httpListen.split(':').pop() ?? '0';
  return `${hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 48)}-${port}`;
}

export class Cluster implements WriteGate {
  readonly startedAt = new Date();
  private readonly leader: LeaseManager | null;
  private readonly registry: NodeRegistry | null;

  constructor(private readonly o: ClusterOptions) {
    const takeoverMs = o.takeoverSeconds * 1000;
    // Renew every 10 % of the takeover time; the lease lasts 80 %, so after the
    // holder dies another node takes over within ttl + one interval <= takeover.
    const intervalMs = Math.max(250, Math.floor(takeoverMs / 10));
    const ttlMs = takeoverMs - 2 * intervalMs;
    this.leader = o.mode === 'single' ? null : new LeaseManager({
      store: o.store, name: o.mode === 'active-passive' ? ACTIVE_LEASE : LEADER_LEASE, holder: o.nodeId, ttlMs, intervalMs,
      onChange: (held, st) => o.onLeadership?.(o.mode === 'active-passive' ? ACTIVE_LEASE : LEADER_LEASE, held, st),
      onError: o.onError, enabled: o.enabled,
      onDatabaseTime: o.skew ? (before, after, dbNow) => o.skew!.observe(before, after, dbNow) : undefined,
    });
    this.registry = o.mode === 'single' ? null : new NodeRegistry({
      store: o.store, intervalMs: o.heartbeatSeconds * 1000, onError: o.onError, enabled: o.enabled,
      describe: async () => ({
        id: o.nodeId, version: o.version, roles: o.roles, mode: o.mode, ...o.urls(), health: o.health(), writable: this.canWrite(), startedAt: this.startedAt,
      }),
    });
  }

  get mode(): ClusterMode { return this.o.mode; }
  get nodeId(): string { return this.o.nodeId; }

  isLeader(): boolean { return this.leader ? this.leader.isHeld() : true; }

  canWrite(): boolean { return this.o.mode === 'active-passive' ? this.isLeader() : true; }

  writeFence(): Fence | undefined {
    if (this.o.mode !== 'active-passive') return undefined;
    const f = this.leader!.fence();
    if (!f) throw new RampartError('notWritable', `node ${this.o.nodeId} is a standby: issuance and revocation go to the active node`);
    return f;
  }

  leaderFence(): Fence | undefined {
    if (!this.leader) return undefined;
    const f = this.leader.fence();
    if (!f) throw new RampartError('notWritable', `node ${this.o.nodeId} is not the leader: leader-only work runs on ${this.leader.last()?.holder ?? 'another node'}`);
    return f;
  }

  /** Runs one lease round now (startup, tests). */
  async tick(): Promise<void> { await this.leader?.tick(); }

  private started = false;

  start(): void {
    this.started = true;
    this.leader?.start();
    this.registry?.start();
  }

  /** Leaves the cluster: releases a held lease, records the node as stopping. No-op unless started. */
  async stop(): Promise<void> {
    await this.leader?.stop(true);
    if (this.started) await this.registry?.stop();
    this.started = false;
  }

  async status(now: Date): Promise<{ mode: ClusterMode; self: string; leader: LeaseState | null; nodes: Array<NodeInfo & { up: boolean }> }> {
    const nodes = await this.o.store.listNodes();
    const lease = await this.o.store.getLease(this.o.mode === 'active-passive' ? ACTIVE_LEASE : LEADER_LEASE);
    return {
      mode: this.o.mode, self: this.o.nodeId, leader: lease,
      nodes: nodes.map((n) => ({ ...n, up: isNodeUp(n, lease?.now ?? now, this.o.heartbeatSeconds * 1000) })),
    };
  }
}
