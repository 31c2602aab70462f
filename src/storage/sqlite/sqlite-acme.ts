/** ACME accounts, orders, authorizations, nonces, EAB keys and rate events in SQLite (the AcmeStore part of SqliteStore). */
import type Database from 'better-sqlite3';
import { RampartError } from '../../core/errors.js';
import type { AcmeAccount, AcmeAuthorization, AcmeIdentifier, AcmeOrder, EabKey } from '../acme-records.js';
import {
  acmeAccountColumns, acmeAuthorizationColumns, acmeOrderColumns, decodeOrderCursor, eabKeyColumns, encodeOrderCursor,
  toAcmeAccount, toAcmeAuthorization, toAcmeOrder, toEabKey, type Row,
} from '../row-mapping.js';
import { isUniqueViolation } from './sqlite-errors.js';
import type { GroupCommit } from './group-commit.js';

/** SQLite binds no booleans. */
const sqliteAuthz = (a: AcmeAuthorization) => ({ ...acmeAuthorizationColumns(a), wildcard: a.wildcard ? 1 : 0 });

export interface SqliteAcmeAccess {
  db: Database.Database;
  /** A cached prepared statement (on `db`, or the given connection). */
  prep: (sql: string, db?: Database.Database) => Database.Statement;
  /** The connection for records that need no fsync before the reply. */
  nonceDb: () => Database.Database;
  /**
   * The group commit of that connection (no fsync barrier): its writes are
   * batched per turn of the event loop and never wait for the write lock in
   * SQLite's busy handler (group-commit.ts), since every ACME POST writes
   * there (a used nonce, rate events) on the thread that answers OCSP.
   */
  relaxedGroup: () => GroupCommit;
  /**
   * The store's group commit: durable ACME writes (accounts, orders,
   * authorizations, EAB keys) go in its batches, so their fsync runs on
   * libuv's pool and concurrent requests share it, rather than one fsync
   * each on the thread that answers OCSP (profiled: ~5 per order).
   */
  group: GroupCommit;
}

export class SqliteAcme {
  constructor(private readonly x: SqliteAcmeAccess) {}

  async insertAcmeAccount(a: AcmeAccount): Promise<void> {
    try {
      await this.x.group.run(() => this.x.prep(`INSERT INTO acme_accounts (id, key_thumbprint, jwk, status, contact, eab_kid, created_from_ip, created_at, version)
        VALUES (@id, @key_thumbprint, @jwk, @status, @contact, @eab_kid, @created_from_ip, @created_at, @version)`)
        .run({ ...acmeAccountColumns(a), version: a.version }));
    } catch (e) {
      if (isUniqueViolation(e)) throw new RampartError('conflict', `an ACME account with this key (or id ${a.id}) already exists`);
      throw e;
    }
  }

  async getAcmeAccount(id: string): Promise<AcmeAccount | null> {
    const r = this.x.prep('SELECT * FROM acme_accounts WHERE id = ?').get(id) as Row | undefined;
    return r ? toAcmeAccount(r) : null;
  }

  async findAcmeAccountByThumbprint(thumbprint: string): Promise<AcmeAccount | null> {
    const r = this.x.prep('SELECT * FROM acme_accounts WHERE key_thumbprint = ?').get(thumbprint) as Row | undefined;
    return r ? toAcmeAccount(r) : null;
  }

  async updateAcmeAccount(a: AcmeAccount, expectedVersion: number): Promise<boolean> {
    try {
      return await this.x.group.run(() => this.x.prep(`UPDATE acme_accounts SET key_thumbprint = @key_thumbprint, jwk = @jwk, status = @status, contact = @contact,
        version = version + 1 WHERE id = @id AND version = @expected`).run({ ...acmeAccountColumns(a), expected: expectedVersion }).changes === 1);
    } catch (e) {
      if (isUniqueViolation(e)) throw new RampartError('conflict', 'another ACME account already uses this key');
      throw e;
    }
  }

  async insertAcmeOrder(o: AcmeOrder, newAuthorizations: AcmeAuthorization[]): Promise<void> {
    const insAuthz = this.x.prep(`INSERT INTO acme_authorizations (id, account_id, identifier_type, identifier_value, wildcard, status, expires,
      challenges, processing_since, created_at, version)
      VALUES (@id, @account_id, @identifier_type, @identifier_value, @wildcard, @status, @expires, @challenges, @processing_since, @created_at, @version)`);
    const work = (): void => {
      this.x.prep(`INSERT INTO acme_orders (id, account_id, status, expires, identifiers, authorization_ids, not_before, not_after, error,
        certificate_serial, replaces, csr_der, processing_since, created_at, version)
        VALUES (@id, @account_id, @status, @expires, @identifiers, @authorization_ids, @not_before, @not_after, @error,
          @certificate_serial, @replaces, @csr_der, @processing_since, @created_at, @version)`).run({ ...acmeOrderColumns(o), version: o.version });
      for (const a of newAuthorizations) insAuthz.run({ ...sqliteAuthz(a), version: a.version });
    };
    try {
      // One unit of the group commit: its own savepoint, so the order and its authorizations go in together or not at all.
      await this.x.group.run(work);
    } catch (e) {
      if (isUniqueViolation(e)) throw new RampartError('conflict', `ACME order ${o.id} or one of its authorizations already exists`);
      throw e;
    }
  }

