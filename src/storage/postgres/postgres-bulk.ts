/**
 * Bulk loading for PostgreSQL (BulkLoadCapable): the rows of one call go in
 * one transaction as multi-row INSERTs (a few thousand rows per statement,
 * under the protocol's 65,535 parameters), revocation events after them
 * under the same advisory lock revokeCertificate takes, so event seqs stay in
 * commit order. A retried call whose first attempt committed (its first row
 * is stored with the same DER) succeeds without inserting again.
 */
import { RampartError } from '../../core/errors.js';
import type { BulkCertificate } from '../store.js';
import { errorCode, transaction, type PgPool } from './pg-pool.js';

const ROWS_PER_STATEMENT = 2000;
const buf = (v: Uint8Array): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength);

function columns(r: BulkCertificate): Record<string, unknown> {
  return {
    serial: r.serial, issuer_id: r.issuerId, profile: r.profile, subject: r.subject, sans: JSON.stringify(r.sans),
    search: [r.subject, ...r.sans].join('\n').toLowerCase(), not_before: r.notBefore.getTime(), not_after: r.notAfter.getTime(),
    der: buf(r.der), status: r.status, revoked_at: r.revokedAt?.getTime() ?? null, revocation_reason: r.revocationReason,
    crl_entry: r.crlEntry ? buf(r.crlEntry) : null, created_at: r.createdAt.getTime(), requester: r.requester, crl_shard: r.crlShard ?? null,
  };
}

export async function postgresBulkInsert(pool: PgPool, rows: BulkCertificate[], revocationLockKey: string): Promise<void> {
  if (!rows.length) return;
  await pool.run('bulkInsertCertificates', (sql, a) => transaction(sql, async (tx) => {
    if (a.retried) {
      const [mine] = await tx`SELECT der FROM certificates WHERE serial = ${rows[0]!.serial}`;
      if (mine && Buffer.isBuffer(mine.der) && mine.der.equals(buf(rows[0]!.der))) return;
    }
    for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
      await tx`INSERT INTO certificates ${tx(rows.slice(i, i + ROWS_PER_STATEMENT).map(columns))}`;
    }
    const events = rows.filter((r) => r.status === 'revoked').map((r) => ({ serial: r.serial, issuer_id: r.issuerId, at: r.revokedAt!.getTime() }));
    if (!events.length) return;
    await tx`SELECT pg_advisory_xact_lock(${revocationLockKey}::bigint)`;
    for (let i = 0; i < events.length; i += ROWS_PER_STATEMENT * 4) {
      await tx`INSERT INTO revocation_events ${tx(events.slice(i, i + ROWS_PER_STATEMENT * 4))}`;
    }
  })).catch((e: unknown) => {
    if (errorCode(e) === '23505') throw new RampartError('conflict', `a certificate of this load is already stored: ${(e as Error).message}`);
    throw e;
  });
}
