/**
 * SQLite implementation of Store on better-sqlite3: WAL journal with
 * synchronous=FULL, so a write is on disk when its promise resolves.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import type { DatabaseSnapshot, SnapshotProgress } from '../store.js';
import { sqliteIntegrity } from './sqlite-integrity.js';
import type { DatabaseIntegrityOptions, IntegrityFinding } from '../database-integrity.js';
import { snapshotSqliteFile } from './sqlite-snapshot.js';
import { dirname } from 'node:path';
import type {
  Fence, LeaseState, NodeInfo,
  ApiTokenRecord, OperatorRecord, AuditEntry, CertificateFilter, CertificateRecord, CrlRecord, IssuerRecord, Page, RevokedEntry, TokenRole,
} from '../../core/types.js';
import { SqliteOperators } from './sqlite-operators.js';
import { SqliteSsh } from './sqlite-ssh.js';
import { SqliteCampaigns } from './sqlite-campaigns.js';
import { GroupCommit } from './group-commit.js';
import { SqliteCluster } from './sqlite-cluster.js';
import { SqliteCrls } from './sqlite-crls.js';
import { SqliteBulk } from './sqlite-bulk.js';
import { RampartError } from '../../core/errors.js';
import type { AcmeAccount, AcmeAuthorization, AcmeIdentifier, AcmeOrder, EabKey } from '../acme-records.js';
import { clampAuditLimit, type AuditBuilder, type BulkCertificate, type CrlRetention, type ExportTextRequest, type IdempotencyClaim, type InsertResult, type Store, type TidyCursor } from '../store.js';
import { SQLITE_MIGRATIONS } from './migrations.js';
import { SqliteReader } from './sqlite-reader.js';
import { EXPORT_BATCH, TOTAL_COUNT_CAP, cappedTotal, checkFilter, decodeCursor, pageOf } from '../inventory-query.js';
import { exportHeader } from '../inventory-format.js';

import { d, dn, toAudit, toCert, toIssuer, toToken, u8, type Row } from '../row-mapping.js';
import {
  acmeAccountColumns, acmeAuthorizationColumns, acmeOrderColumns, decodeOrderCursor, eabKeyColumns, encodeOrderCursor,
  toAcmeAccount, toAcmeAuthorization, toAcmeOrder, toEabKey,
} from '../row-mapping.js';

const CHUNK = 2000;

/** A UNIQUE or PRIMARY KEY violation (better-sqlite3's SqliteError codes). */
const isUniqueViolation = (e: unknown): boolean => {
  const c = (e as { code?: unknown } | null)?.code;
  return c === 'SQLITE_CONSTRAINT_UNIQUE' || c === 'SQLITE_CONSTRAINT_PRIMARYKEY';
};
/** SQLite binds no booleans. */
const sqliteAuthz = (a: AcmeAuthorization) => ({ ...acmeAuthorizationColumns(a), wildcard: a.wildcard ? 1 : 0 });


export interface SqliteStoreOptions {
  path: string;
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly db: Database.Database;

  private readonly path: string;

