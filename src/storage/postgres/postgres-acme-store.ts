/**
 * The ACME part of the PostgreSQL store (AcmeStore): accounts, orders,
 * authorizations, used nonces, EAB keys and rate-limit events. PostgresStore
 * extends it; it only needs the pool.
 */
import type { Sql, TransactionSql } from 'postgres';
import { RampartError } from '../../core/errors.js';
import type { AcmeAccount, AcmeAuthorization, AcmeIdentifier, AcmeOrder, EabKey } from '../acme-records.js';
import type { AcmeStore } from '../store.js';
import { errorCode, transaction, type PgPool } from './pg-pool.js';
import { n } from '../row-mapping.js';
import {
  acmeAccountColumns, acmeAuthorizationColumns, acmeOrderColumns, decodeOrderCursor, eabKeyColumns, encodeOrderCursor,
  toAcmeAccount, toAcmeAuthorization, toAcmeOrder, toEabKey,
} from '../row-mapping.js';

const buf = (v: Uint8Array): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
const sameBytes = (a: unknown, b: Uint8Array): boolean => Buffer.isBuffer(a) && a.equals(buf(b));

/** A stored column value and the value we wrote compare equal (BIGINT reads back as a string, BYTEA as a Buffer). */
const sameValue = (stored: unknown, written: unknown): boolean => {
  const norm = (v: unknown): string | null =>
    v === null || v === undefined ? null : v instanceof Uint8Array ? `bytes:${Buffer.from(v).toString('hex')}` : `${typeof v === 'boolean' ? 'bool:' : ''}${String(v)}`;
  return norm(stored) === norm(written);
};

/** Turns a unique violation (23505) into RampartError 'conflict'; anything else is rethrown. */
const uniqueToConflict = (message: string) => (e: unknown): never => {
  if (errorCode(e) === '23505') throw new RampartError('conflict', message);
  throw e;
};

const ACCOUNT_UPDATE_COLUMNS = ['key_thumbprint', 'jwk', 'status', 'contact'] as const;
const ORDER_UPDATE_COLUMNS = [
  'status', 'expires', 'identifiers', 'authorization_ids', 'not_before', 'not_after', 'error', 'certificate_serial', 'replaces',
  'csr_der', 'processing_since',
] as const;
const AUTHZ_UPDATE_COLUMNS = ['status', 'expires', 'challenges', 'processing_since'] as const;

export abstract class PostgresAcmeStore implements AcmeStore {
  abstract readonly pool: PgPool;

  // Retries after an unknown COMMIT: inserts find their own row (same id and
  // content) and return; compare-and-set updates that change no row look for
  // their own result (version expectedVersion + 1 with exactly the columns
  // they wrote) and report success only then. Nonces fail closed (see
  // consumeAcmeNonce); a rate event may count twice (stricter, never looser).

  async insertAcmeAccount(acc: AcmeAccount): Promise<void> {
    const cols = { ...acmeAccountColumns(acc), version: acc.version };
    await this.pool.run('insertAcmeAccount', async (sql, a) => {
      if (a.retried) {
        const [mine] = await sql`SELECT * FROM acme_accounts WHERE id = ${acc.id}`;
        if (mine && sameValue(mine.key_thumbprint, cols.key_thumbprint) && sameValue(mine.created_at, cols.created_at)) return;
      }
      await sql`INSERT INTO acme_accounts ${sql(cols)}`;
    }).catch(uniqueToConflict(`an ACME account with this key (or id ${acc.id}) already exists`));
  }

  async getAcmeAccount(id: string): Promise<AcmeAccount | null> {
    const [r] = await this.pool.run('getAcmeAccount', (sql) => sql`SELECT * FROM acme_accounts WHERE id = ${id}`);
    return r ? toAcmeAccount(r) : null;
  }

  async findAcmeAccountByThumbprint(thumbprint: string): Promise<AcmeAccount | null> {
    const [r] = await this.pool.run('findAcmeAccountByThumbprint', (sql) => sql`SELECT * FROM acme_accounts WHERE key_thumbprint = ${thumbprint}`);
    return r ? toAcmeAccount(r) : null;
  }

