/**
 * PostgreSQL implementation of Store on postgres.js, for several nodes
 * sharing one database. Same tables and semantics as the SQLite reference
 * (../sqlite/sqlite-store.ts); where several writers on several nodes could
 * interleave, PostgreSQL locks keep SQLite's one-writer-at-a-time results:
 *
 * - audit: pg_advisory_xact_lock(AUDIT_LOCK_KEY) before reading the chain
 *   head, so `build` always sees the real previous entry;
 * - idempotency: a transaction-level advisory lock on (requester, key) before
 *   looking the claim up, so two concurrent requests with one key give one
 *   certificate and one replay, not a unique violation;
 * - revocation events: an advisory lock just before the insert, so seq order
 *   is commit order and a reader paging with revocationsSince never skips a
 *   seq that commits later;
 * - CRL numbers: one INSERT ... ON CONFLICT DO UPDATE ... RETURNING;
 * - leases: the lease row is locked FOR UPDATE, expiry is judged on the
 *   database's clock; fenced writes lock it FOR SHARE in their own
 *   transaction, so no takeover can commit in the middle of one.
 *
 * Every Store method runs through PgPool.run, which retries transient
 * errors across a failover (see pg-pool.ts); the health probes (ping,
 * isInRecovery, serverInfo) make one bounded attempt instead. Transactions
 * go through pg-pool's transaction(), which keeps a connection lost in the
 * middle of one from crashing the process. A write whose COMMIT was cut off
 * may have committed, so each write makes a repeat harmless when `retried`;
 * the reasoning is next to each one.
 */
import type { ISql, Sql, TransactionSql } from 'postgres';
import type {
  Fence, LeaseState, NodeInfo,
  ApiTokenRecord, OperatorRecord, AuditEntry, CertificateFilter, CertificateRecord, CrlRecord, IssuerRecord, Page, RevokedEntry, TokenRole,
} from '../../core/types.js';
import { RampartError } from '../../core/errors.js';
import { clampAuditLimit, type AuditBuilder, type BulkCertificate, type CrlRetention, type ExportTextRequest, type IdempotencyClaim, type InsertResult, type Store, type TidyCursor } from '../store.js';
import { applyMigrations, checkSchemaVersion } from './migrations.js';
import { checkRegionFence } from '../region-sql.js';
import { PostgresAcmeStore } from './postgres-acme-store.js';
import { PostgresOperators } from './postgres-operators.js';
import { PostgresCrls } from './postgres-crls.js';
import { PostgresSsh } from './postgres-ssh.js';
import { PostgresCampaigns } from './postgres-campaigns.js';
import { PgPool, isConnectionLoss, isTransient, transaction, type PgPoolOptions } from './pg-pool.js';
import { PgGroupCommit, type Outcome } from './pg-group-commit.js';
import { insertBatch, insertUnit, type BatchContext, type InsertArgs } from './pg-insert-batch.js';
import { postgresCrlCounters, snapshotPostgres } from './postgres-snapshot.js';
import { postgresBulkInsert } from './postgres-bulk.js';
import { postgresIntegrity } from './postgres-integrity.js';
import type { DatabaseIntegrityOptions, IntegrityFinding } from '../database-integrity.js';
import type { DatabaseSnapshot, SnapshotProgress } from '../store.js';
import { EXPORT_BATCH, TOTAL_COUNT_CAP, cappedTotal, checkFilter, decodeCursor, pageOf } from '../inventory-query.js';
import { pgInventoryWhere, pgPageSql } from './pg-inventory.js';
import { exportHeader, formatRows } from '../inventory-format.js';

export type { TargetSessionAttrs, RetryEvent } from './pg-pool.js';
export type PostgresStoreOptions = PgPoolOptions;

import { d, dn, n, toAudit, toCert, toIssuer, toToken, u8, type Row } from '../row-mapping.js';
import { chunksOfEntries, type RevokedChunk } from '../revoked-chunks.js';
type Q = ISql;


const CHUNK = 2000;
/**
 * Selected beside a lease row lock (FOR SHARE in a fenced write, FOR UPDATE
 * in an acquisition): the server ends this transaction (and its session)
 * once its client has sent nothing for 2 s inside it. Without it, a node cut
 * off from the database in the middle of such a transaction (the fault lab's
 * partition, test/fault-lab-active-passive.test.ts) leaves a backend idle in
 * transaction holding the lock until TCP keepalive gives up (hours), and no
 * other node can take the lease. set_config(..., true) is SET LOCAL.
 */