  constructor(opts: SqliteStoreOptions) {
    this.path = opts.path;
    if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
    this.db = new Database(opts.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.cluster = new SqliteCluster(this.db, (sql) => this.prep(sql));
    this.crls = new SqliteCrls(this.db, (sql) => this.prep(sql), (f) => this.checkFence(f));
    this.group = new GroupCommit(this.db);
    this.reader = new SqliteReader(opts.path, this.db);
    this.ssh = new SqliteSsh({ prep: (sql) => this.prep(sql), group: this.group, checkFence: (f) => this.checkFence(f), appendAuditInTx: (b) => this.appendAuditInTx(b) });
    this.campaigns = new SqliteCampaigns((sql) => this.prep(sql), this.group);
  }

  readonly ssh: SqliteSsh; // SSH CAs, certificates and KRLs (sqlite-ssh.ts)
  readonly campaigns: SqliteCampaigns; // re-issuance campaigns (sqlite-campaigns.ts)

  /** Inventory reads (pages, totals, exports) off the main thread. */
  readonly reader: SqliteReader;

  /** Issuances, revocations and audit entries asked for at once share one durable commit. */
  readonly group: GroupCommit;

  async migrate(): Promise<void> {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
    const apply = this.db.transaction(() => {
      const row = this.prep('SELECT MAX(version) AS v FROM schema_migrations').get() as Row;
      const current = row.v === null ? 0 : Number(row.v);
      for (let i = current; i < SQLITE_MIGRATIONS.length; i++) {
        this.db.exec(SQLITE_MIGRATIONS[i]!);
        this.prep('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(i + 1, Date.now());
      }
    });
    apply.immediate();
  }

  async ping(): Promise<void> {
    this.prep('SELECT 1').get();
  }

  /** A consistent copy of the database in `toFile` (SQLite online backup; writers keep going). */
  async snapshot(toFile: string): Promise<void> {
    await this.db.backup(toFile);
  }

  /**
   * Backups: a consistent copy in `tmpFile` and the counts read from that copy (so they describe exactly
   * what was copied), both in a worker thread (sqlite-snapshot.ts).
   */
  async backupSnapshot(tmpFile: string, onProgress?: SnapshotProgress): Promise<DatabaseSnapshot> {
    if (this.path === ':memory:') throw new Error('an in-memory SQLite database cannot be backed up');
    return { partName: 'database.sqlite', file: tmpFile, facts: await snapshotSqliteFile(this.path, tmpFile, onProgress) };
  }

  /** PRAGMA quick_check / integrity_check on a read-only connection of its own; blocks this thread (call it in a worker). */
  async databaseIntegrity(o: DatabaseIntegrityOptions): Promise<IntegrityFinding[]> {
    return sqliteIntegrity(this.path, o);
  }

  async close(): Promise<void> {
    await this.reader.close();
    if (this.db.open) this.group.flush();
    if (this.relaxedDb?.open) this.relaxedDb.close();
    if (this.db.open) this.db.close();
  }

  private relaxedDb: Database.Database | null = null;
  private readonly statements = new Map<Database.Database, Map<string, Database.Statement>>();

  /**
   * Prepared statements are cached per connection and SQL text (preparing
   * costs more than running most of these). Safe because nothing here keeps
   * a statement busy across an await (no .iterate()).
   */
  private prep(sql: string, db: Database.Database = this.db): Database.Statement {
    let cache = this.statements.get(db);
    if (!cache) this.statements.set(db, (cache = new Map()));
    let st = cache.get(sql);
    if (!st) {
      if (cache.size >= 1000) cache.clear();
      st = db.prepare(sql);
      cache.set(sql, st);
    }
    return st;
  }

  /** The connection for records that need no fsync before the reply (used ACME nonces). */
  private nonceDb(): Database.Database {
    if (this.path === ':memory:') return this.db;
    if (!this.relaxedDb) {
      this.relaxedDb = new Database(this.path);
      this.relaxedDb.pragma('synchronous = NORMAL');
      this.relaxedDb.pragma('busy_timeout = 5000');
    }
    return this.relaxedDb;
  }

  // ---- issuers
  async saveIssuer(r: IssuerRecord): Promise<void> {
    const tx = this.db.transaction(() => {
      if (r.active && r.kind === 'intermediate') this.prep("UPDATE issuers SET active = 0 WHERE kind = 'intermediate'").run();
      this.prep(`INSERT INTO issuers (id, kind, subject, parent_id, cert_der, key_ref, key_backend, not_before, not_after, active, created_at)
        VALUES (@id, @kind, @subject, @parentId, @certDer, @keyRef, @keyBackend, @notBefore, @notAfter, @active, @createdAt)
        ON CONFLICT (id) DO UPDATE SET active = excluded.active`).run({
        id: r.id, kind: r.kind, subject: r.subject, parentId: r.parentId, certDer: Buffer.from(r.certDer), keyRef: r.keyRef,
        keyBackend: r.keyBackend, notBefore: r.notBefore.getTime(), notAfter: r.notAfter.getTime(), active: r.active ? 1 : 0,
        createdAt: r.createdAt.getTime(),
      });
    });
    tx.immediate();
  }

  async listIssuers(): Promise<IssuerRecord[]> {
    return (this.prep('SELECT * FROM issuers ORDER BY created_at, id').all() as Row[]).map(toIssuer);
  }

  async getIssuer(id: string): Promise<IssuerRecord | null> {
    const r = this.prep('SELECT * FROM issuers WHERE id = ?').get(id) as Row | undefined;
    return r ? toIssuer(r) : null;
  }

  async setIssuerKey(id: string, keyRef: string, keyBackend: string): Promise<boolean> {
    return this.prep('UPDATE issuers SET key_ref = ?, key_backend = ? WHERE id = ?').run(keyRef, keyBackend, id).changes === 1;
  }

  // ---- certificates
  private findIdempotentSync(claim: IdempotencyClaim): CertificateRecord | null {
    const r = this.prep('SELECT request_hash, serial FROM idempotency WHERE requester = ? AND key = ?').get(claim.requester, claim.key) as Row | undefined;
    if (!r) return null;
    if (r.request_hash !== claim.requestHash) {
      throw new RampartError('idempotencyMismatch', `idempotency key "${claim.key}" was already used with a different request`);
    }
    const c = this.prep('SELECT * FROM certificates WHERE serial = ?').get(r.serial) as Row;
    return toCert(c);
  }

  async findIdempotent(claim: IdempotencyClaim): Promise<CertificateRecord | null> {
    return this.findIdempotentSync(claim);
  }

  /** Throws 'fenced' unless the fence still holds; call inside the write's transaction. */
  private checkFence(f: Fence | undefined): void {
    if (!f) return;
    if (f.region) throw new RampartError('notWritable', 'regions need PostgreSQL: an SQLite store cannot check a region fence');
    if (f.lease === '') return;
    const r = this.prep('SELECT holder, epoch, expires_at FROM leases WHERE name = ?').get(f.lease) as Row | undefined;
    const ok = r && r.holder === f.holder && BigInt(r.epoch as number) === f.epoch && r.expires_at !== null && Number(r.expires_at) > Date.now();
    if (!ok) throw new RampartError('fenced', `lease "${f.lease}" epoch ${f.epoch} is no longer held by ${f.holder}`);
  }

  async insertCertificate(rec: CertificateRecord, claim?: IdempotencyClaim, fence?: Fence, audit?: AuditBuilder): Promise<InsertResult> {
    return this.group.run((): InsertResult => {
      this.checkFence(fence);
      if (claim) {
        const earlier = this.findIdempotentSync(claim);
        if (earlier) return { record: earlier, replayed: true };
      }
      this.prep(`INSERT INTO certificates (serial, issuer_id, profile, subject, sans, search, not_before, not_after, der, status, revoked_at, revocation_reason, created_at, requester, crl_shard)
        VALUES (@serial, @issuerId, @profile, @subject, @sans, @search, @notBefore, @notAfter, @der, @status, @revokedAt, @reason, @createdAt, @requester, @crlShard)`).run({
        serial: rec.serial, issuerId: rec.issuerId, profile: rec.profile, subject: rec.subject, sans: JSON.stringify(rec.sans),
        search: [rec.subject, ...rec.sans].join('\n').toLowerCase(), notBefore: rec.notBefore.getTime(), notAfter: rec.notAfter.getTime(),
        der: Buffer.from(rec.der), status: rec.status, revokedAt: rec.revokedAt?.getTime() ?? null, reason: rec.revocationReason,
        createdAt: rec.createdAt.getTime(), requester: rec.requester, crlShard: rec.crlShard ?? null,
      });
      if (claim) {
        this.prep('INSERT INTO idempotency (requester, key, request_hash, serial, created_at) VALUES (?, ?, ?, ?, ?)')
          .run(claim.requester, claim.key, claim.requestHash, rec.serial, rec.createdAt.getTime());
      }
      return { record: rec, replayed: false, ...(audit ? { audit: this.appendAuditInTx(audit) } : {}) };
    });
  }

  private bulk: SqliteBulk | null = null;

  /** One group-commit unit: the rows commit together, durably (as synchronous stands). */
  async bulkInsertCertificates(rows: BulkCertificate[]): Promise<void> {
    const bulk = this.bulk ??= new SqliteBulk(this.db);
    await this.group.run(() => bulk.insert(rows));
  }

  async bulkLoadMode(on: boolean): Promise<void> {
    this.group.flush();
    (this.bulk ??= new SqliteBulk(this.db)).mode(on);
  }

  async expiredCertificates(before: Date, limit: number, cursor?: TidyCursor): Promise<BulkCertificate[]> {
    const rows = this.prep(`SELECT * FROM certificates WHERE not_after < ? AND (not_after, serial) > (?, ?) ORDER BY not_after, serial LIMIT ?`)
      .all(before.getTime(), cursor?.notAfter.getTime() ?? -1, cursor?.serial ?? '', limit) as Row[];
    return rows.map((r) => ({ ...toCert(r), crlEntry: r.crl_entry ? u8(r.crl_entry) : null }));
  }

  async removeCertificates(serials: string[], audit: AuditBuilder, fence?: Fence): Promise<number> {
    return this.group.run((): number => {
      this.checkFence(fence);
      let removed = 0;
      for (const serial of serials) {
        this.prep('DELETE FROM idempotency WHERE serial = ?').run(serial);
        this.prep('DELETE FROM revocation_events WHERE serial = ?').run(serial);
        removed += this.prep('DELETE FROM certificates WHERE serial = ?').run(serial).changes;
      }
      this.appendAuditInTx(audit);
      return removed;
    });
  }

  async getCertificate(serial: string): Promise<CertificateRecord | null> {
    const r = this.prep('SELECT * FROM certificates WHERE serial = ?').get(serial) as Row | undefined;
    return r ? toCert(r) : null;
  }

  /** Inventory pages: the query runs in the reader thread (sqlite-reader.ts); the total is counted for the first page only and carried in the cursor. */
  async listCertificates(filter: CertificateFilter, page: { limit: number; cursor?: string; countCap?: number }, now: Date): Promise<Page<CertificateRecord>> {
    const q = { filter, nowMs: now.getTime() };
    const c = decodeCursor(page.cursor);
    const cap = page.countCap ?? TOTAL_COUNT_CAP;
    const [total, rows] = await Promise.all([
      c.total ?? this.reader.count({ ...q, countCap: cap }).then((n) => cappedTotal(n, cap)),
      this.reader.rows(q, c.afterSeq, page.limit + 1, true),
    ]);
    return pageOf(rows, page.limit, total, (r) => Number(r.seq), toCert);
  }

  async *exportCertificates(filter: CertificateFilter, now: Date, opts: { withDer?: boolean; batch?: number } = {}): AsyncIterable<CertificateRecord[]> {
    const q = { filter, nowMs: now.getTime() };
    const batch = opts.batch ?? EXPORT_BATCH;
    for (let after = 0; ;) {
      const rows = await this.reader.rows(q, after, batch, opts.withDer ?? false);
      if (rows.length) yield rows.map(toCert);
      if (rows.length < batch) return;
      after = Number(rows[rows.length - 1]!.seq);
    }
  }

  async revokeCertificate(serial: string, reason: number, at: Date, crlEntry?: (issuerId: string) => Uint8Array, fence?: Fence): Promise<CertificateRecord> {
    return this.group.run((): CertificateRecord => {
      this.checkFence(fence);
      const r = this.prep('SELECT * FROM certificates WHERE serial = ?').get(serial) as Row | undefined;
      if (!r) throw new RampartError('notFound', `no certificate with serial ${serial}`);
      if (r.status === 'revoked') throw new RampartError('alreadyRevoked', `certificate ${serial} is already revoked`);
      const entry = crlEntry ? Buffer.from(crlEntry(String(r.issuer_id))) : null;
      this.prep("UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ?, crl_entry = ? WHERE serial = ?").run(at.getTime(), reason, entry, serial);
      this.prep('INSERT INTO revocation_events (serial, issuer_id, at) VALUES (?, ?, ?)').run(serial, r.issuer_id, at.getTime());
      return { ...toCert(r), status: 'revoked', revokedAt: new Date(at.getTime()), revocationReason: reason };
    });
  }

  async revocationsSince(seq: number, limit: number): Promise<Array<{ seq: number; serial: string; issuerId: string }>> {
    const rows = this.prep('SELECT seq, serial, issuer_id FROM revocation_events WHERE seq > ? ORDER BY seq LIMIT ?').all(seq, limit) as Row[];
    return rows.map((r) => ({ seq: Number(r.seq), serial: String(r.serial), issuerId: String(r.issuer_id) }));
  }

  /** Counted in the reader thread: at millions of rows a count takes seconds, which the thread answering OCSP must not spend. */
  async countCertificates(): Promise<{ total: number; revoked: number }> {
    const nowMs = Date.now();
    const [total, revoked] = await Promise.all([this.reader.count({ filter: {}, nowMs }), this.reader.count({ filter: { status: 'revoked' }, nowMs })]);
    return { total, revoked };
  }

  async *exportText(filter: CertificateFilter, now: Date, opts: ExportTextRequest): AsyncIterable<{ text: string; rows: number }> {
    const q = { filter, nowMs: now.getTime() };
    const fmt = { ...opts, nowMs: q.nowMs };
    const batch = opts.batch ?? EXPORT_BATCH;
    checkFilter(filter);
    yield { text: exportHeader(fmt), rows: 0 };
    for (let after = 0; ;) {
      const b = await this.reader.text(q, after, batch, fmt);
      if (b.rows) yield { text: b.text, rows: b.rows };
      if (b.rows < batch) return;
      after = b.lastSeq;
    }
  }

  // ---- revoked entries and CRLs (sqlite-crls.ts)
  iterateRevoked(issuerId: string, now: Date, shard?: number): AsyncIterable<RevokedEntry> { return this.crls.iterateRevoked(issuerId, now, shard); }
  nextCrlNumber(issuerId: string): Promise<bigint> { return this.crls.nextCrlNumber(issuerId); }
  saveCrl(rec: CrlRecord, fence?: Fence, retention?: CrlRetention): Promise<void> { return this.crls.saveCrl(rec, fence, retention); }
  storedCrls(issuerId: string, shard?: number): Promise<Array<{ number: bigint; size: number }>> { return this.crls.storedCrls(issuerId, shard); }
  latestCrl(issuerId: string, shard?: number): Promise<CrlRecord | null> { return this.crls.latestCrl(issuerId, shard); }
  latestCrlNumber(issuerId: string, shard?: number): Promise<bigint | null> { return this.crls.latestCrlNumber(issuerId, shard); }
  crlCounters(): Promise<Record<string, bigint>> { return this.crls.crlCounters(); }

  // ---- tokens
  async insertToken(t: ApiTokenRecord): Promise<void> {
    this.prep('INSERT INTO api_tokens (id, name, role, hash, created_at, expires_at, revoked_at, operator_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(t.id, t.name, t.role, t.hash, t.createdAt.getTime(), t.expiresAt?.getTime() ?? null, t.revokedAt?.getTime() ?? null, t.operatorId ?? null);
  }

  // ---- operators (sqlite-operators.ts)
  private ops?: SqliteOperators;
  private get operators(): SqliteOperators { return (this.ops ??= new SqliteOperators(this.db)); }
  async insertOperator(op: OperatorRecord): Promise<void> { this.operators.insert(op); }
  async getOperator(id: string): Promise<OperatorRecord | null> { return this.operators.get(id); }
  async getOperatorByName(name: string): Promise<OperatorRecord | null> { return this.operators.byName(name); }
  async listOperators(): Promise<OperatorRecord[]> { return this.operators.list(); }
  async disableOperator(id: string, at: Date): Promise<boolean> { return this.operators.disable(id, at); }

  async findTokenByHash(hash: string): Promise<ApiTokenRecord | null> {
    const r = this.prep('SELECT * FROM api_tokens WHERE hash = ?').get(hash) as Row | undefined;
    return r ? toToken(r) : null;
  }

  async listTokens(): Promise<ApiTokenRecord[]> {
    return (this.prep('SELECT * FROM api_tokens ORDER BY created_at').all() as Row[]).map(toToken);
  }

  async revokeToken(id: string, at: Date): Promise<boolean> {
    return this.prep('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at.getTime(), id).changes === 1;
  }

  // ---- audit
  async appendAudit(build: AuditBuilder): Promise<AuditEntry> {
    return this.group.run((): AuditEntry => this.appendAuditInTx(build));
  }

  /** Appends one audit entry; call inside a write transaction. */
  private appendAuditInTx(build: AuditBuilder): AuditEntry {
    const last = this.prep('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as Row | undefined;
    const e = build(last ? { seq: Number(last.seq), hash: String(last.hash) } : null);
    this.prep(`INSERT INTO audit_log (seq, time, actor, source, channel, action, target, outcome, details, prev_hash, hash)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(e.seq, e.time.getTime(), e.actor, e.source, e.channel, e.action, e.target,
      e.outcome, JSON.stringify(e.details ?? {}), e.prevHash, e.hash);
    return e;
  }

  async *iterateAudit(afterSeq = -1): AsyncIterable<AuditEntry> {
    const stmt = this.prep(`SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ${CHUNK}`);
    let after = afterSeq;
    for (;;) {
      const rows = stmt.all(after) as Row[];
      for (const r of rows) yield toAudit(r);
      if (rows.length < CHUNK) return;
      after = Number(rows[rows.length - 1]!.seq);
    }
  }

  async latestAudit(limit: number, beforeSeq?: number): Promise<AuditEntry[]> {
    const lim = clampAuditLimit(limit);
    const rows = (beforeSeq === undefined
      ? this.prep('SELECT * FROM audit_log ORDER BY seq DESC LIMIT ?').all(lim)
      : this.prep('SELECT * FROM audit_log WHERE seq < ? ORDER BY seq DESC LIMIT ?').all(beforeSeq, lim)) as Row[];
    return rows.map(toAudit);
  }

  async lastAudit(): Promise<AuditEntry | null> {
    const r = this.prep('SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1').get() as Row | undefined;
    return r ? toAudit(r) : null;
  }

  // ---- cluster (sqlite-cluster.ts)
  private readonly cluster: SqliteCluster;
  private readonly crls: SqliteCrls;
  async heartbeat(node: Omit<NodeInfo, 'lastSeen'>): Promise<void> { this.cluster.heartbeat(node); }
  async listNodes(): Promise<NodeInfo[]> { return this.cluster.listNodes(); }
  async removeNode(id: string): Promise<void> { this.cluster.removeNode(id); }
  async tryAcquireLease(name: string, holder: string, ttlMs: number): Promise<LeaseState> { return this.cluster.tryAcquireLease(name, holder, ttlMs); }
  async releaseLease(name: string, holder: string): Promise<void> { this.cluster.releaseLease(name, holder); }
  async getLease(name: string): Promise<LeaseState | null> { return this.cluster.leaseRow(name, Date.now()); }

  // ---- ACME
  async insertAcmeAccount(a: AcmeAccount): Promise<void> {
    try {
      this.prep(`INSERT INTO acme_accounts (id, key_thumbprint, jwk, status, contact, eab_kid, created_from_ip, created_at, version)
        VALUES (@id, @key_thumbprint, @jwk, @status, @contact, @eab_kid, @created_from_ip, @created_at, @version)`)
        .run({ ...acmeAccountColumns(a), version: a.version });
    } catch (e) {
      if (isUniqueViolation(e)) throw new RampartError('conflict', `an ACME account with this key (or id ${a.id}) already exists`);
      throw e;
    }
  }

  async getAcmeAccount(id: string): Promise<AcmeAccount | null> {
    const r = this.prep('SELECT * FROM acme_accounts WHERE id = ?').get(id) as Row | undefined;
    return r ? toAcmeAccount(r) : null;
  }

  async findAcmeAccountByThumbprint(thumbprint: string): Promise<AcmeAccount | null> {
    const r = this.prep('SELECT * FROM acme_accounts WHERE key_thumbprint = ?').get(thumbprint) as Row | undefined;
    return r ? toAcmeAccount(r) : null;
  }

  async updateAcmeAccount(a: AcmeAccount, expectedVersion: number): Promise<boolean> {
    try {
      return this.prep(`UPDATE acme_accounts SET key_thumbprint = @key_thumbprint, jwk = @jwk, status = @status, contact = @contact,
        version = version + 1 WHERE id = @id AND version = @expected`).run({ ...acmeAccountColumns(a), expected: expectedVersion }).changes === 1;
    } catch (e) {
      if (isUniqueViolation(e)) throw new RampartError('conflict', 'another ACME account already uses this key');
      throw e;
    }
  }

  async insertAcmeOrder(o: AcmeOrder, newAuthorizations: AcmeAuthorization[]): Promise<void> {
    const insAuthz = this.prep(`INSERT INTO acme_authorizations (id, account_id, identifier_type, identifier_value, wildcard, status, expires,
      challenges, processing_since, created_at, version)
      VALUES (@id, @account_id, @identifier_type, @identifier_value, @wildcard, @status, @expires, @challenges, @processing_since, @created_at, @version)`);
    const tx = this.db.transaction(() => {
      this.prep(`INSERT INTO acme_orders (id, account_id, status, expires, identifiers, authorization_ids, not_before, not_after, error,
        certificate_serial, replaces, csr_der, processing_since, created_at, version)
        VALUES (@id, @account_id, @status, @expires, @identifiers, @authorization_ids, @not_before, @not_after, @error,
          @certificate_serial, @replaces, @csr_der, @processing_since, @created_at, @version)`).run({ ...acmeOrderColumns(o), version: o.version });
      for (const a of newAuthorizations) insAuthz.run({ ...sqliteAuthz(a), version: a.version });
    });
    try {
      tx.immediate();
    } catch (e) {
      if (isUniqueViolation(e)) throw new RampartError('conflict', `ACME order ${o.id} or one of its authorizations already exists`);
      throw e;
    }
  }

  async getAcmeOrder(id: string): Promise<AcmeOrder | null> {
    const r = this.prep('SELECT * FROM acme_orders WHERE id = ?').get(id) as Row | undefined;
    return r ? toAcmeOrder(r) : null;
  }

  async listAcmeOrders(accountId: string, page: { limit: number; cursor?: string }): Promise<{ items: AcmeOrder[]; nextCursor: string | null }> {
    let rows: Row[];
    if (page.cursor) {
      const c = decodeOrderCursor(page.cursor);
      if (!c) throw new RampartError('malformed', 'bad order list cursor');
      rows = this.prep(`SELECT * FROM acme_orders WHERE account_id = @accountId
        AND (created_at < @createdAt OR (created_at = @createdAt AND id < @id))
        ORDER BY created_at DESC, id DESC LIMIT @limit`).all({ accountId, createdAt: c.createdAt, id: c.id, limit: page.limit + 1 }) as Row[];
    } else {
      rows = this.prep('SELECT * FROM acme_orders WHERE account_id = ? ORDER BY created_at DESC, id DESC LIMIT ?')
        .all(accountId, page.limit + 1) as Row[];
    }
    const items = rows.slice(0, page.limit).map(toAcmeOrder);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > page.limit && last ? encodeOrderCursor(last.createdAt.getTime(), last.id) : null };
  }

  async updateAcmeOrder(o: AcmeOrder, expectedVersion: number, opts: { durable?: boolean } = {}): Promise<boolean> {
    return this.prep(`UPDATE acme_orders SET status = @status, expires = @expires, identifiers = @identifiers,
      authorization_ids = @authorization_ids, not_before = @not_before, not_after = @not_after, error = @error,
      certificate_serial = @certificate_serial, replaces = @replaces, csr_der = @csr_der, processing_since = @processing_since,
      version = version + 1 WHERE id = @id AND version = @expected`, opts.durable === false ? this.nonceDb() : this.db).run({ ...acmeOrderColumns(o), expected: expectedVersion }).changes === 1;
  }

  async findAcmeOrderReplacing(accountId: string, certId: string): Promise<AcmeOrder | null> {
    const r = this.prep("SELECT * FROM acme_orders WHERE replaces = ? AND account_id = ? AND status != 'invalid' ORDER BY created_at DESC LIMIT 1")
      .get(certId, accountId) as Row | undefined;
    return r ? toAcmeOrder(r) : null;
  }

  async getAcmeAuthorization(id: string): Promise<AcmeAuthorization | null> {
    const r = this.prep('SELECT * FROM acme_authorizations WHERE id = ?').get(id) as Row | undefined;
    return r ? toAcmeAuthorization(r) : null;
  }

  async getAcmeAuthorizations(ids: string[]): Promise<AcmeAuthorization[]> {
    const byId = new Map<string, AcmeAuthorization>();
    const unique = [...new Set(ids)];
    for (let i = 0; i < unique.length; i += 500) {
      const part = unique.slice(i, i + 500);
      const rows = this.prep(`SELECT * FROM acme_authorizations WHERE id IN (${part.map(() => '?').join(',')})`).all(...part) as Row[];
      for (const r of rows) byId.set(String(r.id), toAcmeAuthorization(r));
    }
    return ids.flatMap((id) => { const a = byId.get(id); return a ? [a] : []; });
  }

  async updateAcmeAuthorization(a: AcmeAuthorization, expectedVersion: number, opts: { durable?: boolean } = {}): Promise<boolean> {
    return this.prep(`UPDATE acme_authorizations SET status = @status, expires = @expires, challenges = @challenges,
      processing_since = @processing_since, version = version + 1 WHERE id = @id AND version = @expected`, opts.durable === false ? this.nonceDb() : this.db)
      .run({ ...sqliteAuthz(a), expected: expectedVersion }).changes === 1;
  }

  async findValidAcmeAuthorization(accountId: string, identifier: AcmeIdentifier, wildcard: boolean, validAfter: Date): Promise<AcmeAuthorization | null> {
    const r = this.prep(`SELECT * FROM acme_authorizations WHERE account_id = ? AND identifier_type = ? AND identifier_value = ?
      AND wildcard = ? AND status = 'valid' AND expires > ? ORDER BY created_at DESC, id DESC LIMIT 1`)
      .get(accountId, identifier.type, identifier.value, wildcard ? 1 : 0, validAfter.getTime()) as Row | undefined;
    return r ? toAcmeAuthorization(r) : null;
  }

  async staleAcmeAuthorizations(before: Date, limit: number): Promise<AcmeAuthorization[]> {
    return (this.prep(`SELECT * FROM acme_authorizations WHERE processing_since IS NOT NULL AND processing_since < ?
      ORDER BY processing_since, id LIMIT ?`).all(before.getTime(), limit) as Row[]).map(toAcmeAuthorization);
  }

  async staleAcmeOrders(before: Date, limit: number): Promise<AcmeOrder[]> {
    return (this.prep(`SELECT * FROM acme_orders WHERE status = 'processing' AND processing_since < ?
      ORDER BY processing_since, id LIMIT ?`).all(before.getTime(), limit) as Row[]).map(toAcmeOrder);
  }

  async consumeAcmeNonce(nonce: string, expiresAt: Date): Promise<boolean> {
    // A used-nonce record is replay protection, not an acknowledged issuance:
    // it is written on a second connection with synchronous=NORMAL (in WAL
    // mode: safe against a process crash, not against power loss; the next
    // FULL commit flushes it), which halves the fsyncs of an ACME order.
    // See docs/DESIGN.md, "ACME nonces".
    return this.prep('INSERT INTO acme_nonces (nonce, expires_at) VALUES (?, ?) ON CONFLICT (nonce) DO NOTHING', this.nonceDb())
      .run(nonce, expiresAt.getTime()).changes === 1;
  }

  async pruneAcmeNonces(now: Date): Promise<number> {
    return this.prep('DELETE FROM acme_nonces WHERE expires_at < ?').run(now.getTime()).changes;
  }

  async insertEabKey(k: EabKey): Promise<void> {
    try {
      this.prep(`INSERT INTO acme_eab_keys (kid, sealed_key, description, created_at, bound_account_id, revoked_at)
        VALUES (@kid, @sealed_key, @description, @created_at, @bound_account_id, @revoked_at)`).run(eabKeyColumns(k));
    } catch (e) {
      if (isUniqueViolation(e)) throw new RampartError('conflict', `an EAB key with kid "${k.kid}" already exists`);
      throw e;
    }
  }

  async getEabKey(kid: string): Promise<EabKey | null> {
    const r = this.prep('SELECT * FROM acme_eab_keys WHERE kid = ?').get(kid) as Row | undefined;
    return r ? toEabKey(r) : null;
  }

  async listEabKeys(): Promise<EabKey[]> {
    return (this.prep('SELECT * FROM acme_eab_keys ORDER BY created_at, kid').all() as Row[]).map(toEabKey);
  }

  async bindEabKey(kid: string, accountId: string): Promise<boolean> {
    return this.prep('UPDATE acme_eab_keys SET bound_account_id = ? WHERE kid = ? AND bound_account_id IS NULL AND revoked_at IS NULL')
      .run(accountId, kid).changes === 1;
  }

  async revokeEabKey(kid: string, at: Date): Promise<boolean> {
    return this.prep('UPDATE acme_eab_keys SET revoked_at = ? WHERE kid = ? AND revoked_at IS NULL').run(at.getTime(), kid).changes === 1;
  }

  async countRateEvents(bucket: string, since: Date): Promise<number> {
    const r = this.prep('SELECT COUNT(*) AS n FROM acme_rate_events WHERE bucket = ? AND at >= ?').get(bucket, since.getTime()) as Row;
    return Number(r.n);
  }

  async addRateEvents(buckets: string[], at: Date): Promise<void> {
    if (buckets.length === 0) return;
    // Rate-limit counters are approximate by design: no fsync before the reply (see consumeAcmeNonce).
    const db = this.nonceDb();
    const ins = this.prep('INSERT INTO acme_rate_events (bucket, at) VALUES (?, ?)', db);
    const tx = db.transaction(() => { for (const b of new Set(buckets)) ins.run(b, at.getTime()); });
    tx.immediate();
  }

  async pruneRateEvents(before: Date): Promise<number> {
    return this.prep('DELETE FROM acme_rate_events WHERE at < ?').run(before.getTime()).changes;
  }

  // ---- meta
  async getMeta(key: string): Promise<string | null> {
    const r = this.prep('SELECT value FROM meta WHERE key = ?').get(key) as Row | undefined;
    return r ? String(r.value) : null;
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.prep('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }
}
