/**
 * The SQLite store's revoked entries and CRLs (SqliteStore delegates here):
 * revoked entries read for CRL generation by the inventory reader thread, off
 * the thread that answers OCSP (as chunks of joined DER entries,
 * sqlite-revoked-scan.ts), CRL numbers from the per-issuer counter, saved
 * CRLs with their retention per scope (an issuer's complete CRL, or one
 * shard's). A CRL above CRL_PART_BYTES is stored in parts (crl_parts), one
 * part per group commit, and published by its crls row written last; its
 * parts are read back by the reader thread.
 */
import type Database from 'better-sqlite3';
import type { GroupCommit } from './group-commit.js';
import type { CrlRecord, Fence, RevokedEntry } from '../../core/types.js';
import { revokedEntry, toCrl, type Row } from '../row-mapping.js';
import { crlsPastRetention, DEFAULT_CRL_RETENTION, type CrlRetention } from '../store.js';
import { REVOKED_CHUNK_ENTRIES, type RevokedChunk } from '../revoked-chunks.js';
import type { RevokedCursor, RevokedScan, RevokedStep } from './sqlite-revoked-scan.js';

/** Revoked entries per query: short statements, flat memory. */
const REVOKED_CHUNK = 500;

/** A CRL larger than this is stored in parts of this size (crl_parts), one part per group commit. */
export const CRL_PART_BYTES = 256 * 1024;
/** Parts without their CRL's row this old were left by a save that never finished (a crash): removed. */
const ORPHAN_AFTER_MS = 10 * 60_000;
/** Parts removed per group commit, and read per reader-thread query. */
const PARTS_PER_DELETE = 8;
const PARTS_PER_READ = 16;
const EMPTY = Buffer.alloc(0);

export class SqliteCrls {
  constructor(
    private readonly prep: (sql: string) => Database.Statement,
    private readonly checkFence: (f: Fence | undefined) => void,
    /** Runs one of these read statements off the main thread (the store's inventory reader). */
    private readonly readAll: (sql: string, params: unknown[]) => Promise<Row[]>,
    /** One step of a revoked scan, read and joined off the main thread (the reader's `revoked`). */
    private readonly readRevoked: (scan: RevokedScan) => Promise<RevokedStep>,
    /** The store's group commit: CRLs are written in its batches (fsync off this thread). */
    private readonly group: GroupCommit,
  ) {}

  /** `${issuer}/${number}` of the CRLs this process is writing (their parts are not orphans). */
  private readonly saving = new Set<string>();

  /**
   * A CRL scope's entries as chunks built by the reader thread: per chunk the
   * main thread receives one transferred buffer, not a row per certificate
   * (at 1M revoked, reading a 62k-entry shard row by row cost this thread
   * ~25-60 ms per revocation in allocations and garbage collection).
   */
  async *revokedChunks(issuerId: string, now: Date, shard?: number): AsyncIterable<RevokedChunk> {
    let cursor: RevokedCursor | null = null;
    do {
      const step: RevokedStep = await this.readRevoked({ issuerId, now: now.getTime(), shard: shard ?? null, cursor, limit: REVOKED_CHUNK_ENTRIES });
      if (step.count || step.loose.length) yield { der: step.der, count: step.count, loose: step.loose.map(revokedEntry) };
      cursor = step.next;
    } while (cursor);
  }

  /** The same scan (sqlite-revoked-scan.ts, in the reader thread) returning one entry per row. */
  async *iterateRevoked(issuerId: string, now: Date, shard?: number): AsyncIterable<RevokedEntry> {
    let cursor: RevokedCursor | null = null;
    do {
      const step: RevokedStep = await this.readRevoked({ issuerId, now: now.getTime(), shard: shard ?? null, cursor, limit: REVOKED_CHUNK, rows: true });
      for (const r of step.loose) yield revokedEntry(r);
      cursor = step.next;
    } while (cursor);
  }

  async nextCrlNumber(issuerId: string): Promise<bigint> {
    // One unit of the group commit (durable before the number is used; its fsync off this thread): every CRL build takes one.
    return this.group.run((): bigint => {
      this.prep(`INSERT INTO crl_counters (issuer_id, last_number) VALUES (?, 1)
        ON CONFLICT (issuer_id) DO UPDATE SET last_number = last_number + 1`).run(issuerId);
      const r = this.prep('SELECT last_number FROM crl_counters WHERE issuer_id = ?').get(issuerId) as Row;
      return BigInt(r.last_number as number);
    });
  }

