/**
 * Bulk loading for SQLite (BulkLoadCapable): many certificates in one
 * transaction through prepared statements, and the bulk-load mode that
 * relaxes synchronous (and enlarges the page cache) while a load runs.
 *
 * The name-search index (FTS5 trigram, kept by an AFTER INSERT trigger) is
 * filled once, when the load ends, not per row or per batch: turning the
 * mode on drops the insert trigger and records in `meta` the last row the
 * index holds (`search_index_from`); turning it off indexes every later row
 * (INSERT ... SELECT, in transactions of INDEX_ROWS rows), creates the
 * trigger again from the SQL the schema held and removes the mark, in the
 * last of those transactions. Through the trigger a row cost 62 µs (100k
 * rows, stop 22). On the synthetic inventory's names (200k rows, ~107
 * characters of search text each): an INSERT ... SELECT per 10k-row batch
 * ~14 µs a row, once at the end ~11 µs, and no longer on the loading
 * thread while rows go in (at 10M the end took ~20 µs a row). A load that stops half-way (a crash, a kill)
 * leaves the mark: the next open of the store finishes the index
 * (`finishSearchIndex`, from SqliteStore.migrate), so no committed row
 * stays out of name search. The node is stopped while a load runs (the CLI
 * holds the data directory), so nothing searches in between.
 */
import type Database from 'better-sqlite3';
import { RampartError } from '../../core/errors.js';
import type { BulkCertificate } from '../store.js';

/** Page cache while a load runs (negative: KiB): the serial indexes' upper levels and the search index's pending pages stay in memory. */
const BULK_CACHE_KIB = -262_144;
/** Rows indexed per transaction when a load ends. */
const INDEX_ROWS = 1_000_000;
const MARK = 'search_index_from';

/** A Buffer over the same bytes (better-sqlite3 binds Buffers; Buffer.from(Uint8Array) would copy every certificate). */
const view = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

const isUniqueViolation = (e: unknown): boolean => (e as { code?: unknown } | null)?.code === 'SQLITE_CONSTRAINT_UNIQUE';

export class SqliteBulk {
  private readonly insertCert: Database.Statement;
  private readonly insertEvent: Database.Statement;
  private readonly load: (rows: BulkCertificate[]) => void;
  /** The search trigger's CREATE statement as the schema holds it (null: no search index). */
  private readonly searchTrigger: string | null;
  private readonly defaultCache: number;

  constructor(private readonly db: Database.Database) {
    const trigger = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'certificates_search_insert'").get() as { sql: string } | undefined;
    this.searchTrigger = trigger?.sql ?? null;
    this.defaultCache = db.pragma('cache_size', { simple: true }) as number;
    this.insertCert = db.prepare(`INSERT INTO certificates (serial, issuer_id, profile, subject, sans, search, not_before, not_after, der, status, revoked_at, revocation_reason, crl_entry, created_at, requester, crl_shard)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.insertEvent = db.prepare('INSERT INTO revocation_events (serial, issuer_id, at) VALUES (?, ?, ?)');
    this.load = db.transaction((rows: BulkCertificate[]) => {
      for (const r of rows) {
        this.insertCert.run(r.serial, r.issuerId, r.profile, r.subject, JSON.stringify(r.sans), [r.subject, ...r.sans].join('\n').toLowerCase(),
          r.notBefore.getTime(), r.notAfter.getTime(), view(r.der), r.status, r.revokedAt?.getTime() ?? null, r.revocationReason,
          r.crlEntry ? view(r.crlEntry) : null, r.createdAt.getTime(), r.requester, r.crlShard ?? null);
        if (r.status === 'revoked') this.insertEvent.run(r.serial, r.issuerId, r.revokedAt!.getTime());
      }
    });
  }

  /** The search trigger's SQL: as the schema holds it, or as a pending load's mark kept it. */
  private triggerSql(): string | null {
    return this.searchTrigger ?? (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(`${MARK}:trigger`) as { value: string } | undefined)?.value ?? null;
  }

  /** Stops indexing inserted rows until finishSearchIndex (a mark in meta says from where). */
  private deferSearchIndex(): void {
    const sql = this.triggerSql();
    if (!sql) return;
    this.db.transaction(() => {
      const from = (this.db.prepare('SELECT coalesce(max(seq), 0) AS seq FROM certificates').get() as { seq: number }).seq;
      // A mark left by an earlier, interrupted load stays: its rows are not indexed either.
      this.db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)').run(MARK, String(from));
      this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(`${MARK}:trigger`, sql);
      this.db.exec('DROP TRIGGER IF EXISTS certificates_search_insert');
    }).immediate();
  }

  /**
   * Indexes the rows a bulk load left out of name search and puts the insert
   * trigger back; nothing when no load is pending. Returns the rows indexed.
   */
  finishSearchIndex(): number {
    const mark = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(MARK) as { value: string } | undefined;
    if (!mark) return 0;
    const sql = this.triggerSql();
    if (!sql) throw new Error('a bulk load left the search index unfinished and the search trigger\'s SQL is missing');
    const last = (this.db.prepare('SELECT coalesce(max(seq), 0) AS seq FROM certificates').get() as { seq: number }).seq;
    const index = this.db.prepare('INSERT INTO certificates_search (rowid, search) SELECT seq, search FROM certificates WHERE seq > ? AND seq <= ?');
    let from = Number(mark.value);
    let indexed = 0;
    do {
      const to = Math.min(from + INDEX_ROWS, last);
      this.db.transaction(() => {
        indexed += index.run(from, to).changes;
        if (to < last) {
          this.db.prepare('UPDATE meta SET value = ? WHERE key = ?').run(String(to), MARK);
          return;
        }
        this.db.exec(sql);
        this.db.prepare('DELETE FROM meta WHERE key IN (?, ?)').run(MARK, `${MARK}:trigger`);
      }).immediate();
      from = to;
    } while (from < last);
    return indexed;
  }

  /** Inserts the rows (a savepoint when called inside the group commit's transaction). */
  insert(rows: BulkCertificate[]): void {
    try {
      this.load(rows);
    } catch (e) {
      if (isUniqueViolation(e)) throw new RampartError('conflict', `a certificate of this load is already stored: ${(e as Error).message}`);
      throw e;
    }
  }

  mode(on: boolean): void {
    if (on) {
      this.deferSearchIndex();
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma(`cache_size = ${BULK_CACHE_KIB}`);
      return;
    }
    this.finishSearchIndex();
    this.db.pragma(`cache_size = ${this.defaultCache}`);
    this.db.pragma('synchronous = FULL');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }
}
