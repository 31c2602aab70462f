/**
 * The storage interface every role uses. One SQLite implementation now
 * (embedded default); PostgreSQL implements the same interface later and both
 * pass the same conformance suite. All methods are async so that a network
 * database fits without changing callers. Every write is durable when the
 * returned promise resolves.
 */
import type { CampaignCapable } from './campaign-records.js';
import type {
  Fence, LeaseState, NodeInfo,
  ApiTokenRecord, OperatorRecord, AuditEntry, CertificateFilter, CertificateRecord, CrlRecord, IssuerRecord, Page, RevokedEntry,
} from '../core/types.js';
import type { ExportTextOptions } from './inventory-format.js';
import type { DatabaseIntegrityCapable } from './database-integrity.js';
import type { AcmeAccount, AcmeAuthorization, AcmeIdentifier, AcmeOrder, EabKey } from './acme-records.js';
import type { SshCaRecord, SshCertificateQuery, SshCertificateRecord, SshKrlRecord } from './ssh-records.js';
import type { RevokedChunk } from './revoked-chunks.js';

export type ExportTextRequest = Omit<ExportTextOptions, 'nowMs'> & { batch?: number };

export interface IdempotencyClaim {
  key: string;
  /** Who made the request; keys are scoped per requester. */
  requester: string;
  /** Hash of the request body: the same key with another body is refused. */
  requestHash: string;
}

/** Builds the next audit entry from the chain head, inside the writer's transaction. */
export type AuditBuilder = (prev: { seq: number; hash: string } | null) => AuditEntry;

export interface InsertResult {
  record: CertificateRecord;
  /** The audit entry appended in the same transaction (when a builder was given and this was not a replay). */
  audit?: AuditEntry;
  /** True when an earlier request with the same idempotency key already issued this certificate. */
  replayed: boolean;
}

export interface IssuerStore {
  saveIssuer(rec: IssuerRecord): Promise<void>;
  listIssuers(): Promise<IssuerRecord[]>;
  getIssuer(id: string): Promise<IssuerRecord | null>;
  /**
   * Points an issuer at another key (a key restored from a backup, or moved to
   * another backend). saveIssuer never changes the key of an existing issuer;
   * this is the one way to. Returns false when there is no such issuer.
   */
  setIssuerKey(id: string, keyRef: string, keyBackend: string): Promise<boolean>;
}

export interface CertificateStore {
  /** Finds an earlier issuance for this idempotency key (throws idempotencyMismatch if the body differs). */
  findIdempotent(claim: IdempotencyClaim): Promise<CertificateRecord | null>;
  /**
   * Stores a new certificate; with `audit`, appends that audit entry in the
   * same transaction (one commit, and never a certificate without its entry).
   */
  insertCertificate(rec: CertificateRecord, claim?: IdempotencyClaim, fence?: Fence, audit?: AuditBuilder): Promise<InsertResult>;
  getCertificate(serial: string): Promise<CertificateRecord | null>;
  /**
   * One page of the inventory in issue order. `total` counts the matches as
   * of the first page, up to `countCap` (default TOTAL_COUNT_CAP; above it
   * `totalCapped` is set): it is carried in the opaque cursor, not recounted.
   * Throws RampartError 'malformed' for a filter the indexes cannot answer
   * (a name shorter than 3 characters) or a cursor not made here.
   */
  listCertificates(filter: CertificateFilter, page: { limit: number; cursor?: string; countCap?: number }, now: Date): Promise<Page<CertificateRecord>>;
  /**
   * Every certificate matching `filter`, in batches in issue order, each
   * batch one short query (memory stays flat however many match). Without
   * `withDer` the records' `der` is empty.
   */
  exportCertificates(filter: CertificateFilter, now: Date, opts?: { withDer?: boolean; batch?: number }): AsyncIterable<CertificateRecord[]>;
  /**
   * The same matches as export text (inventory-format.ts): the CSV header
   * first, then one chunk per batch. SQLite formats in its reader thread.
   * Throws 'malformed' for a bad filter before yielding anything.
   */
  exportText(filter: CertificateFilter, now: Date, opts: ExportTextRequest): AsyncIterable<{ text: string; rows: number }>;
  /**
   * Marks a certificate revoked. Throws notFound or alreadyRevoked
   * (RampartError). `crlEntry` is the entry's CRL encoding, built by the
   * caller from the same serial, time and reason, kept for CRL generation.
   * With `audit`, that audit entry is appended in the same transaction: a
   * revocation whose answer was lost is recorded and audited, or neither.
   */
  revokeCertificate(serial: string, reason: number, at: Date, crlEntry?: (issuerId: string) => Uint8Array, fence?: Fence, audit?: AuditBuilder): Promise<CertificateRecord>;
  /**
   * Revocations recorded after `seq`, in order: how a node learns of
   * revocations made by another process (CLI, another node) and drops its
   * cached OCSP answers.
   */
  revocationsSince(seq: number, limit: number): Promise<Array<{ seq: number; serial: string; issuerId: string }>>;
  /**
   * The seq of the newest revocation event (0 when there is none): where a
   * node starting up begins following, without reading the events before it
   * (1M of them at 10M certificates).
   */
  lastRevocationSeq(): Promise<number>;
  /**
   * Streams the revoked, unexpired certificates of one issuer in serial order
   * (short keyset-paginated queries; nothing stays open across a yield); with
   * `shard`, only those of that CRL shard (CertificateRecord.crlShard).
   */
  iterateRevoked(issuerId: string, now: Date, shard?: number): AsyncIterable<RevokedEntry>;
  /**
   * The same entries in the same order, as chunks of joined DER entries
   * (revoked-chunks.ts): what a CRL build reads. Entries stored without DER
   * come beside their chunk's buffer, for the caller to encode.
   */
  revokedChunks(issuerId: string, now: Date, shard?: number): AsyncIterable<RevokedChunk>;
  countCertificates(): Promise<{ total: number; revoked: number }>;
}

