/**
 * The PostgreSQL store's revoked entries and CRLs (PostgresStore delegates
 * here): revoked entries read for CRL generation in short keyset chunks over
 * the partial index of revoked rows, CRL numbers from the per-issuer counter
 * (one atomic statement, ordered on every node), saved CRLs with their
 * retention per scope (an issuer's complete CRL, or one shard's).
 */
import type { Sql, TransactionSql } from 'postgres';
import type { CrlRecord, Fence, RevokedEntry } from '../../core/types.js';
import { n, revokedEntry, toCrl, type Row } from '../row-mapping.js';
import { crlsPastRetention, DEFAULT_CRL_RETENTION, type CrlRetention } from '../store.js';
import { transaction, type PgPool } from './pg-pool.js';

const CHUNK = 2000;
const buf = (v: Uint8Array): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
const sameBytes = (a: unknown, b: Uint8Array): boolean => Buffer.isBuffer(a) && a.equals(buf(b));

export class PostgresCrls {
  constructor(
    private readonly pool: PgPool,
    private readonly checkFence: (tx: TransactionSql, f: Fence | undefined) => Promise<void>,
  ) {}

  async *iterateRevoked(issuerId: string, now: Date, shard?: number): AsyncIterable<RevokedEntry> {
    // Keyset pagination in chunks, one short query each: nothing is held
    // open across a yield, memory stays flat, and each chunk retries alone.
    // Every query reads the partial index of revoked rows (issuer, shard,
    // serial) INCLUDE (...) in order: a shard is one range of it; the complete
    // scope reads the rows without a shard, then every shard in (shard, serial) order.
    const at = now.getTime();
    let after = '';
    const page = (q: (sql: Sql) => Promise<readonly Row[]>) => this.pool.run('iterateRevoked', (sql) => q(sql as Sql));
    for (const nullShard of shard === undefined ? [true] : [false]) {
      for (;;) {
        const rows = await page((sql) => sql`
          SELECT serial, revoked_at, revocation_reason, crl_entry FROM certificates
          WHERE issuer_id = ${issuerId} AND status = 'revoked' AND not_after > ${at} AND serial > ${after}
            AND ${nullShard ? sql`crl_shard IS NULL` : sql`crl_shard = ${shard ?? -1}::int`}
          ORDER BY serial LIMIT ${CHUNK}`);
        for (const r of rows) yield revokedEntry(r);
        if (rows.length < CHUNK) break;
        after = String(rows[rows.length - 1]!.serial);
      }
    }
    if (shard !== undefined) return;
    let atShard = -1;
    after = '';
    for (;;) {
      const rows = await page((sql) => sql`
        SELECT serial, crl_shard, revoked_at, revocation_reason, crl_entry FROM certificates
        WHERE issuer_id = ${issuerId} AND status = 'revoked' AND not_after > ${at} AND (crl_shard, serial) > (${atShard}::int, ${after})
        ORDER BY crl_shard, serial LIMIT ${CHUNK}`);
      for (const r of rows) yield revokedEntry(r);
      if (rows.length < CHUNK) return;
      atShard = n(rows[rows.length - 1]!.crl_shard);
      after = String(rows[rows.length - 1]!.serial);
    }
  }

  async nextCrlNumber(issuerId: string): Promise<bigint> {
    // One atomic statement; the row lock orders concurrent callers on every
    // node. A retry after an unknown commit may skip a number: numbers stay
    // strictly increasing and are never reused, which is what CRLs need.
    const [r] = await this.pool.run('nextCrlNumber', (sql) => sql`
      INSERT INTO crl_counters (issuer_id, last_number) VALUES (${issuerId}, 1)
      ON CONFLICT (issuer_id) DO UPDATE SET last_number = crl_counters.last_number + 1
      RETURNING last_number`);
    return BigInt(String(r!.last_number));
  }

  async saveCrl(rec: CrlRecord, fence?: Fence, retention: CrlRetention = DEFAULT_CRL_RETENTION): Promise<void> {
    const shard = rec.shard ?? null;
    await this.pool.run('saveCrl', (sql, a) => transaction(sql, async (tx) => {
      if (a.retried) {
        // Our earlier commit, if it happened, left this exact CRL: done (before the fence, as for certificates).
        const [mine] = await tx`SELECT der FROM crls WHERE issuer_id = ${rec.issuerId} AND number = ${rec.number.toString()}::bigint`;
        if (mine && sameBytes(mine.der, rec.der)) return;
      }
      await this.checkFence(tx, fence);
      await tx`INSERT INTO crls (issuer_id, number, this_update, next_update, der, entries, shard)
        VALUES (${rec.issuerId}, ${rec.number.toString()}::bigint, ${rec.thisUpdate.getTime()}, ${rec.nextUpdate.getTime()}, ${buf(rec.der)}, ${rec.entries}, ${shard}::int)`;
      const drop = crlsPastRetention(await storedCrlsIn(tx, rec.issuerId, shard), retention);
      if (drop.length) await tx`DELETE FROM crls WHERE issuer_id = ${rec.issuerId} AND number = ANY(${drop.map(String)}::bigint[])`;
    }));
  }

  async storedCrls(issuerId: string, shard?: number): Promise<Array<{ number: bigint; size: number }>> {
    return this.pool.run('storedCrls', (sql) => storedCrlsIn(sql, issuerId, shard ?? null));
  }

  async latestCrl(issuerId: string, shard?: number): Promise<CrlRecord | null> {
    const [r] = await this.pool.run('latestCrl', (sql) => sql`SELECT * FROM crls
      WHERE issuer_id = ${issuerId} AND shard IS NOT DISTINCT FROM ${shard ?? null}::int ORDER BY number DESC LIMIT 1`);
    return r ? toCrl(r) : null;
  }

  async latestCrlMeta(issuerId: string, shard?: number): Promise<Omit<CrlRecord, 'der'> | null> {
    const [r] = await this.pool.run('latestCrlMeta', (sql) => sql`SELECT issuer_id, number, this_update, next_update, entries, shard, ''::bytea AS der FROM crls
      WHERE issuer_id = ${issuerId} AND shard IS NOT DISTINCT FROM ${shard ?? null}::int ORDER BY number DESC LIMIT 1`);
    if (!r) return null;
    const { der: _, ...meta } = toCrl(r);
    return meta;
  }

  async latestCrlNumber(issuerId: string, shard?: number): Promise<bigint | null> {
    const [r] = await this.pool.run('latestCrlNumber', (sql) => sql`SELECT number FROM crls
      WHERE issuer_id = ${issuerId} AND shard IS NOT DISTINCT FROM ${shard ?? null}::int ORDER BY number DESC LIMIT 1`);
    return r ? BigInt(r.number as string) : null;
  }
}

/** A CRL scope's stored CRLs, newest first (numbers and DER sizes). */
async function storedCrlsIn(sql: Sql | TransactionSql, issuerId: string, shard: number | null): Promise<Array<{ number: bigint; size: number }>> {
  const rows = await sql`SELECT number, octet_length(der) AS size FROM crls
    WHERE issuer_id = ${issuerId} AND shard IS NOT DISTINCT FROM ${shard}::int ORDER BY number DESC`;
  return rows.map((r) => ({ number: BigInt(String(r.number)), size: n(r.size) }));
}
