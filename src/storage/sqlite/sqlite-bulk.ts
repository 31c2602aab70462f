/**
 * Bulk loading for SQLite (BulkLoadCapable): many certificates in one
 * transaction through prepared statements, and the bulk-load mode that
 * relaxes synchronous while a load runs.
 */
import type Database from 'better-sqlite3';
import { RampartError } from '../../core/errors.js';
import type { BulkCertificate } from '../store.js';

const isUniqueViolation = (e: unknown): boolean => (e as { code?: unknown } | null)?.code === 'SQLITE_CONSTRAINT_UNIQUE';

export class SqliteBulk {
  private readonly insertCert: Database.Statement;
  private readonly insertEvent: Database.Statement;
  private readonly load: (rows: BulkCertificate[]) => void;

  constructor(private readonly db: Database.Database) {
    this.insertCert = db.prepare(`INSERT INTO certificates (serial, issuer_id, profile, subject, sans, search, not_before, not_after, der, status, revoked_at, revocation_reason, crl_entry, created_at, requester, crl_shard)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.insertEvent = db.prepare('INSERT INTO revocation_events (serial, issuer_id, at) VALUES (?, ?, ?)');
    this.load = db.transaction((rows: BulkCertificate[]) => {
      for (const r of rows) {
        this.insertCert.run(r.serial, r.issuerId, r.profile, r.subject, JSON.stringify(r.sans), [r.subject, ...r.sans].join('\n').toLowerCase(),
          r.notBefore.getTime(), r.notAfter.getTime(), Buffer.from(r.der), r.status, r.revokedAt?.getTime() ?? null, r.revocationReason,
          r.crlEntry ? Buffer.from(r.crlEntry) : null, r.createdAt.getTime(), r.requester, r.crlShard ?? null);
        if (r.status === 'revoked') this.insertEvent.run(r.serial, r.issuerId, r.revokedAt!.getTime());
      }
    });
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
      this.db.pragma('synchronous = NORMAL');
      return;
    }
    this.db.pragma('synchronous = FULL');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }
}