export interface CrlStore {
  /** Atomically allocates the next CRL number for an issuer (strictly increasing, never reused). */
  nextCrlNumber(issuerId: string): Promise<bigint>;
  /**
   * Saves a CRL; with a fence, only while the fence holds (leader-only write).
   * In the same transaction, prunes the older CRLs of the same scope (issuer
   * and shard) past `retention` (default: the newest 10, any size).
   */
  saveCrl(rec: CrlRecord, fence?: Fence, retention?: CrlRetention): Promise<void>;
  /** The newest CRL of an issuer's scope: the complete CRL (no `shard`), or the CRL of one shard. */
  latestCrl(issuerId: string, shard?: number): Promise<CrlRecord | null>;
  /** The number of that CRL alone (an index read, not the CRL's bytes): whether a cached copy is still the latest. */
  latestCrlNumber(issuerId: string, shard?: number): Promise<bigint | null>;
  /** That CRL without its bytes (number, times, entries): whether it is due, read at start for every scope. */
  latestCrlMeta(issuerId: string, shard?: number): Promise<Omit<CrlRecord, 'der'> | null>;
  /** The CRLs a scope keeps (numbers and DER sizes), newest first: what retention left. */
  storedCrls(issuerId: string, shard?: number): Promise<Array<{ number: bigint; size: number }>>;
}

/**
 * How many stored CRLs a scope (issuer, shard) keeps: at most `count`, and
 * older ones only while the scope's total stays within `bytes`. The newest
 * is always kept (it is what every node serves).
 */
export interface CrlRetention {
  count: number;
  bytes: number;
}

export const DEFAULT_CRL_RETENTION: CrlRetention = { count: 10, bytes: Number.MAX_SAFE_INTEGER };

/** The stored CRLs to delete: given a scope's CRLs newest first, the numbers past the retention. */
export function crlsPastRetention(rows: Array<{ number: bigint; size: number }>, keep: CrlRetention): bigint[] {
  const out: bigint[] = [];
  let total = 0;
  rows.forEach((r, i) => {
    total += r.size;
    if (i > 0 && (i >= keep.count || total > keep.bytes)) out.push(r.number);
  });
  return out;
}

export interface TokenStore {
  insertToken(rec: ApiTokenRecord): Promise<void>;
  findTokenByHash(hash: string): Promise<ApiTokenRecord | null>;
  listTokens(): Promise<ApiTokenRecord[]>;
  revokeToken(id: string, at: Date): Promise<boolean>;
}

