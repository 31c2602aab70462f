/**
 * Registers this node in the shared database and keeps its entry fresh:
 * id, version, roles, mode, addresses, health, writability, last seen (DB time).
 */
import type { NodeInfo } from '../core/types.js';
import type { ClusterStore } from '../storage/store.js';

export interface NodeRegistryOptions {
  store: ClusterStore;
  intervalMs: number;
  /** The current registration (health and writability change over time). */
  describe: () => Promise<Omit<NodeInfo, 'lastSeen'>>;
  onError?: (e: unknown) => void;
  /** While false, no heartbeat is written (a node on a read-only replica). */
  enabled?: () => boolean;
}

export class NodeRegistry {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: NodeRegistryOptions) {}

  async beat(): Promise<void> {
    if (this.o.enabled && !this.o.enabled()) return;
    await this.o.store.heartbeat(await this.o.describe());
  }

  start(): void {
    const tick = (): void => { void this.beat().catch((e) => this.o.onError?.(e)); };
    tick();
    this.timer = setInterval(tick, this.o.intervalMs);
    this.timer.unref();
  }

  /** Stops heartbeats and records the node as stopping. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.o.enabled && !this.o.enabled()) return;
    try {
      await this.o.store.heartbeat({ ...(await this.o.describe()), health: 'stopping', writable: false });
    } catch (e) {
      this.o.onError?.(e);
    }
  }
}

/** A node is considered up when seen within three heartbeats. */
export function isNodeUp(n: NodeInfo, now: Date, heartbeatMs: number): boolean {
  return n.health !== 'stopping' && now.getTime() - n.lastSeen.getTime() <= heartbeatMs * 3;
}
