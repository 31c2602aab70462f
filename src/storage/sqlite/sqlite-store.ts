/**
 * SQLite implementation of Store on better-sqlite3: WAL journal with
 * synchronous=FULL (group commits: NORMAL plus an fdatasync of the WAL off the
 * main thread, wal-durability.ts), so a write is on disk when its promise
 * resolves. ACME records are in sqlite-acme.ts, operators, cluster, CRLs and
 * SSH in their own files.
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
import { SqliteAcme } from './sqlite-acme.js';
import { SqliteSsh } from './sqlite-ssh.js';
import { SqliteCampaigns } from './sqlite-campaigns.js';
import { GroupCommit } from './group-commit.js';
import { BACKSTOP_AUTOCHECKPOINT_PAGES, SqliteCheckpointer } from './sqlite-checkpointer.js';
import { WalDurability } from './wal-durability.js';
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
import type { RevokedChunk } from '../revoked-chunks.js';

const CHUNK = 2000;



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
    this.group = new GroupCommit(this.db, opts.path === ':memory:' ? null : WalDurability.forFile(`${opts.path}-wal`));
    this.crls = new SqliteCrls((sql) => this.prep(sql), (f) => this.checkFence(f), (sql, params) => this.reader.all(sql, params), (scan) => this.reader.revoked(scan), this.group);
    this.reader = new SqliteReader(opts.path, this.db);
    this.checkpointer = opts.path === ':memory:' ? null : new SqliteCheckpointer(opts.path);
    this.ssh = new SqliteSsh({ prep: (sql) => this.prep(sql), group: this.group, checkFence: (f) => this.checkFence(f), appendAuditInTx: (b) => this.appendAuditInTx(b) });
    this.campaigns = new SqliteCampaigns((sql) => this.prep(sql), this.group);
  }

  readonly ssh: SqliteSsh; // SSH CAs, certificates and KRLs (sqlite-ssh.ts)
  readonly campaigns: SqliteCampaigns; // re-issuance campaigns (sqlite-campaigns.ts)

  /** Inventory reads (pages, totals, exports) off the main thread. */
  readonly reader: SqliteReader;

  /** Issuances, revocations and audit entries asked for at once share one durable commit. */
  readonly group: GroupCommit;

  /** WAL checkpoints in a thread of their own once a serving node asks for it (sqlite-checkpointer.ts). */
  readonly checkpointer: SqliteCheckpointer | null;

  /** A serving node: checkpoints leave the main thread; the connections keep only a backstop. */
  offloadCheckpoints(): void {
    if (!this.checkpointer || !this.db.open) return;
    for (const db of [this.db, this.relaxedDb]) if (db?.open) db.pragma(`wal_autocheckpoint = ${BACKSTOP_AUTOCHECKPOINT_PAGES}`);
    this.checkpointer.start();
  }

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
    // A bulk load that stopped half-way left rows out of name search: index them now (sqlite-bulk.ts).
    (this.bulk ??= new SqliteBulk(this.db)).finishSearchIndex();
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
    await this.checkpointer?.stop();
    await this.reader.close();
    if (this.db.open) {
      this.group.flush();
      await this.group.synced().catch(() => undefined);
      this.group.release();
    }
    if (this.relaxedDb?.open) {
      this.relaxedGroupCommit?.flush();
      this.relaxedDb.close();
    }
    if (this.db.open) this.db.close();
  }

  private relaxedDb: Database.Database | null = null;
  private relaxedGroupCommit: GroupCommit | null = null;
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
      if (this.checkpointer?.active) this.relaxedDb.pragma(`wal_autocheckpoint = ${BACKSTOP_AUTOCHECKPOINT_PAGES}`);
    }
    return this.relaxedDb;
  }

  /** The relaxed connection's group commit (no fsync barrier; on `:memory:` the store's own). */
  private relaxedGroup(): GroupCommit {
    const db = this.nonceDb();
    if (db === this.db) return this.group;
    return (this.relaxedGroupCommit ??= new GroupCommit(db, null));
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
    const found = this.findIdempotentSync(claim);
    // A replay acknowledges the earlier issuance: not before its commit is on disk.
    if (found) await this.group.synced();
    return found;
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
    // The WAL's frames are copied into the file by the checkpointer's thread, not inside each batch's commit on this one.
    if (on) this.offloadCheckpoints();
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

  /**
   * FTS5 incremental merges of up to 64 pages each, one group-commit unit per
   * step (the lock taken without waiting on this thread), until a step finds
   * no work (fewer than two changes) or 20,000 steps. Measured on 1M after
   * 100k rows at the front were removed: ~355 steps of at most 81 ms (~8 ms
   * typical), the capped `name=example` total 16.8 → 3.2 ms and its first
   * page 13.8 → 0.8 ms (docs/DESIGN.md, "Tidy").
   */
  async compactSearchIndex(): Promise<number> {
    const step = (): number => {
      const before = Number((this.prep('SELECT total_changes() AS n').get() as Row).n);
      this.prep("INSERT INTO certificates_search (certificates_search, rank) VALUES ('merge', -64)").run();
      return Number((this.prep('SELECT total_changes() AS n').get() as Row).n) - before;
    };
    let steps = 0;
    while (steps < 20_000) {
      steps++;
      if (await this.group.run(step) < 2) break;
    }
    return steps;
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
    // The total first (one reader thread runs both anyway): below the cap, the page reads its range index.
    const total = c.total ?? cappedTotal(await this.reader.count({ ...q, countCap: cap }), cap);
    const rows = await this.reader.rows({ ...q, few: !total.capped }, c.afterSeq, page.limit + 1, true);
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

  async revokeCertificate(serial: string, reason: number, at: Date, crlEntry?: (issuerId: string) => Uint8Array, fence?: Fence, audit?: AuditBuilder): Promise<CertificateRecord> {
    return this.group.run((): CertificateRecord => {
      this.checkFence(fence);
      const r = this.prep('SELECT * FROM certificates WHERE serial = ?').get(serial) as Row | undefined;
      if (!r) throw new RampartError('notFound', `no certificate with serial ${serial}`);
      if (r.status === 'revoked') throw new RampartError('alreadyRevoked', `certificate ${serial} is already revoked`);
      const entry = crlEntry ? Buffer.from(crlEntry(String(r.issuer_id))) : null;
      this.prep("UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ?, crl_entry = ? WHERE serial = ?").run(at.getTime(), reason, entry, serial);
      this.prep('INSERT INTO revocation_events (serial, issuer_id, at) VALUES (?, ?, ?)').run(serial, r.issuer_id, at.getTime());
      if (audit) this.appendAuditInTx(audit);
      return { ...toCert(r), status: 'revoked', revokedAt: new Date(at.getTime()), revocationReason: reason };
    });
  }

  async revocationsSince(seq: number, limit: number): Promise<Array<{ seq: number; serial: string; issuerId: string }>> {
    const rows = this.prep('SELECT seq, serial, issuer_id FROM revocation_events WHERE seq > ? ORDER BY seq LIMIT ?').all(seq, limit) as Row[];
    return rows.map((r) => ({ seq: Number(r.seq), serial: String(r.serial), issuerId: String(r.issuer_id) }));
  }

  async lastRevocationSeq(): Promise<number> {
    return Number((this.prep('SELECT coalesce(max(seq), 0) AS seq FROM revocation_events').get() as Row).seq);
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
  revokedChunks(issuerId: string, now: Date, shard?: number): AsyncIterable<RevokedChunk> { return this.crls.revokedChunks(issuerId, now, shard); }
  nextCrlNumber(issuerId: string): Promise<bigint> { return this.crls.nextCrlNumber(issuerId); }
  saveCrl(rec: CrlRecord, fence?: Fence, retention?: CrlRetention): Promise<void> { return this.crls.saveCrl(rec, fence, retention); }
  storedCrls(issuerId: string, shard?: number): Promise<Array<{ number: bigint; size: number }>> { return this.crls.storedCrls(issuerId, shard); }
  latestCrl(issuerId: string, shard?: number): Promise<CrlRecord | null> { return this.crls.latestCrl(issuerId, shard); }
  latestCrlMeta(issuerId: string, shard?: number): Promise<Omit<CrlRecord, 'der'> | null> { return this.crls.latestCrlMeta(issuerId, shard); }
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
  /** Through the group commit: a CLI holding the write lock makes it wait on a timer, not on the event loop. */
  async heartbeat(node: Omit<NodeInfo, 'lastSeen'>): Promise<void> { await this.group.run(() => this.cluster.heartbeat(node)); }
  async listNodes(): Promise<NodeInfo[]> { return this.cluster.listNodes(); }
  async removeNode(id: string): Promise<void> { this.cluster.removeNode(id); }
  // Through the group commit, like the heartbeat: a renewal never waits for the write lock in the busy handler.
  async tryAcquireLease(name: string, holder: string, ttlMs: number): Promise<LeaseState> { return this.group.run(() => this.cluster.tryAcquireLease(name, holder, ttlMs)); }
  async releaseLease(name: string, holder: string): Promise<void> { await this.group.run(() => this.cluster.releaseLease(name, holder)); }
  async getLease(name: string): Promise<LeaseState | null> { return this.cluster.leaseRow(name, Date.now()); }

  // ---- ACME (sqlite-acme.ts)
  private acmeStore?: SqliteAcme;
  private get acme(): SqliteAcme { return (this.acmeStore ??= new SqliteAcme({ db: this.db, prep: (sql, db) => this.prep(sql, db), nonceDb: () => this.nonceDb(), relaxedGroup: () => this.relaxedGroup(), group: this.group })); }
  async insertAcmeAccount(a: AcmeAccount): Promise<void> { return this.acme.insertAcmeAccount(a); }
  async getAcmeAccount(id: string): Promise<AcmeAccount | null> { return this.acme.getAcmeAccount(id); }
  async findAcmeAccountByThumbprint(thumbprint: string): Promise<AcmeAccount | null> { return this.acme.findAcmeAccountByThumbprint(thumbprint); }
  async updateAcmeAccount(a: AcmeAccount, expectedVersion: number): Promise<boolean> { return this.acme.updateAcmeAccount(a, expectedVersion); }
  async insertAcmeOrder(o: AcmeOrder, newAuthorizations: AcmeAuthorization[]): Promise<void> { return this.acme.insertAcmeOrder(o, newAuthorizations); }
  async getAcmeOrder(id: string): Promise<AcmeOrder | null> { return this.acme.getAcmeOrder(id); }
  async listAcmeOrders(accountId: string, page: { limit: number; cursor?: string }): Promise<{ items: AcmeOrder[]; nextCursor: string | null }> { return this.acme.listAcmeOrders(accountId, page); }
  async updateAcmeOrder(o: AcmeOrder, expectedVersion: number, opts: { durable?: boolean } = {}): Promise<boolean> { return this.acme.updateAcmeOrder(o, expectedVersion, opts); }
  async findAcmeOrderReplacing(accountId: string, certId: string): Promise<AcmeOrder | null> { return this.acme.findAcmeOrderReplacing(accountId, certId); }
  async getAcmeAuthorization(id: string): Promise<AcmeAuthorization | null> { return this.acme.getAcmeAuthorization(id); }
  async getAcmeAuthorizations(ids: string[]): Promise<AcmeAuthorization[]> { return this.acme.getAcmeAuthorizations(ids); }
  async updateAcmeAuthorization(a: AcmeAuthorization, expectedVersion: number, opts: { durable?: boolean } = {}): Promise<boolean> { return this.acme.updateAcmeAuthorization(a, expectedVersion, opts); }
  async findValidAcmeAuthorization(accountId: string, identifier: AcmeIdentifier, wildcard: boolean, validAfter: Date): Promise<AcmeAuthorization | null> { return this.acme.findValidAcmeAuthorization(accountId, identifier, wildcard, validAfter); }
  async staleAcmeAuthorizations(before: Date, limit: number): Promise<AcmeAuthorization[]> { return this.acme.staleAcmeAuthorizations(before, limit); }
  async staleAcmeOrders(before: Date, limit: number): Promise<AcmeOrder[]> { return this.acme.staleAcmeOrders(before, limit); }
  async consumeAcmeNonce(nonce: string, expiresAt: Date): Promise<boolean> { return this.acme.consumeAcmeNonce(nonce, expiresAt); }
  async pruneAcmeNonces(now: Date): Promise<number> { return this.acme.pruneAcmeNonces(now); }
  async insertEabKey(k: EabKey): Promise<void> { return this.acme.insertEabKey(k); }
  async getEabKey(kid: string): Promise<EabKey | null> { return this.acme.getEabKey(kid); }
  async listEabKeys(): Promise<EabKey[]> { return this.acme.listEabKeys(); }
  async bindEabKey(kid: string, accountId: string): Promise<boolean> { return this.acme.bindEabKey(kid, accountId); }
  async revokeEabKey(kid: string, at: Date): Promise<boolean> { return this.acme.revokeEabKey(kid, at); }
  async countRateEvents(bucket: string, since: Date): Promise<number> { return this.acme.countRateEvents(bucket, since); }
  async addRateEvents(buckets: string[], at: Date): Promise<void> { return this.acme.addRateEvents(buckets, at); }
  async pruneRateEvents(before: Date): Promise<number> { return this.acme.pruneRateEvents(before); }

  // ---- meta
  async getMeta(key: string): Promise<string | null> {
    const r = this.prep('SELECT value FROM meta WHERE key = ?').get(key) as Row | undefined;
    return r ? String(r.value) : null;
  }

  async setMeta(key: string, value: string): Promise<void> {
    // Through the group commit: the health check's audit probe writes here every few seconds, and an fsync of its own
    // would run on the thread that answers OCSP.
    await this.group.run(() => this.prep('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value));
  }
}