export interface OperatorStore {
  /** Throws RampartError 'conflict' when the name is taken. */
  insertOperator(op: OperatorRecord): Promise<void>;
  getOperator(id: string): Promise<OperatorRecord | null>;
  getOperatorByName(name: string): Promise<OperatorRecord | null>;
  listOperators(): Promise<OperatorRecord[]>;
  /** Deprovisioning: disables the operator and revokes every token of it in one transaction; false when it was not enabled. */
  disableOperator(id: string, at: Date): Promise<boolean>;
}

/** The page size latestAudit() accepts: 1..1000, whole numbers. */
export function clampAuditLimit(limit: number): number {
  return Math.min(1000, Math.max(1, Math.floor(Number.isFinite(limit) ? limit : 1)));
}

export interface AuditStore {
  /**
   * Appends one entry. `build` receives the previous entry's seq and hash and
   * returns the complete new entry; it runs inside the same transaction so the
   * chain stays linear with concurrent writers.
   */
  appendAudit(build: (prev: { seq: number; hash: string } | null) => AuditEntry): Promise<AuditEntry>;
  /** Entries with seq > afterSeq (default: all), in seq order, read in pages. */
  iterateAudit(afterSeq?: number): AsyncIterable<AuditEntry>;
  /** The newest entries (seq < beforeSeq when given), newest first; limit 1..1000. */
  latestAudit(limit: number, beforeSeq?: number): Promise<AuditEntry[]>;
  lastAudit(): Promise<AuditEntry | null>;
}

export interface ClusterStore {
  /** Upserts this node's registration; lastSeen is set to the database's time. */
  heartbeat(node: Omit<NodeInfo, 'lastSeen'>): Promise<void>;
  listNodes(): Promise<NodeInfo[]>;
  removeNode(id: string): Promise<void>;
  /**
   * Acquires the lease when it is free or expired (epoch + 1), or renews it
   * when `holder` already holds it (same epoch). Expiry is judged on the
   * database's clock. Returns the state after the attempt.
   */
  tryAcquireLease(name: string, holder: string, ttlMs: number): Promise<LeaseState>;
  /** Gives the lease up if `holder` holds it (expires it now; the epoch stays). */
  releaseLease(name: string, holder: string): Promise<void>;
  getLease(name: string): Promise<LeaseState | null>;
}

/**
 * ACME state (RFC 8555). Updates are compare-and-set on `version`: they
 * return false (and change nothing) when the stored version differs, and on
 * success the stored version is `expectedVersion + 1`.
 */