  async getAcmeOrder(id: string): Promise<AcmeOrder | null> {
    const r = this.x.prep('SELECT * FROM acme_orders WHERE id = ?').get(id) as Row | undefined;
    return r ? toAcmeOrder(r) : null;
  }

  async listAcmeOrders(accountId: string, page: { limit: number; cursor?: string }): Promise<{ items: AcmeOrder[]; nextCursor: string | null }> {
    let rows: Row[];
    if (page.cursor) {
      const c = decodeOrderCursor(page.cursor);
      if (!c) throw new RampartError('malformed', 'bad order list cursor');
      rows = this.x.prep(`SELECT * FROM acme_orders WHERE account_id = @accountId
        AND (created_at < @createdAt OR (created_at = @createdAt AND id < @id))
        ORDER BY created_at DESC, id DESC LIMIT @limit`).all({ accountId, createdAt: c.createdAt, id: c.id, limit: page.limit + 1 }) as Row[];
    } else {
      rows = this.x.prep('SELECT * FROM acme_orders WHERE account_id = ? ORDER BY created_at DESC, id DESC LIMIT ?')
        .all(accountId, page.limit + 1) as Row[];
    }
    const items = rows.slice(0, page.limit).map(toAcmeOrder);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > page.limit && last ? encodeOrderCursor(last.createdAt.getTime(), last.id) : null };
  }

  async updateAcmeOrder(o: AcmeOrder, expectedVersion: number, opts: { durable?: boolean } = {}): Promise<boolean> {
    const sql = `UPDATE acme_orders SET status = @status, expires = @expires, identifiers = @identifiers,
      authorization_ids = @authorization_ids, not_before = @not_before, not_after = @not_after, error = @error,
      certificate_serial = @certificate_serial, replaces = @replaces, csr_der = @csr_der, processing_since = @processing_since,
      version = version + 1 WHERE id = @id AND version = @expected`;
    const values = { ...acmeOrderColumns(o), expected: expectedVersion };
    if (opts.durable === false) return this.relaxed((db) => this.x.prep(sql, db).run(values).changes === 1);
    return this.x.group.run(() => this.x.prep(sql).run(values).changes === 1);
  }

  async findAcmeOrderReplacing(accountId: string, certId: string): Promise<AcmeOrder | null> {
    const r = this.x.prep("SELECT * FROM acme_orders WHERE replaces = ? AND account_id = ? AND status != 'invalid' ORDER BY created_at DESC LIMIT 1")
      .get(certId, accountId) as Row | undefined;
    return r ? toAcmeOrder(r) : null;
  }

  async getAcmeAuthorization(id: string): Promise<AcmeAuthorization | null> {
    const r = this.x.prep('SELECT * FROM acme_authorizations WHERE id = ?').get(id) as Row | undefined;
    return r ? toAcmeAuthorization(r) : null;
  }

  async getAcmeAuthorizations(ids: string[]): Promise<AcmeAuthorization[]> {
    const byId = new Map<string, AcmeAuthorization>();
    const unique = [...new Set(ids)];
    for (let i = 0; i < unique.length; i += 500) {
      const part = unique.slice(i, i + 500);
      const rows = this.x.prep(`SELECT * FROM acme_authorizations WHERE id IN (${part.map(() => '?').join(',')})`).all(...part) as Row[];
      for (const r of rows) byId.set(String(r.id), toAcmeAuthorization(r));
    }
    return ids.flatMap((id) => { const a = byId.get(id); return a ? [a] : []; });
  }

  async updateAcmeAuthorization(a: AcmeAuthorization, expectedVersion: number, opts: { durable?: boolean } = {}): Promise<boolean> {
    const sql = `UPDATE acme_authorizations SET status = @status, expires = @expires, challenges = @challenges,
      processing_since = @processing_since, version = version + 1 WHERE id = @id AND version = @expected`;
    const values = { ...sqliteAuthz(a), expected: expectedVersion };
    if (opts.durable === false) return this.relaxed((db) => this.x.prep(sql, db).run(values).changes === 1);
    return this.x.group.run(() => this.x.prep(sql).run(values).changes === 1);
  }

  async findValidAcmeAuthorization(accountId: string, identifier: AcmeIdentifier, wildcard: boolean, validAfter: Date): Promise<AcmeAuthorization | null> {
    const r = this.x.prep(`SELECT * FROM acme_authorizations WHERE account_id = ? AND identifier_type = ? AND identifier_value = ?
      AND wildcard = ? AND status = 'valid' AND expires > ? ORDER BY created_at DESC, id DESC LIMIT 1`)
      .get(accountId, identifier.type, identifier.value, wildcard ? 1 : 0, validAfter.getTime()) as Row | undefined;
    return r ? toAcmeAuthorization(r) : null;
  }

  async staleAcmeAuthorizations(before: Date, limit: number): Promise<AcmeAuthorization[]> {
    return (this.x.prep(`SELECT * FROM acme_authorizations WHERE processing_since IS NOT NULL AND processing_since < ?
      ORDER BY processing_since, id LIMIT ?`).all(before.getTime(), limit) as Row[]).map(toAcmeAuthorization);
  }

  async staleAcmeOrders(before: Date, limit: number): Promise<AcmeOrder[]> {
    return (this.x.prep(`SELECT * FROM acme_orders WHERE status = 'processing' AND processing_since < ?
      ORDER BY processing_since, id LIMIT ?`).all(before.getTime(), limit) as Row[]).map(toAcmeOrder);
  }

  async consumeAcmeNonce(nonce: string, expiresAt: Date): Promise<boolean> {
    // A used-nonce record is replay protection, not an acknowledged issuance:
    // it is written on a second connection with synchronous=NORMAL (in WAL
    // mode: safe against a process crash, not against power loss; the next
    // FULL commit flushes it), which halves the fsyncs of an ACME order.
    // See docs/DESIGN.md, "ACME" (Nonces).
    return this.relaxed((db) => this.x.prep('INSERT INTO acme_nonces (nonce, expires_at) VALUES (?, ?) ON CONFLICT (nonce) DO NOTHING', db)
      .run(nonce, expiresAt.getTime()).changes === 1);
  }

  async pruneAcmeNonces(now: Date): Promise<number> {
    return this.x.group.run(() => this.x.prep('DELETE FROM acme_nonces WHERE expires_at < ?').run(now.getTime()).changes);
  }

  async insertEabKey(k: EabKey): Promise<void> {
    try {
      await this.x.group.run(() => this.x.prep(`INSERT INTO acme_eab_keys (kid, sealed_key, description, created_at, bound_account_id, revoked_at)
        VALUES (@kid, @sealed_key, @description, @created_at, @bound_account_id, @revoked_at)`).run(eabKeyColumns(k)));
    } catch (e) {
      if (isUniqueViolation(e)) throw new RampartError('conflict', `an EAB key with kid "${k.kid}" already exists`);
      throw e;
    }
  }

  async getEabKey(kid: string): Promise<EabKey | null> {
    const r = this.x.prep('SELECT * FROM acme_eab_keys WHERE kid = ?').get(kid) as Row | undefined;
    return r ? toEabKey(r) : null;
  }

  async listEabKeys(): Promise<EabKey[]> {
    return (this.x.prep('SELECT * FROM acme_eab_keys ORDER BY created_at, kid').all() as Row[]).map(toEabKey);
  }

  async bindEabKey(kid: string, accountId: string): Promise<boolean> {
    return this.x.group.run(() => this.x.prep('UPDATE acme_eab_keys SET bound_account_id = ? WHERE kid = ? AND bound_account_id IS NULL AND revoked_at IS NULL')
      .run(accountId, kid).changes === 1);
  }

  async revokeEabKey(kid: string, at: Date): Promise<boolean> {
    return this.x.group.run(() => this.x.prep('UPDATE acme_eab_keys SET revoked_at = ? WHERE kid = ? AND revoked_at IS NULL').run(at.getTime(), kid).changes === 1);
  }

  async countRateEvents(bucket: string, since: Date): Promise<number> {
    const r = this.x.prep('SELECT COUNT(*) AS n FROM acme_rate_events WHERE bucket = ? AND at >= ?').get(bucket, since.getTime()) as Row;
    return Number(r.n);
  }

  async addRateEvents(buckets: string[], at: Date): Promise<void> {
    if (buckets.length === 0) return;
    // Rate-limit counters are approximate by design: no fsync before the reply (see consumeAcmeNonce).
    await this.relaxed((db) => {
      const ins = this.x.prep('INSERT INTO acme_rate_events (bucket, at) VALUES (?, ?)', db);
      for (const b of new Set(buckets)) ins.run(b, at.getTime());
    });
  }

  /** `work` on the relaxed connection, in its next group transaction (one unit, its own savepoint). */
  private relaxed<T>(work: (db: Database.Database) => T): Promise<T> {
    const db = this.x.nonceDb();
    return this.x.relaxedGroup().run(() => work(db));
  }

  async pruneRateEvents(before: Date): Promise<number> {
    return this.x.group.run(() => this.x.prep('DELETE FROM acme_rate_events WHERE at < ?').run(before.getTime()).changes);
  }
}