  /** UPDATE ... SET `keys` (from `cols`), version = version + 1 WHERE id AND version: the compare-and-set behind every ACME update. */
  private casUpdate(op: string, table: string, id: string, cols: Record<string, string | number | boolean | Buffer | null>, keys: readonly string[], expected: number, durable = true): Promise<boolean> {
    return this.pool.run(op, async (sql, a) => {
      const update = (q: Sql | TransactionSql) => q`UPDATE ${q(table)} SET ${q(cols, [...keys])}, version = version + 1
        WHERE id = ${id} AND version = ${expected} RETURNING id`;
      const done = durable ? await update(sql) : await transaction(sql, async (tx) => {
        await tx`SET LOCAL synchronous_commit = off`;
        return update(tx);
      });
      if (done.length === 1) return true;
      if (!a.retried) return false;
      // Our cut-off attempt may have committed: the row then holds exactly
      // what we wrote, one version up.
      const [r] = await sql`SELECT * FROM ${sql(table)} WHERE id = ${id}`;
      return r !== undefined && n(r.version) === expected + 1 && keys.every((k) => sameValue(r[k], cols[k]));
    });
  }

  async updateAcmeAccount(acc: AcmeAccount, expectedVersion: number): Promise<boolean> {
    return this.casUpdate('updateAcmeAccount', 'acme_accounts', acc.id, acmeAccountColumns(acc), ACCOUNT_UPDATE_COLUMNS, expectedVersion)
      .catch(uniqueToConflict('another ACME account already uses this key'));
  }

  async insertAcmeOrder(o: AcmeOrder, newAuthorizations: AcmeAuthorization[]): Promise<void> {
    const order = { ...acmeOrderColumns(o), version: o.version };
    const authzs = newAuthorizations.map((z) => ({ ...acmeAuthorizationColumns(z), version: z.version }));
    await this.pool.run('insertAcmeOrder', (sql, a) => transaction(sql, async (tx) => {
      if (a.retried) {
        // Order and authorizations commit together: finding our order means all of it is there.
        const [mine] = await tx`SELECT account_id, created_at FROM acme_orders WHERE id = ${o.id}`;
        if (mine && sameValue(mine.account_id, order.account_id) && sameValue(mine.created_at, order.created_at)) return;
      }
      await tx`INSERT INTO acme_orders ${tx(order)}`;
      if (authzs.length) await tx`INSERT INTO acme_authorizations ${tx(authzs)}`;
    })).catch(uniqueToConflict(`ACME order ${o.id} or one of its authorizations already exists`));
  }

  async getAcmeOrder(id: string): Promise<AcmeOrder | null> {
    const [r] = await this.pool.run('getAcmeOrder', (sql) => sql`SELECT * FROM acme_orders WHERE id = ${id}`);
    return r ? toAcmeOrder(r) : null;
  }

  async findAcmeOrderReplacing(accountId: string, certId: string): Promise<AcmeOrder | null> {
    const [r] = await this.pool.run('findAcmeOrderReplacing', (sql) => sql`SELECT * FROM acme_orders
      WHERE replaces = ${certId} AND account_id = ${accountId} AND status <> 'invalid' ORDER BY created_at DESC LIMIT 1`);
    return r ? toAcmeOrder(r) : null;
  }