export interface AcmeStore {
  /** Throws RampartError 'conflict' when an account with the same key thumbprint exists. */
  insertAcmeAccount(a: AcmeAccount): Promise<void>;
  getAcmeAccount(id: string): Promise<AcmeAccount | null>;
  findAcmeAccountByThumbprint(thumbprint: string): Promise<AcmeAccount | null>;
  /** Status, contact, key (keyChange). Throws 'conflict' when the new thumbprint belongs to another account. */
  updateAcmeAccount(a: AcmeAccount, expectedVersion: number): Promise<boolean>;
  /** Inserts an order with its new authorizations in one transaction (reused authorizations are already stored). */
  insertAcmeOrder(o: AcmeOrder, newAuthorizations: AcmeAuthorization[]): Promise<void>;
  getAcmeOrder(id: string): Promise<AcmeOrder | null>;
  /** An order of this account, not invalid, that names `certId` in replaces (ARI, RFC 9773 §5). */
  findAcmeOrderReplacing(accountId: string, certId: string): Promise<AcmeOrder | null>;
  /** The account's orders, newest first; cursor is opaque. */
  listAcmeOrders(accountId: string, page: { limit: number; cursor?: string }): Promise<{ items: AcmeOrder[]; nextCursor: string | null }>;
  /**
   * With `durable: false` the write need not be flushed before the promise
   * resolves (safe against a process crash, not a power loss); it becomes
   * durable with the next durable write. For derived or re-doable state only.
   */
  updateAcmeOrder(o: AcmeOrder, expectedVersion: number, opts?: { durable?: boolean }): Promise<boolean>;
  getAcmeAuthorization(id: string): Promise<AcmeAuthorization | null>;
  /** In the order of `ids`; missing ids are left out. */
  getAcmeAuthorizations(ids: string[]): Promise<AcmeAuthorization[]>;
  /** `durable: false` as for updateAcmeOrder. */
  updateAcmeAuthorization(a: AcmeAuthorization, expectedVersion: number, opts?: { durable?: boolean }): Promise<boolean>;
  /** A valid, unexpired authorization of this account for this identifier (authorization reuse), newest first. */
  findValidAcmeAuthorization(accountId: string, identifier: AcmeIdentifier, wildcard: boolean, validAfter: Date): Promise<AcmeAuthorization | null>;
  /** Authorizations whose validation started before `before` and never finished (a node died mid-validation). */
  staleAcmeAuthorizations(before: Date, limit: number): Promise<AcmeAuthorization[]>;
  /** Orders in 'processing' claimed before `before` (a node died mid-finalize). */
  staleAcmeOrders(before: Date, limit: number): Promise<AcmeOrder[]>;
  /** Records a nonce as used; true the first time, false on every later call (replay). */
  consumeAcmeNonce(nonce: string, expiresAt: Date): Promise<boolean>;
  /** Deletes used-nonce records that expired before `now`; returns how many. */
  pruneAcmeNonces(now: Date): Promise<number>;
  /** Throws 'conflict' when the kid exists. */
  insertEabKey(k: EabKey): Promise<void>;
  getEabKey(kid: string): Promise<EabKey | null>;
  listEabKeys(): Promise<EabKey[]>;
  /** Binds an unbound, unrevoked key to an account; false when already bound or revoked. */
  bindEabKey(kid: string, accountId: string): Promise<boolean>;
  revokeEabKey(kid: string, at: Date): Promise<boolean>;
  /** Counts rate-limit events in a bucket since `since` (cluster-wide). */
  countRateEvents(bucket: string, since: Date): Promise<number>;
  /** Records one event in each bucket at `at`. */
  addRateEvents(buckets: string[], at: Date): Promise<void>;
  /** Deletes rate-limit events older than `before`. */
  pruneRateEvents(before: Date): Promise<number>;
}

export interface SshStore {
  /** Throws RampartError 'conflict' when the name is taken. */
  insertSshCa(ca: SshCaRecord, audit: AuditBuilder): Promise<void>;
  listSshCas(): Promise<SshCaRecord[]>;
  getSshCa(name: string): Promise<SshCaRecord | null>;
  /** Points a CA at another key (restored from a backup); false when there is no such CA. */
  setSshCaKey(name: string, keyRef: string, keyBackend: string): Promise<boolean>;
  /** Stores a certificate and its audit entry in one transaction (durable when it resolves). */
  insertSshCertificate(rec: SshCertificateRecord, audit: AuditBuilder, fence?: Fence): Promise<AuditEntry>;
  getSshCertificate(serial: string): Promise<SshCertificateRecord | null>;
  /** Newest first. */
  listSshCertificates(q: SshCertificateQuery, now: Date): Promise<{ items: SshCertificateRecord[]; nextCursor: string | null }>;
  /**
   * Marks a certificate revoked, counts the revocation on its CA and appends
   * the audit entry, in one transaction. Throws notFound or alreadyRevoked.
   */
  revokeSshCertificate(serial: string, at: Date, audit: AuditBuilder, fence?: Fence): Promise<SshCertificateRecord>;
  /** The CA's revocation count and the serials of its revoked, unexpired certificates. */
  sshRevocations(caName: string, now: Date): Promise<{ version: number; serials: string[] }>;
  /** Saves a KRL unless a KRL with the same or a higher version is stored. */
  saveSshKrl(krl: SshKrlRecord): Promise<void>;
  latestSshKrl(caName: string): Promise<SshKrlRecord | null>;
}

/** Capability of every Store: its SSH part. */
export interface SshCapable {
  readonly ssh: SshStore;
}

export interface MetaStore {
  getMeta(key: string): Promise<string | null>;
  setMeta(key: string, value: string): Promise<void>;
}