  async saveCrl(rec: CrlRecord, fence?: Fence, retention: CrlRetention = DEFAULT_CRL_RETENTION): Promise<void> {
    const shard = rec.shard ?? null;
    const issuer = rec.issuerId;
    const number = Number(rec.number);
    const der = rec.der;
    const parts = der.byteLength > CRL_PART_BYTES ? Math.ceil(der.byteLength / CRL_PART_BYTES) : 0;
    const key = `${issuer}/${number}`;
    this.saving.add(key);
    let dropped: number[];
    try {
      // Each part is one unit of a group commit: a short write on this thread, its fsync on libuv's thread pool.
      for (let i = 0; i < parts; i++) {
        const at = i * CRL_PART_BYTES;
        const bytes = Buffer.from(der.buffer, der.byteOffset + at, Math.min(CRL_PART_BYTES, der.byteLength - at));
        await this.group.run(() => this.prep('INSERT OR REPLACE INTO crl_parts (issuer_id, number, part, written_at, bytes) VALUES (?, ?, ?, ?, ?)')
          .run(issuer, number, i, Date.now(), bytes));
      }
      // The row last: it publishes the CRL, with the fence checked, and drops the scope's CRLs past retention.
      dropped = await this.group.run(() => {
        this.checkFence(fence);
        if (parts) {
          const have = Number((this.prep('SELECT count(*) AS n FROM crl_parts WHERE issuer_id = ? AND number = ?').get(issuer, number) as Row).n);
          if (have !== parts) throw new Error(`CRL ${number} of ${issuer}: ${have} of its ${parts} parts are stored (removed by another process?)`);
        }
        this.prep('INSERT INTO crls (issuer_id, number, this_update, next_update, der, entries, shard, parts, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
          .run(issuer, number, rec.thisUpdate.getTime(), rec.nextUpdate.getTime(), parts ? EMPTY : Buffer.from(der), rec.entries, shard, parts, der.byteLength);
        const drop = this.prep('DELETE FROM crls WHERE issuer_id = ? AND number = ?');
        const gone = crlsPastRetention(this.storedCrlsSync(issuer, shard), retention).map(Number);
        for (const n of gone) drop.run(issuer, n);
        return gone;
      });
    } catch (e) {
      if (parts) await this.removeParts(issuer, [number]).catch(() => undefined);
      throw e;
    } finally {
      this.saving.delete(key);
    }
    // The CRL is saved: what follows only frees space, and what it leaves (a crash) the next sweep removes.
    await this.removeParts(issuer, dropped).catch(() => undefined);
    await this.sweepOrphans(issuer).catch(() => undefined);
  }

  /** Removes the parts of these CRLs, PARTS_PER_DELETE per group commit. */
  private async removeParts(issuerId: string, numbers: number[]): Promise<void> {
    const del = 'DELETE FROM crl_parts WHERE rowid IN (SELECT rowid FROM crl_parts WHERE issuer_id = ? AND number = ? LIMIT ' + PARTS_PER_DELETE + ')';
    for (const n of numbers) {
      while (await this.group.run(() => this.prep(del).run(issuerId, n).changes) === PARTS_PER_DELETE) { /* the next batch */ }
    }
  }

  private readonly swept = new Map<string, number>();

  /**
   * Parts without their CRL's row, written more than ORPHAN_AFTER_MS ago and
   * not being written by this process: left by a save that never finished.
   * At most once per ORPHAN_AFTER_MS per issuer; the scan runs in the reader thread.
   */
  private async sweepOrphans(issuerId: string): Promise<void> {
    const now = Date.now();
    if (now - (this.swept.get(issuerId) ?? 0) < ORPHAN_AFTER_MS) return;
    this.swept.set(issuerId, now);
    const rows = await this.readAll(`SELECT DISTINCT number FROM crl_parts p WHERE issuer_id = ? AND written_at < ?
      AND NOT EXISTS (SELECT 1 FROM crls c WHERE c.issuer_id = p.issuer_id AND c.number = p.number)`, [issuerId, now - ORPHAN_AFTER_MS]);
    await this.removeParts(issuerId, rows.map((r) => Number(r.number)).filter((n) => !this.saving.has(`${issuerId}/${n}`)));
  }

  private storedCrlsSync(issuerId: string, shard: number | null): Array<{ number: bigint; size: number }> {
    const rows = this.prep('SELECT number, COALESCE(size, length(der)) AS size FROM crls WHERE issuer_id = ? AND shard IS ? ORDER BY number DESC').all(issuerId, shard) as Row[];
    return rows.map((r) => ({ number: BigInt(String(r.number)), size: Number(r.size) }));
  }

  async storedCrls(issuerId: string, shard?: number): Promise<Array<{ number: bigint; size: number }>> {
    return this.storedCrlsSync(issuerId, shard ?? null);
  }

  async latestCrl(issuerId: string, shard?: number): Promise<CrlRecord | null> {
    // A newer save can drop the CRL just read before its parts are read: then the newest is read again.
    for (let attempt = 1; ; attempt++) {
      const r = this.prep('SELECT * FROM crls WHERE issuer_id = ? AND shard IS ? ORDER BY number DESC LIMIT 1').get(issuerId, shard ?? null) as Row | undefined;
      if (!r) return null;
      const rec = toCrl(r);
      const parts = Number(r.parts ?? 0);
      if (!parts) return rec;
      const der = await this.readParts(issuerId, Number(r.number), parts, Number(r.size));
      if (der) return { ...rec, der };
      if (attempt === 3) throw new Error(`CRL ${String(r.number)} of ${issuerId}: its parts are missing`);
    }
  }

  /** A parted CRL's bytes, read by the reader thread PARTS_PER_READ parts at a time; null if any part is missing. */
  private async readParts(issuerId: string, number: number, parts: number, size: number): Promise<Uint8Array | null> {
    const out = new Uint8Array(size);
    let at = 0;
    for (let part = 0; part < parts;) {
      const rows = await this.readAll(`SELECT part, bytes FROM crl_parts WHERE issuer_id = ? AND number = ? AND part >= ? ORDER BY part LIMIT ${PARTS_PER_READ}`, [issuerId, number, part]);
      if (!rows.length) return null;
      for (const r of rows) {
        const bytes = r.bytes as Uint8Array;
        if (Number(r.part) !== part || at + bytes.byteLength > size) return null;
        out.set(bytes, at);
        at += bytes.byteLength;
        part++;
      }
    }
    return at === size ? out : null;
  }

  async latestCrlMeta(issuerId: string, shard?: number): Promise<Omit<CrlRecord, 'der'> | null> {
    const r = this.prep(`SELECT issuer_id, number, this_update, next_update, entries, shard, X'' AS der FROM crls
      WHERE issuer_id = ? AND shard IS ? ORDER BY number DESC LIMIT 1`).get(issuerId, shard ?? null) as Row | undefined;
    if (!r) return null;
    const { der: _, ...meta } = toCrl(r);
    return meta;
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
