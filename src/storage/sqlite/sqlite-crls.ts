/**
 * The SQLite store's revoked entries and CRLs (SqliteStore delegates here):
 * revoked entries read for CRL generation in short keyset chunks over the
 * covering partial index (by the inventory reader thread, off the thread
 * that answers OCSP), CRL numbers from the per-issuer counter, saved CRLs
 * with their retention per scope (an issuer's complete CRL, or one shard's).
 */
import type Database from 'better-sqlite3';
import type { CrlRecord, Fence, RevokedEntry } from '../../core/types.js';
import { revokedEntry, toCrl, type Row } from '../row-mapping.js';
import { crlsPastRetention, DEFAULT_CRL_RETENTION, type CrlRetention } from '../store.js';

/** Revoked entries per query: short statements, flat memory. */
const REVOKED_CHUNK = 500;

export class SqliteCrls {
  constructor(
    private readonly db: Database.Database,
    private readonly prep: (sql: string) => Database.Statement,
    private readonly checkFence: (f: Fence | undefined) => void,
    /** Runs one of these read statements off the main thread (the store's inventory reader). */
    private readonly readAll: (sql: string, params: unknown[]) => Promise<Row[]>,
  ) {}

  async *iterateRevoked(issuerId: string, now: Date, shard?: number): AsyncIterable<RevokedEntry> {
    // Keyset pagination in short chunks: no statement stays open across a
    // yield, memory stays flat however many entries there are, and every
    // query reads the covering partial index of revoked rows (issuer, shard,
    // serial, ...) in order, never the table. A shard is one range of it; the
    // complete scope reads the rows without a shard, then every shard in
    // (shard, serial) order.
    const cols = `SELECT serial, crl_shard, revoked_at, revocation_reason, crl_entry FROM certificates INDEXED BY certificates_revoked_shard
      WHERE issuer_id = ? AND status = 'revoked' AND not_after > ?`;
    // The chunks are read by the inventory reader thread: at 1M revoked a shard holds ~62k entries,
    // which read here took ~150 ms of the thread that answers OCSP per revocation (scale bench, 10M).
    const chunks = (sql: string, args: () => unknown[], next: (last: Row) => void) => this.revokedChunks(sql, issuerId, now, args, next);
    if (shard !== undefined) {
      let after = '';
      yield* chunks(`${cols} AND crl_shard = ${Number(shard)} AND serial > ? ORDER BY serial LIMIT ${REVOKED_CHUNK}`, () => [after], (l) => { after = String(l.serial); });
      return;
    }
    let after = '';
    yield* chunks(`${cols} AND crl_shard IS NULL AND serial > ? ORDER BY serial LIMIT ${REVOKED_CHUNK}`, () => [after], (l) => { after = String(l.serial); });
    let atShard = -1;
    after = '';
    yield* chunks(`${cols} AND (crl_shard, serial) > (?, ?) ORDER BY crl_shard, serial LIMIT ${REVOKED_CHUNK}`,
      () => [atShard, after], (l) => { atShard = Number(l.crl_shard); after = String(l.serial); });
  }

  private async *revokedChunks(sql: string, issuerId: string, now: Date, args: () => unknown[], next: (last: Row) => void): AsyncGenerator<RevokedEntry> {
    for (;;) {
      const rows = await this.readAll(sql, [issuerId, now.getTime(), ...args()]);
      for (const r of rows) yield revokedEntry(r);
      if (rows.length < REVOKED_CHUNK) return;
      next(rows[rows.length - 1]!);
    }
  }

  async nextCrlNumber(issuerId: string): Promise<bigint> {
    const tx = this.db.transaction((): bigint => {
      this.prep(`INSERT INTO crl_counters (issuer_id, last_number) VALUES (?, 1)
        ON CONFLICT (issuer_id) DO UPDATE SET last_number = last_number + 1`).run(issuerId);
      const r = this.prep('SELECT last_number FROM crl_counters WHERE issuer_id = ?').get(issuerId) as Row;
      return BigInt(r.last_number as number);
    });
    return tx.immediate();
  }

  async saveCrl(rec: CrlRecord, fence?: Fence, retention: CrlRetention = DEFAULT_CRL_RETENTION): Promise<void> {
    const shard = rec.shard ?? null;
    const tx = this.db.transaction(() => {
      this.checkFence(fence);
      this.prep('INSERT INTO crls (issuer_id, number, this_update, next_update, der, entries, shard) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(rec.issuerId, Number(rec.number), rec.thisUpdate.getTime(), rec.nextUpdate.getTime(), Buffer.from(rec.der), rec.entries, shard);
      const drop = this.prep('DELETE FROM crls WHERE issuer_id = ? AND number = ?');
      for (const n of crlsPastRetention(this.storedCrlsSync(rec.issuerId, shard), retention)) drop.run(rec.issuerId, Number(n));
    });
    tx.immediate();
  }

  private storedCrlsSync(issuerId: string, shard: number | null): Array<{ number: bigint; size: number }> {
    const rows = this.prep('SELECT number, length(der) AS size FROM crls WHERE issuer_id = ? AND shard IS ? ORDER BY number DESC').all(issuerId, shard) as Row[];
    return rows.map((r) => ({ number: BigInt(String(r.number)), size: Number(r.size) }));
  }

  async storedCrls(issuerId: string, shard?: number): Promise<Array<{ number: bigint; size: number }>> {
    return this.storedCrlsSync(issuerId, shard ?? null);
  }

  async latestCrl(issuerId: string, shard?: number): Promise<CrlRecord | null> {
    const r = this.prep('SELECT * FROM crls WHERE issuer_id = ? AND shard IS ? ORDER BY number DESC LIMIT 1').get(issuerId, shard ?? null) as Row | undefined;
    return r ? toCrl(r) : null;
  }

  async latestCrlNumber(issuerId: string, shard?: number): Promise<bigint | null> {
    const r = this.prep('SELECT number FROM crls WHERE issuer_id = ? AND shard IS ? ORDER BY number DESC LIMIT 1').get(issuerId, shard ?? null) as Row | undefined;
    return r ? BigInt(r.number as number | bigint | string) : null;
  }

  async crlCounters(): Promise<Record<string, bigint>> {
    const out: Record<string, bigint> = {};
    for (const r of this.prep('SELECT issuer_id, last_number FROM crl_counters').all() as Array<{ issuer_id: string; last_number: number }>) out[r.issuer_id] = BigInt(r.last_number);
    return out;
  }
}