export interface Store extends CampaignCapable, SshCapable, SnapshotCapable, DatabaseIntegrityCapable, BulkLoadCapable, TidyCapable, AcmeStore, IssuerStore, CertificateStore, CrlStore, TokenStore, OperatorStore, AuditStore, MetaStore, ClusterStore {
  readonly kind: string;
  migrate(): Promise<void>;
  /** Cheap round trip for health checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
  /** A serving node asks the store to keep housekeeping (SQLite's WAL checkpoints) off its main thread; absent where there is none. */
  offloadCheckpoints?(): void;
}

export interface SnapshotFacts {
  position: { auditSeq: number; auditHead: string; certificates: number; walLsn?: string };
  counts: { certificates: number; revoked: number; auditEntries: number; issuers: number };
  crlNumbers: Record<string, string>;
}

/** Capability of every Store: the database part of a backup, and the CRL counters restore checks. */
export interface SnapshotCapable {
  /**
   * A consistent copy of the whole database written to `tmpFile` (never held in memory; SQLite copies in a
   * worker thread), with the facts the manifest records. `onProgress` gets the bytes written so far.
   */
  backupSnapshot(tmpFile: string, onProgress?: SnapshotProgress): Promise<DatabaseSnapshot>;
  /** Last CRL number allocated per issuer (the counters, not the saved CRLs). */
  crlCounters(): Promise<Record<string, bigint>>;
}

/** Bytes of the snapshot written so far, and the expected total when known. */
export type SnapshotProgress = (bytes: number, total: number | undefined) => void;

export interface DatabaseSnapshot {
  partName: 'database.sqlite' | 'database.pgdump';
  /** The snapshot file (the `tmpFile` given); the caller removes it. */
  file: string;
  facts: SnapshotFacts;
}

/** A certificate loaded in bulk: revoked ones carry the CRL entry revokeCertificate would have stored. */
export interface BulkCertificate extends CertificateRecord {
  crlEntry: Uint8Array | null;
}

/**
 * Capability of every Store: loading many certificates at once (the
 * synthetic inventory for capacity tests). Rows go in as insertCertificate
 * and revokeCertificate would leave them (revoked rows with their CRL entry
 * and a revocation event), without idempotency claims or audit entries: the
 * caller audits the load once.
 */
export interface BulkLoadCapable {
  /** Inserts the rows in one transaction; a serial already stored fails the whole call (RampartError 'conflict'). */
  bulkInsertCertificates(rows: BulkCertificate[]): Promise<void>;
  /**
   * Bulk-load mode on or off. SQLite: on relaxes synchronous from FULL to
   * NORMAL (WAL: a power loss during the load can lose its last batches,
   * never older data, and never corrupts the file); off restores FULL and
   * checkpoints the WAL into the database file (fsynced). PostgreSQL:
   * nothing (each transaction stays durable).
   */
  bulkLoadMode(on: boolean): Promise<void>;
}

/** Where a tidy scan continues: after this (notAfter, serial). */
export interface TidyCursor { notAfter: Date; serial: string }

/**
 * Capability of every Store: tidy (bounded growth). Certificates expired
 * before a time are read in (notAfter, serial) order and removed in short
 * transactions, each with its audit entry.
 */
export interface TidyCapable {
  /** Up to `limit` certificates with notAfter < `before`, after `cursor`, in (notAfter, serial) order; revoked ones with their CRL entry. */
  expiredCertificates(before: Date, limit: number, cursor?: TidyCursor): Promise<BulkCertificate[]>;
  /**
   * Removes these certificates (with their idempotency claims and revocation
   * events) and appends the audit entry built by `audit`, in one
   * transaction; with a fence, only while it holds. Returns how many were removed.
   */
  removeCertificates(serials: string[], audit: AuditBuilder, fence?: Fence): Promise<number>;
  /**
   * After removals: reclaims what they left in the name-search index, in
   * short transactions (SQLite: FTS5 keeps a removed row's entries, and a
   * delete marker, until its segments are merged; every name search walked
   * past them). Returns the steps taken; PostgreSQL has nothing to do here
   * (autovacuum cleans the trigram index).
   */
  compactSearchIndex(): Promise<number>;
}