const LEASE_ROW_IDLE_LIMIT = "set_config('idle_in_transaction_session_timeout', '2000', true)";

/** The database's clock, epoch milliseconds. Leases, fences and heartbeats use it, never the node's. */
const DB_NOW = '(extract(epoch from clock_timestamp())*1000)::bigint';
/** Advisory lock keys (one-bigint form; "rampaudt", "ramprevk" in ASCII). */
export const AUDIT_LOCK_KEY = '8241989122503566452'; // 0x72616d7061756474
const REVOCATION_EVENTS_LOCK_KEY = '8241989122787735147'; // 0x72616d707265766b
/** Two-int advisory lock class for idempotency claims ("ramp"); the second int is hashtext(requester, key). */
const IDEMPOTENCY_LOCK_CLASS = 0x72616d70;

const buf = (v: Uint8Array): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength);

function toLease(name: string, r: Row): LeaseState {
  return {
    name, holder: r.holder === null ? null : String(r.holder), epoch: BigInt(String(r.epoch)),
    expiresAt: dn(r.expires_at), now: d(r.now),
  };
}

export interface PgServerInfo {
  /** The configured 'host:port' the pool is connected to (server address when it is not one of them). */
  host: string;
  port: number;
  inRecovery: boolean;
  /** Timeline of the latest checkpoint (pg_control_checkpoint): after a promotion it moves on at the first checkpoint after it. */
  timelineId: number;
  /** Timeline of the WAL the server is writing now (a primary's current timeline, at once after a promotion); null on a standby. */
  walTimelineId: number | null;
  /** transaction_read_only of the session. */
  readOnly: boolean;
  serverVersion: string;
}


export class PostgresStore extends PostgresAcmeStore implements Store {
  readonly kind = 'postgres';
  readonly pool: PgPool;
  private readonly checkTimeoutMs: number;
  private readonly crls: PostgresCrls;
  /** SSH CAs, certificates and KRLs (postgres-ssh.ts). */
  readonly ssh: PostgresSsh;
  /** Re-issuance campaigns (postgres-campaigns.ts). */
  readonly campaigns: PostgresCampaigns;

  constructor(readonly options: PostgresStoreOptions) {
    super();
    this.pool = new PgPool(options);
    this.crls = new PostgresCrls(this.pool, (tx, f) => this.checkFence(tx, f));
    this.ssh = new PostgresSsh({ pool: this.pool, checkFence: (tx, f) => this.checkFence(tx, f), appendAuditInTx: (tx, b, at) => this.appendAuditInTx(tx, b, at) });
    this.campaigns = new PostgresCampaigns(this.pool);
    this.checkTimeoutMs = Math.max(2000, (options.connectTimeoutSeconds ?? 5) * 1000);
  }
  /** Backups: pg_dump of one exported snapshot, with the counts read in that snapshot. */
  backupSnapshot(tmpFile: string, onProgress?: SnapshotProgress): Promise<DatabaseSnapshot> {
    const o = this.options;
    return snapshotPostgres(this.pool, {
      hosts: o.hosts, database: o.database, user: o.user, ...(o.targetSessionAttrs ? { targetSessionAttrs: o.targetSessionAttrs } : {}), ...(o.password ? { password: o.password } : {}),
    }, tmpFile, onProgress);
  }

  crlCounters(): Promise<Record<string, bigint>> {
    return postgresCrlCounters(this.pool);
  }

  /** Checksum failures, a sequential read of every table and amcheck (postgres-integrity.ts). */
  databaseIntegrity(o: DatabaseIntegrityOptions): Promise<IntegrityFinding[]> {
    return postgresIntegrity(this.pool, o);
  }


  /** Applies missing migrations; on a hot standby (a replica region) only checks that the schema is this build's. */
  async migrate(): Promise<void> {
    await this.pool.run('migrate', async (sql) => {
      const [r] = await sql`SELECT pg_is_in_recovery() AS rec`;
      if (r!.rec === true) await checkSchemaVersion(sql);
      else await applyMigrations(sql);
    });
  }