  async listAcmeOrders(accountId: string, page: { limit: number; cursor?: string }): Promise<{ items: AcmeOrder[]; nextCursor: string | null }> {
    const c = page.cursor ? decodeOrderCursor(page.cursor) : null;
    if (page.cursor && !c) throw new RampartError('malformed', 'bad order list cursor');
    const rows = await this.pool.run('listAcmeOrders', (sql) => c
      ? sql`SELECT * FROM acme_orders WHERE account_id = ${accountId} AND (created_at, id) < (${c.createdAt}::bigint, ${c.id})
          ORDER BY created_at DESC, id DESC LIMIT ${page.limit + 1}`
      : sql`SELECT * FROM acme_orders WHERE account_id = ${accountId} ORDER BY created_at DESC, id DESC LIMIT ${page.limit + 1}`);
    const items = rows.slice(0, page.limit).map(toAcmeOrder);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > page.limit && last ? encodeOrderCursor(last.createdAt.getTime(), last.id) : null };
  }

  async updateAcmeOrder(o: AcmeOrder, expectedVersion: number, opts: { durable?: boolean } = {}): Promise<boolean> {
    return this.casUpdate('updateAcmeOrder', 'acme_orders', o.id, acmeOrderColumns(o), ORDER_UPDATE_COLUMNS, expectedVersion, opts.durable !== false);
  }

  async getAcmeAuthorization(id: string): Promise<AcmeAuthorization | null> {
    const [r] = await this.pool.run('getAcmeAuthorization', (sql) => sql`SELECT * FROM acme_authorizations WHERE id = ${id}`);
    return r ? toAcmeAuthorization(r) : null;
  }

  async getAcmeAuthorizations(ids: string[]): Promise<AcmeAuthorization[]> {
    if (ids.length === 0) return [];
    const unique = [...new Set(ids)];
    const rows = await this.pool.run('getAcmeAuthorizations', (sql) => sql`SELECT * FROM acme_authorizations WHERE id IN ${sql(unique)}`);
    const byId = new Map(rows.map((r) => [String(r.id), toAcmeAuthorization(r)] as const));
    return ids.flatMap((id) => { const z = byId.get(id); return z ? [z] : []; });
  }

  async updateAcmeAuthorization(z: AcmeAuthorization, expectedVersion: number, opts: { durable?: boolean } = {}): Promise<boolean> {
    return this.casUpdate('updateAcmeAuthorization', 'acme_authorizations', z.id, acmeAuthorizationColumns(z), AUTHZ_UPDATE_COLUMNS, expectedVersion, opts.durable !== false);
  }

  async findValidAcmeAuthorization(accountId: string, identifier: AcmeIdentifier, wildcard: boolean, validAfter: Date): Promise<AcmeAuthorization | null> {
    const [r] = await this.pool.run('findValidAcmeAuthorization', (sql) => sql`
      SELECT * FROM acme_authorizations WHERE account_id = ${accountId} AND identifier_type = ${identifier.type}
        AND identifier_value = ${identifier.value} AND wildcard = ${wildcard} AND status = 'valid' AND expires > ${validAfter.getTime()}
      ORDER BY created_at DESC, id DESC LIMIT 1`);
    return r ? toAcmeAuthorization(r) : null;
  }

  async staleAcmeAuthorizations(before: Date, limit: number): Promise<AcmeAuthorization[]> {
    const rows = await this.pool.run('staleAcmeAuthorizations', (sql) => sql`
      SELECT * FROM acme_authorizations WHERE processing_since IS NOT NULL AND processing_since < ${before.getTime()}
      ORDER BY processing_since, id LIMIT ${limit}`);
    return rows.map(toAcmeAuthorization);
  }

  async staleAcmeOrders(before: Date, limit: number): Promise<AcmeOrder[]> {
    const rows = await this.pool.run('staleAcmeOrders', (sql) => sql`
      SELECT * FROM acme_orders WHERE status = 'processing' AND processing_since < ${before.getTime()}
      ORDER BY processing_since, id LIMIT ${limit}`);
    return rows.map(toAcmeOrder);
  }

  async consumeAcmeNonce(nonce: string, expiresAt: Date): Promise<boolean> {
    // After an unknown COMMIT the retry finds the nonce used and answers
    // false: a replay and our own lost commit look alike, so this fails
    // closed (the client gets badNonce and retries with a fresh nonce,
    // RFC 8555 §6.5), never accepting a nonce twice.
    // A used-nonce record is replay protection, not an acknowledged issuance:
    // it commits without waiting for the WAL flush or a synchronous standby
    // (docs/DESIGN.md, "ACME nonces"), which halves the flushes of an order.
    const rows = await this.pool.run('consumeAcmeNonce', (sql) => transaction(sql, async (tx) => {
      await tx`SET LOCAL synchronous_commit = off`;
      return tx`INSERT INTO acme_nonces (nonce, expires_at) VALUES (${nonce}, ${expiresAt.getTime()})
        ON CONFLICT (nonce) DO NOTHING RETURNING nonce`;
    }));
    return rows.length === 1;
  }

  async pruneAcmeNonces(now: Date): Promise<number> {
    const r = await this.pool.run('pruneAcmeNonces', (sql) => sql`DELETE FROM acme_nonces WHERE expires_at < ${now.getTime()}`);
    return r.count;
  }

  async insertEabKey(k: EabKey): Promise<void> {
    const cols = eabKeyColumns(k);
    await this.pool.run('insertEabKey', async (sql, a) => {
      if (a.retried) {
        const [mine] = await sql`SELECT sealed_key FROM acme_eab_keys WHERE kid = ${k.kid}`;
        if (mine && sameBytes(mine.sealed_key, k.sealedKey)) return;
      }
      await sql`INSERT INTO acme_eab_keys ${sql(cols)}`;
    }).catch(uniqueToConflict(`an EAB key with kid "${k.kid}" already exists`));
  }

  async getEabKey(kid: string): Promise<EabKey | null> {
    const [r] = await this.pool.run('getEabKey', (sql) => sql`SELECT * FROM acme_eab_keys WHERE kid = ${kid}`);
    return r ? toEabKey(r) : null;
  }

  async listEabKeys(): Promise<EabKey[]> {
    const rows = await this.pool.run('listEabKeys', (sql) => sql`SELECT * FROM acme_eab_keys ORDER BY created_at, kid`);
    return rows.map(toEabKey);
  }

  async bindEabKey(kid: string, accountId: string): Promise<boolean> {
    return this.pool.run('bindEabKey', async (sql, a) => {
      const done = await sql`UPDATE acme_eab_keys SET bound_account_id = ${accountId}
        WHERE kid = ${kid} AND bound_account_id IS NULL AND revoked_at IS NULL RETURNING kid`;
      if (done.length === 1) return true;
      if (!a.retried) return false;
      // Bound to this very account: our earlier attempt did it.
      const [r] = await sql`SELECT bound_account_id FROM acme_eab_keys WHERE kid = ${kid}`;
      return r !== undefined && r.bound_account_id === accountId;
    });
  }

  async revokeEabKey(kid: string, at: Date): Promise<boolean> {
    return this.pool.run('revokeEabKey', async (sql, a) => {
      const done = await sql`UPDATE acme_eab_keys SET revoked_at = ${at.getTime()} WHERE kid = ${kid} AND revoked_at IS NULL RETURNING kid`;
      if (done.length === 1) return true;
      if (!a.retried) return false;
      // Revoked at exactly our time: our earlier attempt did it.
      const [r] = await sql`SELECT revoked_at FROM acme_eab_keys WHERE kid = ${kid}`;
      return r !== undefined && r.revoked_at !== null && n(r.revoked_at) === at.getTime();
    });
  }

  async countRateEvents(bucket: string, since: Date): Promise<number> {
    const [r] = await this.pool.run('countRateEvents', (sql) =>
      sql`SELECT count(*) AS n FROM acme_rate_events WHERE bucket = ${bucket} AND at >= ${since.getTime()}`);
    return n(r!.n);
  }

  async addRateEvents(buckets: string[], at: Date): Promise<void> {
    if (buckets.length === 0) return;
    const rows = [...new Set(buckets)].map((bucket) => ({ bucket, at: at.getTime() }));
    // One statement, so all or none. A retry after an unknown COMMIT may
    // record the events twice: the limit gets stricter for a while, never looser.
    // Rate-limit counters are approximate by design: no flush wait (see consumeAcmeNonce).
    await this.pool.run('addRateEvents', (sql) => transaction(sql, async (tx) => {
      await tx`SET LOCAL synchronous_commit = off`;
      await tx`INSERT INTO acme_rate_events ${tx(rows)}`;
    }));
  }

  async pruneRateEvents(before: Date): Promise<number> {
    const r = await this.pool.run('pruneRateEvents', (sql) => sql`DELETE FROM acme_rate_events WHERE at < ${before.getTime()}`);
    return r.count;
  }
}
