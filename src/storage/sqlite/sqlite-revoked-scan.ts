/**
 * One step of a CRL scope's scan over the covering partial index of revoked
 * rows (issuer, shard, serial, ...), run by the inventory reader thread: up
 * to `limit` rows in keyset order, their stored DER entries joined into one
 * buffer (transferred to the caller, not copied), and the cursor of the next
 * step. A shard is one range of the index; the complete scope reads the rows
 * without a shard, then every shard in (shard, serial) order.
 */
import type Database from 'better-sqlite3';
import { joinDer } from '../revoked-chunks.js';
import type { Row } from '../row-mapping.js';

export type RevokedCursor =
  | { phase: 'shard'; serial: string }
  | { phase: 'unsharded'; serial: string }
  | { phase: 'sharded'; shard: number; serial: string };

export interface RevokedScan {
  issuerId: string;
  /** Entries of certificates expired at this time (ms) are left out. */
  now: number;
  /** One shard's scope, or null for the issuer's complete scope. */
  shard: number | null;
  cursor: RevokedCursor | null;
  limit: number;
  /** Every row comes back as a row (`loose`), stored DER included, and nothing is joined (iterateRevoked). */
  rows?: boolean;
}

export interface RevokedStep {
  der: Uint8Array;
  count: number;
  /** Rows without a stored DER entry (serial, revoked_at, revocation_reason); every row when the scan asked for rows. */
  loose: Row[];
  /** Where the next step starts; null when the scope is read. */
  next: RevokedCursor | null;
}

const COLS = `SELECT serial, crl_shard, revoked_at, revocation_reason, crl_entry FROM certificates INDEXED BY certificates_revoked_shard
  WHERE issuer_id = ? AND status = 'revoked' AND not_after > ?`;

export function revokedStep(prep: (sql: string) => Database.Statement, s: RevokedScan): RevokedStep {
  const limit = Math.max(1, Math.floor(s.limit));
  const cur: RevokedCursor = s.cursor ?? (s.shard !== null ? { phase: 'shard', serial: '' } : { phase: 'unsharded', serial: '' });
  const head = [s.issuerId, s.now];
  const rows = (cur.phase === 'shard'
    ? prep(`${COLS} AND crl_shard = ${Number(s.shard)} AND serial > ? ORDER BY serial LIMIT ${limit}`).all(...head, cur.serial)
    : cur.phase === 'unsharded'
      ? prep(`${COLS} AND crl_shard IS NULL AND serial > ? ORDER BY serial LIMIT ${limit}`).all(...head, cur.serial)
      : prep(`${COLS} AND (crl_shard, serial) > (?, ?) ORDER BY crl_shard, serial LIMIT ${limit}`).all(...head, cur.shard, cur.serial)) as Row[];
  const parts: Uint8Array[] = [];
  const loose: Row[] = [];
  for (const r of rows) {
    if (s.rows) loose.push(r);
    else if (r.crl_entry) parts.push(r.crl_entry as Uint8Array);
    else loose.push({ serial: r.serial, revoked_at: r.revoked_at, revocation_reason: r.revocation_reason });
  }
  const last = rows[rows.length - 1];
  let next: RevokedCursor | null;
  if (rows.length === limit && last) {
    next = cur.phase === 'sharded' ? { phase: 'sharded', shard: Number(last.crl_shard), serial: String(last.serial) } : { phase: cur.phase, serial: String(last.serial) };
  } else {
    next = cur.phase === 'unsharded' ? { phase: 'sharded', shard: -1, serial: '' } : null;
  }
  return { der: joinDer(parts), count: parts.length, loose, next };
}