  async ping(): Promise<void> {
    await this.pool.once('ping', (sql) => sql`SELECT 1`, this.checkTimeoutMs);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  /** Whether the server this pool talks to is a standby (pg_is_in_recovery). */
  async isInRecovery(): Promise<boolean> {
    const [r] = await this.pool.once('isInRecovery', (sql) => sql`SELECT pg_is_in_recovery() AS r`, this.checkTimeoutMs);
    return r!.r === true;
  }

  /** Which server we are connected to and its role, for health and DR. */
  async serverInfo(): Promise<PgServerInfo> {
    const [r] = await this.pool.once('serverInfo', (sql) => sql`
      SELECT host(inet_server_addr()) AS addr, inet_server_port() AS port, pg_is_in_recovery() AS rec,
        (SELECT timeline_id FROM pg_control_checkpoint()) AS tli,
        CASE WHEN pg_is_in_recovery() THEN NULL
          ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS wal_tli,
        current_setting('transaction_read_only') AS ro, current_setting('server_version') AS ver`, this.checkTimeoutMs);
    const port = n(r!.port);
    const addr = String(r!.addr);
    // Name the server as configured when we can (the server only knows its address).
    const samePort = this.pool.hosts.filter((h) => h.port === port);
    const match = samePort.find((h) => h.host === addr) ?? (samePort.length === 1 ? samePort[0] : undefined);
    const configured = match ? `${match.host.includes(':') ? `[${match.host}]` : match.host}:${port}` : undefined;
    return {
      host: configured ?? `${addr.includes(':') ? `[${addr}]` : addr}:${port}`, port, inRecovery: r!.rec === true,
      timelineId: n(r!.tli), walTimelineId: r!.wal_tli === null ? null : n(r!.wal_tli), readOnly: r!.ro === 'on', serverVersion: String(r!.ver),
    };
  }

  // ---- issuers
  async saveIssuer(r: IssuerRecord): Promise<void> {
    // Idempotent (upsert): a repeat after an unknown commit changes nothing.
    await this.pool.run('saveIssuer', (sql) => transaction(sql, async (tx) => {
      if (r.active && r.kind === 'intermediate') await tx`UPDATE issuers SET active = false WHERE kind = 'intermediate' AND active`;
      await tx`INSERT INTO issuers (id, kind, subject, parent_id, cert_der, key_ref, key_backend, not_before, not_after, active, created_at)
        VALUES (${r.id}, ${r.kind}, ${r.subject}, ${r.parentId}, ${buf(r.certDer)}, ${r.keyRef}, ${r.keyBackend},
          ${r.notBefore.getTime()}, ${r.notAfter.getTime()}, ${r.active}, ${r.createdAt.getTime()})
        ON CONFLICT (id) DO UPDATE SET active = excluded.active`;
    }));
  }

  async listIssuers(): Promise<IssuerRecord[]> {
    const rows = await this.pool.run('listIssuers', (sql) => sql`SELECT * FROM issuers ORDER BY created_at, id COLLATE "C"`);
    return rows.map(toIssuer);
  }

  async getIssuer(id: string): Promise<IssuerRecord | null> {
    const [r] = await this.pool.run('getIssuer', (sql) => sql`SELECT * FROM issuers WHERE id = ${id}`);
    return r ? toIssuer(r) : null;
  }

  async setIssuerKey(id: string, keyRef: string, keyBackend: string): Promise<boolean> {
    // Idempotent: a retry after an unknown commit sets the same values again.
    const rows = await this.pool.run('setIssuerKey', (sql) => sql`UPDATE issuers SET key_ref = ${keyRef}, key_backend = ${keyBackend} WHERE id = ${id} RETURNING id`);
    return rows.length === 1;
  }

  // ---- certificates
  private async findIdem(q: Q, claim: IdempotencyClaim): Promise<CertificateRecord | null> {
    const [r] = await q`SELECT request_hash, serial FROM idempotency WHERE requester = ${claim.requester} AND key = ${claim.key}`;
    if (!r) return null;
    if (r.request_hash !== claim.requestHash) {
      throw new RampartError('idempotencyMismatch', `idempotency key "${claim.key}" was already used with a different request`);
    }
    const [c] = await q`SELECT * FROM certificates WHERE serial = ${String(r.serial)}`;
    return toCert(c!);
  }

  async findIdempotent(claim: IdempotencyClaim): Promise<CertificateRecord | null> {
    return this.pool.run('findIdempotent', (sql) => this.findIdem(sql, claim));
  }

  /** Throws 'fenced' unless the fence still holds; locks the lease row FOR SHARE until the write commits. */
  private async checkFence(tx: TransactionSql, f: Fence | undefined): Promise<void> {
    if (!f) return;
    if (f.region) await checkRegionFence(tx, f.region);
    if (f.lease === '') return;
    // The row lock is held to the commit: if this node's link to the database is cut
    // mid-transaction, the server must drop it soon, or no other node can take the lease.
    const [r] = await tx`SELECT holder, epoch, expires_at, ${tx.unsafe(LEASE_ROW_IDLE_LIMIT)} FROM leases WHERE name = ${f.lease} FOR SHARE`;
    // The time is read after the lock is granted, never before a wait for it.
    const [t] = await tx.unsafe(`SELECT ${DB_NOW} AS now`);
    const ok = r && r.holder === f.holder && BigInt(String(r.epoch)) === f.epoch && r.expires_at !== null && n(r.expires_at) > n(t!.now);
    if (!ok) throw new RampartError('fenced', `lease "${f.lease}" epoch ${f.epoch} is no longer held by ${f.holder}`);
  }

  /** Issuance batches committed set-wise or unit by unit (tests and diagnostics). */
  readonly insertPaths = { setWise: 0, unitByUnit: 0 };

  private readonly batchContext: BatchContext = {
    checkFence: (tx, f) => this.checkFence(tx, f), idempotencyLockClass: IDEMPOTENCY_LOCK_CLASS, auditLockKey: AUDIT_LOCK_KEY,
    findIdempotent: (tx, claim) => this.findIdem(tx, claim), appendAudit: (tx, build) => this.appendAuditInTx(tx, build, null),
  };

  async insertCertificate(rec: CertificateRecord, claim?: IdempotencyClaim, fence?: Fence, audit?: AuditBuilder): Promise<InsertResult> {
    return this.inserts.submit({ rec, claim, fence, audit });
  }

  /**
   * Issuances committed together (pg-group-commit.ts): one transaction, each
   * in its own savepoint, so a unit refused (fence, idempotency, constraint)
   * is rolled back and rejected alone; a transient error or a lost connection
   * retries the whole batch (each unit then recognizes its own earlier commit).
   */
  private readonly inserts = new PgGroupCommit<InsertArgs, InsertResult>((items) =>
    this.pool.run('insertCertificate', (sql, a) => transaction(sql, async (tx): Promise<Array<Outcome<InsertResult>>> => {
      // Set-wise first (pg-insert-batch.ts); a retry after a lost connection, or a batch it declines, goes unit by unit.
      if (!a.retried && items.length > 1) {
        const batch = await tx.savepoint((sp) => insertBatch(sp, items, this.batchContext)).catch((e: unknown) => {
          if (isTransient(e) || isConnectionLoss(e)) throw e;
          return null;
        });
        if (batch) {
          this.insertPaths.setWise++;
          return batch as Array<Outcome<InsertResult>>;
        }
      }
      this.insertPaths.unitByUnit++;
      const out: Array<Outcome<InsertResult>> = [];
      for (const it of items) {
        try {
          out.push({ ok: true, value: await tx.savepoint((sp) => insertUnit(sp, it, a.retried, this.batchContext)) as InsertResult });
        } catch (e) {
          if (isTransient(e) || isConnectionLoss(e)) throw e;
          out.push({ ok: false, error: e });
        }
      }
      return out;
    })));

  async getCertificate(serial: string): Promise<CertificateRecord | null> {
    const [r] = await this.pool.run('getCertificate', (sql) => sql`SELECT * FROM certificates WHERE serial = ${serial}`);
    return r ? toCert(r) : null;
  }

  /** Inventory pages; the total is counted for the first page only and carried in the cursor. */
  async listCertificates(filter: CertificateFilter, page: { limit: number; cursor?: string; countCap?: number }, now: Date): Promise<Page<CertificateRecord>> {
    const c = decodeCursor(page.cursor);
    const cap = Math.trunc(page.countCap ?? TOTAL_COUNT_CAP);
    const { where, args } = pgInventoryWhere(filter, now);
    const pageSql = pgPageSql(where, args.length, '*');
    const { total, rows } = await this.pool.run('listCertificates', async (sql) => {
      const matches = `SELECT 1 FROM certificates${where.length ? ` WHERE ${where.join(' AND ')}` : ''} LIMIT ${cap + 1}`;
      const counted = c.total ?? cappedTotal(n((await sql.unsafe(`SELECT count(*) AS n FROM (${matches}) m`, args))[0]!.n), cap);
      const rows = await sql.unsafe(pageSql, [...args, c.afterSeq, page.limit + 1]);
      return { total: counted, rows: [...rows] as Row[] };
    });
    return pageOf(rows, page.limit, total, (r) => n(r.seq), toCert);
  }

  /**
   * Keyset batches, one short query each (like iterateRevoked), rather than
   * one server-side cursor: nothing pins a connection or a snapshot while a
   * slow client reads, and each batch is retried alone across a failover.
   */
  async *exportCertificates(filter: CertificateFilter, now: Date, opts: { withDer?: boolean; batch?: number } = {}): AsyncIterable<CertificateRecord[]> {
    for await (const rows of this.exportRows(filter, now, opts.withDer ?? false, opts.batch ?? EXPORT_BATCH)) yield rows.map(toCert);
  }

  /** Formatted on this thread (postgres.js parses rows here anyway), in batches of 500 rows: each slice of work stays short. */
  async *exportText(filter: CertificateFilter, now: Date, opts: ExportTextRequest): AsyncIterable<{ text: string; rows: number }> {
    const fmt = { ...opts, nowMs: now.getTime() };
    checkFilter(filter);
    yield { text: exportHeader(fmt), rows: 0 };
    for await (const rows of this.exportRows(filter, now, opts.pem, opts.batch ?? 500)) yield { text: formatRows(rows, fmt), rows: rows.length };
  }

  /**
   * Keyset batches, one short query each (like iterateRevoked), rather than
   * one server-side cursor: nothing pins a connection or a snapshot while a
   * slow client reads, and each batch is retried alone across a failover.
   */
  private async *exportRows(filter: CertificateFilter, now: Date, withDer: boolean, batch: number): AsyncIterable<Row[]> {
    const { where, args } = pgInventoryWhere(filter, now);
    const cols = withDer ? '*' : 'seq, serial, issuer_id, profile, subject, sans, not_before, not_after, status, revoked_at, revocation_reason, created_at, requester';
    const q = pgPageSql(where, args.length, cols);
    for (let after = 0; ;) {
      const rows = [...await this.pool.run('exportCertificates', (sql) => sql.unsafe(q, [...args, after, batch]))] as Row[];
      if (rows.length) yield rows;
      if (rows.length < batch) return;
      after = n(rows[rows.length - 1]!.seq);
    }
  }

  async revokeCertificate(serial: string, reason: number, at: Date, crlEntry?: (issuerId: string) => Uint8Array, fence?: Fence, audit?: AuditBuilder): Promise<CertificateRecord> {
    return this.pool.run('revokeCertificate', (sql, a) => transaction(sql, async (tx): Promise<CertificateRecord> => {
      if (a.retried) {
        // An earlier attempt may have committed (row, revocation event and
        // audit entry go in one transaction). Finding the certificate revoked with our very
        // reason and time means the revocation we asked for is recorded:
        // answer as the first attempt would have, not 'alreadyRevoked'.
        const [mine] = await tx`SELECT * FROM certificates WHERE serial = ${serial}`;
        if (mine && mine.status === 'revoked' && n(mine.revoked_at) === at.getTime() && n(mine.revocation_reason) === reason) return toCert(mine);
      }
      await this.checkFence(tx, fence);
      const [r] = await tx`SELECT * FROM certificates WHERE serial = ${serial} FOR UPDATE`;
      if (!r) throw new RampartError('notFound', `no certificate with serial ${serial}`);
      if (r.status === 'revoked') throw new RampartError('alreadyRevoked', `certificate ${serial} is already revoked`);
      const entry = crlEntry ? Buffer.from(crlEntry(String(r.issuer_id))) : null;
      await tx`UPDATE certificates SET status = 'revoked', revoked_at = ${at.getTime()}, revocation_reason = ${reason}, crl_entry = ${entry} WHERE serial = ${serial}`;
      if (audit) await this.appendAuditInTx(tx, audit, null);
      // Taken last and held to commit: event seqs become visible in seq order.
      await tx`SELECT pg_advisory_xact_lock(${REVOCATION_EVENTS_LOCK_KEY}::bigint)`;
      await tx`INSERT INTO revocation_events (serial, issuer_id, at) VALUES (${serial}, ${String(r.issuer_id)}, ${at.getTime()})`;
      return { ...toCert(r), status: 'revoked', revokedAt: new Date(at.getTime()), revocationReason: reason };
    }));
  }

  bulkInsertCertificates(rows: BulkCertificate[]): Promise<void> {
    return postgresBulkInsert(this.pool, rows, REVOCATION_EVENTS_LOCK_KEY);
  }

  /** Nothing to relax: every bulk transaction commits durably. */
  async bulkLoadMode(): Promise<void> { /* see BulkLoadCapable */ }

  async expiredCertificates(before: Date, limit: number, cursor?: TidyCursor): Promise<BulkCertificate[]> {
    const rows = await this.pool.run('expiredCertificates', (sql) => sql`SELECT * FROM certificates
      WHERE not_after < ${before.getTime()} AND (not_after, serial) > (${cursor?.notAfter.getTime() ?? -1}, ${cursor?.serial ?? ''})
      ORDER BY not_after, serial LIMIT ${limit}`);
    return rows.map((r) => ({ ...toCert(r), crlEntry: r.crl_entry ? u8(r.crl_entry) : null }));
  }

  /** A retry after a cut-off commit finds the rows gone and the entry at the head (appendAuditInTx recognizes it). */
  /** Nothing to merge: autovacuum cleans the trigram GIN index of removed rows. */
  async compactSearchIndex(): Promise<number> { return 0; }

  async removeCertificates(serials: string[], audit: AuditBuilder, fence?: Fence): Promise<number> {
    let attempted: AuditEntry | null = null;
    let removed = 0;
    await this.pool.run('removeCertificates', (sql, a) => transaction(sql, async (tx) => {
      await this.checkFence(tx, fence);
      await tx`DELETE FROM idempotency WHERE serial = ANY(${serials})`;
      await tx`DELETE FROM revocation_events WHERE serial = ANY(${serials})`;
      const r = await tx`DELETE FROM certificates WHERE serial = ANY(${serials})`;
      if (!a.retried || r.count > 0) removed = r.count;
      attempted = await this.appendAuditInTx(tx, audit, a.retried ? attempted : null);
    }));
    return removed;
  }

  async revocationsSince(seq: number, limit: number): Promise<Array<{ seq: number; serial: string; issuerId: string }>> {
    const rows = await this.pool.run('revocationsSince', (sql) =>
      sql`SELECT seq, serial, issuer_id FROM revocation_events WHERE seq > ${seq} ORDER BY seq LIMIT ${limit}`);
    return rows.map((r) => ({ seq: n(r.seq), serial: String(r.serial), issuerId: String(r.issuer_id) }));
  }

  async lastRevocationSeq(): Promise<number> {
    const [r] = await this.pool.run('lastRevocationSeq', (sql) => sql`SELECT coalesce(max(seq), 0) AS seq FROM revocation_events`);
    return n(r!.seq);
  }

  async countCertificates(): Promise<{ total: number; revoked: number }> {
    const [r] = await this.pool.run('countCertificates', (sql) =>
      sql`SELECT count(*) AS total, count(*) FILTER (WHERE status = 'revoked') AS revoked FROM certificates`);
    return { total: n(r!.total), revoked: n(r!.revoked) };
  }

  // ---- revoked entries and CRLs (postgres-crls.ts)
  iterateRevoked(issuerId: string, now: Date, shard?: number): AsyncIterable<RevokedEntry> { return this.crls.iterateRevoked(issuerId, now, shard); }
  revokedChunks(issuerId: string, now: Date, shard?: number): AsyncIterable<RevokedChunk> { return chunksOfEntries(this.crls.iterateRevoked(issuerId, now, shard)); }
  nextCrlNumber(issuerId: string): Promise<bigint> { return this.crls.nextCrlNumber(issuerId); }
  saveCrl(rec: CrlRecord, fence?: Fence, retention?: CrlRetention): Promise<void> { return this.crls.saveCrl(rec, fence, retention); }
  storedCrls(issuerId: string, shard?: number): Promise<Array<{ number: bigint; size: number }>> { return this.crls.storedCrls(issuerId, shard); }
  latestCrl(issuerId: string, shard?: number): Promise<CrlRecord | null> { return this.crls.latestCrl(issuerId, shard); }
  latestCrlMeta(issuerId: string, shard?: number): Promise<Omit<CrlRecord, 'der'> | null> { return this.crls.latestCrlMeta(issuerId, shard); }
  latestCrlNumber(issuerId: string, shard?: number): Promise<bigint | null> { return this.crls.latestCrlNumber(issuerId, shard); }

  // ---- tokens
  async insertToken(t: ApiTokenRecord): Promise<void> {
    await this.pool.run('insertToken', async (sql, a) => {
      if (a.retried) {
        // The same id with the same hash is our earlier commit.
        const [mine] = await sql`SELECT hash FROM api_tokens WHERE id = ${t.id}`;
        if (mine && mine.hash === t.hash) return;
      }
      await sql`INSERT INTO api_tokens (id, name, role, hash, created_at, expires_at, revoked_at, operator_id)
        VALUES (${t.id}, ${t.name}, ${t.role}, ${t.hash}, ${t.createdAt.getTime()}, ${t.expiresAt?.getTime() ?? null}, ${t.revokedAt?.getTime() ?? null}, ${t.operatorId ?? null})`;
    });
  }

  // ---- operators (postgres-operators.ts)
  private ops?: PostgresOperators;
  private get operators(): PostgresOperators { return (this.ops ??= new PostgresOperators(this.pool)); }
  insertOperator(op: OperatorRecord): Promise<void> { return this.operators.insert(op); }
  getOperator(id: string): Promise<OperatorRecord | null> { return this.operators.get(id); }
  getOperatorByName(name: string): Promise<OperatorRecord | null> { return this.operators.byName(name); }
  listOperators(): Promise<OperatorRecord[]> { return this.operators.list(); }
  disableOperator(id: string, at: Date): Promise<boolean> { return this.operators.disable(id, at); }

  async findTokenByHash(hash: string): Promise<ApiTokenRecord | null> {
    const [r] = await this.pool.run('findTokenByHash', (sql) => sql`SELECT * FROM api_tokens WHERE hash = ${hash}`);
    return r ? toToken(r) : null;
  }

  async listTokens(): Promise<ApiTokenRecord[]> {
    const rows = await this.pool.run('listTokens', (sql) => sql`SELECT * FROM api_tokens ORDER BY created_at, id COLLATE "C"`);
    return rows.map(toToken);
  }

  async revokeToken(id: string, at: Date): Promise<boolean> {
    return this.pool.run('revokeToken', async (sql, a) => {
      const done = await sql`UPDATE api_tokens SET revoked_at = ${at.getTime()} WHERE id = ${id} AND revoked_at IS NULL RETURNING id`;
      if (done.length === 1) return true;
      if (!a.retried) return false;
      // Revoked at exactly our time: our earlier attempt did it.
      const [r] = await sql`SELECT revoked_at FROM api_tokens WHERE id = ${id}`;
      return r !== undefined && r.revoked_at !== null && n(r.revoked_at) === at.getTime();
    });
  }

  // ---- audit
  async appendAudit(build: AuditBuilder): Promise<AuditEntry> {
    let attempted: AuditEntry | null = null;
    return this.pool.run('appendAudit', (sql, a) => transaction(sql, async (tx): Promise<AuditEntry> => {
      const e = await this.appendAuditInTx(tx, build, a.retried ? attempted : null);
      attempted = e;
      return e;
    }));
  }

  /**
   * Appends one audit entry inside `tx`. One chain head for every node:
   * whoever holds the advisory lock reads the head and appends; the lock is
   * released at commit. `attempted`: the entry a cut-off earlier attempt
   * built; if it is the head (same seq and hash, and the hash covers the
   * content and the previous hash), that attempt committed and it is
   * returned instead of appended twice.
   */
  private async appendAuditInTx(tx: TransactionSql, build: AuditBuilder, attempted: AuditEntry | null): Promise<AuditEntry> {
    await tx`SELECT pg_advisory_xact_lock(${AUDIT_LOCK_KEY}::bigint)`;
    const [last] = await tx`SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`;
    if (attempted && last && n(last.seq) === attempted.seq && last.hash === attempted.hash) return attempted;
    const e = build(last ? { seq: n(last.seq), hash: String(last.hash) } : null);
    await tx`INSERT INTO audit_log (seq, time, actor, source, channel, action, target, outcome, details, prev_hash, hash)
      VALUES (${e.seq}, ${e.time.getTime()}, ${e.actor}, ${e.source}, ${e.channel}, ${e.action}, ${e.target}, ${e.outcome},
        ${JSON.stringify(e.details ?? {})}, ${e.prevHash}, ${e.hash})`;
    return e;
  }

  async *iterateAudit(afterSeq = -1): AsyncIterable<AuditEntry> {
    let after = afterSeq;
    for (;;) {
      const rows = await this.pool.run('iterateAudit', (sql) => sql`SELECT * FROM audit_log WHERE seq > ${after} ORDER BY seq LIMIT ${CHUNK}`);
      for (const r of rows) yield toAudit(r);
      if (rows.length < CHUNK) return;
      after = n(rows[rows.length - 1]!.seq);
    }
  }

  async latestAudit(limit: number, beforeSeq?: number): Promise<AuditEntry[]> {
    const lim = clampAuditLimit(limit);
    const rows = await this.pool.run('latestAudit', (sql) => (beforeSeq === undefined
      ? sql`SELECT * FROM audit_log ORDER BY seq DESC LIMIT ${lim}`
      : sql`SELECT * FROM audit_log WHERE seq < ${beforeSeq} ORDER BY seq DESC LIMIT ${lim}`));
    return rows.map(toAudit);
  }

  async lastAudit(): Promise<AuditEntry | null> {
    const [r] = await this.pool.run('lastAudit', (sql) => sql`SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1`);
    return r ? toAudit(r) : null;
  }

  // ---- cluster
  async heartbeat(node: Omit<NodeInfo, 'lastSeen'>): Promise<void> {
    const info = JSON.stringify({ ...node, startedAt: node.startedAt.toISOString() });
    await this.pool.run('heartbeat', (sql) => sql`
      INSERT INTO cluster_nodes (id, info, last_seen) VALUES (${node.id}, ${info}, ${sql.unsafe(DB_NOW)})
      ON CONFLICT (id) DO UPDATE SET info = excluded.info, last_seen = excluded.last_seen`);
  }

  async listNodes(): Promise<NodeInfo[]> {
    const rows = await this.pool.run('listNodes', (sql) => sql`SELECT info, last_seen FROM cluster_nodes ORDER BY id COLLATE "C"`);
    return rows.map((r) => {
      const i = JSON.parse(String(r.info)) as NodeInfo & { startedAt: string };
      return { ...i, startedAt: new Date(i.startedAt), lastSeen: d(r.last_seen) };
    });
  }

  async removeNode(id: string): Promise<void> {
    await this.pool.run('removeNode', (sql) => sql`DELETE FROM cluster_nodes WHERE id = ${id}`);
  }

  async tryAcquireLease(name: string, holder: string, ttlMs: number): Promise<LeaseState> {
    // A retry after an unknown commit is harmless: if the first attempt took
    // the lease (epoch + 1), the retry finds us holding it and only renews.
    return this.pool.run('tryAcquireLease', (sql) => transaction(sql, async (tx): Promise<LeaseState> => {
      await tx`INSERT INTO leases (name, holder, epoch, expires_at) VALUES (${name}, NULL, 0, NULL) ON CONFLICT (name) DO NOTHING`;
      // The row lock makes concurrent acquirers on every node take turns:
      // the first takes the lease, the others then see it live.
      await tx`SELECT 1, ${tx.unsafe(LEASE_ROW_IDLE_LIMIT)} FROM leases WHERE name = ${name} FOR UPDATE`;
      const [t] = await tx.unsafe(`SELECT ${DB_NOW} AS now`);
      const now = n(t!.now);
      // Ours and live: renew (same epoch). Free or expired (ours or not): take over (epoch + 1).
      const [r] = await tx`
        UPDATE leases SET
          epoch = CASE WHEN holder = ${holder} AND expires_at > ${now} THEN epoch ELSE epoch + 1 END,
          holder = ${holder},
          expires_at = ${now + ttlMs}
        WHERE name = ${name} AND (expires_at IS NULL OR expires_at <= ${now} OR holder = ${holder})
        RETURNING holder, epoch, expires_at, ${now}::bigint AS now`;
      if (r) return toLease(name, r);
      const [cur] = await tx`SELECT holder, epoch, expires_at, ${now}::bigint AS now FROM leases WHERE name = ${name}`;
      return toLease(name, cur!);
    }));
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.pool.run('releaseLease', (sql) => sql`UPDATE leases SET expires_at = ${sql.unsafe(DB_NOW)} WHERE name = ${name} AND holder = ${holder}`);
  }

  async getLease(name: string): Promise<LeaseState | null> {
    const [r] = await this.pool.run('getLease', (sql) => sql`SELECT holder, epoch, expires_at, ${sql.unsafe(DB_NOW)} AS now FROM leases WHERE name = ${name}`);
    return r ? toLease(name, r) : null;
  }

  // ---- meta
  async getMeta(key: string): Promise<string | null> {
    const [r] = await this.pool.run('getMeta', (sql) => sql`SELECT value FROM meta WHERE key = ${key}`);
    return r ? String(r.value) : null;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.pool.run('setMeta', (sql) => sql`INSERT INTO meta (key, value) VALUES (${key}, ${value}) ON CONFLICT (key) DO UPDATE SET value = excluded.value`);
  }
}
