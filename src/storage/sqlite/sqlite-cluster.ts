/** Cluster membership and leases in SQLite (the ClusterStore part of SqliteStore): one node, but the same contract. */
import type Database from 'better-sqlite3';
import type { LeaseState, NodeInfo } from '../../core/types.js';
import { d, dn, type Row } from '../row-mapping.js';

export class SqliteCluster {
  constructor(private readonly db: Database.Database, private readonly prep: (sql: string) => Database.Statement) {}

  heartbeat(node: Omit<NodeInfo, 'lastSeen'>): void {
    this.prep('INSERT INTO cluster_nodes (id, info, last_seen) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET info = excluded.info, last_seen = excluded.last_seen')
      .run(node.id, JSON.stringify({ ...node, startedAt: node.startedAt.toISOString() }), Date.now());
  }

  listNodes(): NodeInfo[] {
    return (this.prep('SELECT info, last_seen FROM cluster_nodes ORDER BY id').all() as Row[]).map((r) => {
      const i = JSON.parse(String(r.info)) as NodeInfo & { startedAt: string };
      return { ...i, startedAt: new Date(i.startedAt), lastSeen: d(r.last_seen) };
    });
  }

  removeNode(id: string): void {
    this.prep('DELETE FROM cluster_nodes WHERE id = ?').run(id);
  }

  leaseRow(name: string, now: number): LeaseState | null {
    const r = this.prep('SELECT holder, epoch, expires_at FROM leases WHERE name = ?').get(name) as Row | undefined;
    if (!r) return null;
    return { name, holder: r.holder === null ? null : String(r.holder), epoch: BigInt(r.epoch as number), expiresAt: dn(r.expires_at), now: new Date(now) };
  }

  tryAcquireLease(name: string, holder: string, ttlMs: number): LeaseState {
    const tx = this.db.transaction((): LeaseState => {
      const now = Date.now();
      this.prep('INSERT INTO leases (name, holder, epoch, expires_at) VALUES (?, NULL, 0, NULL) ON CONFLICT (name) DO NOTHING').run(name);
      const cur = this.leaseRow(name, now)!;
      const live = cur.expiresAt !== null && cur.expiresAt.getTime() > now;
      if (cur.holder === holder && live) {
        this.prep('UPDATE leases SET expires_at = ? WHERE name = ?').run(now + ttlMs, name);
      } else if (!live) {
        this.prep('UPDATE leases SET holder = ?, epoch = epoch + 1, expires_at = ? WHERE name = ?').run(holder, now + ttlMs, name);
      }
      return this.leaseRow(name, now)!;
    });
    return tx.immediate();
  }

  releaseLease(name: string, holder: string): void {
    this.prep('UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?').run(Date.now(), name, holder);
  }
}
