/**
 * How the issuances of one group commit (pg-group-commit.ts) are written:
 * set-wise (insertBatch), or unit by unit (insertUnit) with the same rows.
 *
 * Set-wise: a handful of
 * set-wise statements instead of ~11 round trips per issuance: each distinct
 * fence checked once (its lease row locked FOR SHARE to the commit), every
 * idempotency key locked (in hash order) and looked up in one query, the
 * certificates and the idempotency claims inserted as one multi-row INSERT
 * each, and the audit entries chained here from one read of the chain head
 * under the chain lock and inserted at once. Inside one transaction the
 * statements of a batch run one after another, so with 32 issuances a batch
 * made ~350 round trips and the commit stage took ~70 ms while the node sat
 * mostly idle (bench/results/issuance-rest-pg-sync-1node-c32.json, before).
 *
 * Same outcomes as the unit-by-unit path: a unit whose fence no longer holds
 * or whose key was used with another request fails alone, a key seen before
 * is a replay. The caller runs this in a savepoint and falls back to the
 * unit-by-unit path when it returns null (a key twice in one batch) or the
 * database refuses a statement (a constraint): then each unit's own
 * savepoint isolates the one at fault.
 */
import type { TransactionSql } from 'postgres';
import { RampartError } from '../../core/errors.js';
import type { AuditEntry, CertificateRecord, Fence } from '../../core/types.js';
import type { AuditBuilder, IdempotencyClaim, InsertResult } from '../store.js';
import { n, toCert, type Row } from '../row-mapping.js';
import type { Outcome } from './pg-group-commit.js';

export interface InsertArgs { rec: CertificateRecord; claim?: IdempotencyClaim; fence?: Fence; audit?: AuditBuilder }

export interface BatchContext {
  /** Throws a RampartError ('fenced', 'notWritable') when the fence does not hold; locks its lease row to the commit. */
  checkFence(tx: TransactionSql, f: Fence | undefined): Promise<void>;
  idempotencyLockClass: number;
  auditLockKey: string;
  /** The certificate an earlier request with this key issued; throws 'idempotencyMismatch' for another request. */
  findIdempotent(tx: TransactionSql, claim: IdempotencyClaim): Promise<CertificateRecord | null>;
  /** Appends one audit entry under the chain lock (held to the commit). */
  appendAudit(tx: TransactionSql, build: AuditBuilder): Promise<AuditEntry>;
}

const CERT_COLS = ['serial', 'issuer_id', 'profile', 'subject', 'sans', 'search', 'not_before', 'not_after', 'der', 'status', 'revoked_at', 'revocation_reason', 'created_at', 'requester', 'crl_shard'] as const;
const IDEM_COLS = ['requester', 'key', 'request_hash', 'serial', 'created_at'] as const;
const AUDIT_COLS = ['seq', 'time', 'actor', 'source', 'channel', 'action', 'target', 'outcome', 'details', 'prev_hash', 'hash'] as const;

/** A column value as postgres.js serializes it. */
type Value = string | number | Buffer | null;

const fenceKey = (f: Fence | undefined): string => (f ? JSON.stringify([f.lease, f.holder, String(f.epoch), f.region ?? null]) : '');
/** The string the idempotency lock hashes: the same as the unit-by-unit path's `requester || chr(10) || key`. */
const claimKey = (c: IdempotencyClaim): string => `${c.requester}\n${c.key}`;

function certRow(rec: CertificateRecord): Record<(typeof CERT_COLS)[number], Value> {
  return {
    serial: rec.serial, issuer_id: rec.issuerId, profile: rec.profile, subject: rec.subject, sans: JSON.stringify(rec.sans),
    search: [rec.subject, ...rec.sans].join('\n').toLowerCase(), not_before: rec.notBefore.getTime(), not_after: rec.notAfter.getTime(),
    der: Buffer.from(rec.der.buffer, rec.der.byteOffset, rec.der.byteLength), status: rec.status, revoked_at: rec.revokedAt?.getTime() ?? null,
    revocation_reason: rec.revocationReason, created_at: rec.createdAt.getTime(), requester: rec.requester, crl_shard: rec.crlShard ?? null,
  };
}

function idemRow(rec: CertificateRecord, c: IdempotencyClaim): Record<(typeof IDEM_COLS)[number], Value> {
  return { requester: c.requester, key: c.key, request_hash: c.requestHash, serial: rec.serial, created_at: rec.createdAt.getTime() };
}

function auditRow(e: AuditEntry): Record<(typeof AUDIT_COLS)[number], Value> {
  return {
    seq: e.seq, time: e.time.getTime(), actor: e.actor, source: e.source, channel: e.channel, action: e.action, target: e.target,
    outcome: e.outcome, details: JSON.stringify(e.details ?? {}), prev_hash: e.prevHash, hash: e.hash,
  };
}

/** Outcomes in the order of `items`; null when the batch needs the unit-by-unit path. Throws what the database threw. */
export async function insertBatch(tx: TransactionSql, items: readonly InsertArgs[], ctx: BatchContext): Promise<Array<Outcome<InsertResult>> | null> {
  const keys = items.flatMap((it) => (it.claim ? [claimKey(it.claim)] : []));
  if (new Set(keys).size !== keys.length) return null;
  const out: Array<Outcome<InsertResult> | undefined> = items.map(() => undefined);

  const fences = new Map<string, unknown>();
  for (const it of items) {
    const k = fenceKey(it.fence);
    if (!k || fences.has(k)) continue;
    try {
      await ctx.checkFence(tx, it.fence);
      fences.set(k, null);
    } catch (e) {
      if (!(e instanceof RampartError)) throw e;
      fences.set(k, e);
    }
  }
  items.forEach((it, i) => {
    const refused = fences.get(fenceKey(it.fence));
    if (refused) out[i] = { ok: false, error: refused };
  });

  const claimed = items.map((it, i) => ({ it, i })).filter(({ it, i }) => it.claim && !out[i]);
  if (claimed.length) {
    const lockKeys = claimed.map(({ it }) => claimKey(it.claim!));
    // Locked in hash order, so two nodes' batches never wait for each other in a cycle.
    await tx`SELECT pg_advisory_xact_lock(${ctx.idempotencyLockClass}::int, h) FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest(${lockKeys}::text[]) AS k ORDER BY 1) s`;
    const rows = await tx`SELECT i.requester AS idem_requester, i.key AS idem_key, i.request_hash AS idem_hash, c.*
      FROM idempotency i JOIN certificates c ON c.serial = i.serial
      WHERE (i.requester, i.key) IN (SELECT * FROM unnest(${claimed.map(({ it }) => it.claim!.requester)}::text[], ${claimed.map(({ it }) => it.claim!.key)}::text[]))`;
    const earlier = new Map((rows as readonly Row[]).map((r) => [`${String(r.idem_requester)}\n${String(r.idem_key)}`, r]));
    for (const { it, i } of claimed) {
      const r = earlier.get(claimKey(it.claim!));
      if (!r) continue;
      out[i] = r.idem_hash !== it.claim!.requestHash
        ? { ok: false, error: new RampartError('idempotencyMismatch', `idempotency key "${it.claim!.key}" was already used with a different request`) }
        : { ok: true, value: { record: toCert(r), replayed: true } };
    }
  }

  const fresh = items.map((it, i) => ({ it, i })).filter(({ i }) => !out[i]);
  if (fresh.length) {
    await tx`INSERT INTO certificates ${tx(fresh.map(({ it }) => certRow(it.rec)), ...CERT_COLS)}`;
    const idem = fresh.filter(({ it }) => it.claim).map(({ it }) => idemRow(it.rec, it.claim!));
    if (idem.length) await tx`INSERT INTO idempotency ${tx(idem, ...IDEM_COLS)}`;
    // Last, as in the unit-by-unit path: the chain lock is held from here to the commit.
    const entries = new Map<number, AuditEntry>();
    const audited = fresh.filter(({ it }) => it.audit);
    if (audited.length) {
      await tx`SELECT pg_advisory_xact_lock(${ctx.auditLockKey}::bigint)`;
      const [last] = await tx`SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`;
      let head = last ? { seq: n(last.seq), hash: String(last.hash) } : null;
      for (const { it, i } of audited) {
        const e = it.audit!(head);
        entries.set(i, e);
        head = { seq: e.seq, hash: e.hash };
      }
      await tx`INSERT INTO audit_log ${tx([...entries.values()].map(auditRow), ...AUDIT_COLS)}`;
    }
    for (const { it, i } of fresh) {
      const audit = entries.get(i);
      out[i] = { ok: true, value: { record: it.rec, replayed: false, ...(audit ? { audit } : {}) } };
    }
  }
  return out as Array<Outcome<InsertResult>>;
}

/**
 * One issuance of a batch on its own (in its own savepoint): the path for a
 * batch the set-wise one declines, and for a retry after a lost connection.
 */
export async function insertUnit(tx: TransactionSql, { rec, claim, fence, audit }: InsertArgs, retried: boolean, ctx: BatchContext): Promise<InsertResult> {
  if (retried) {
    // An earlier attempt may have committed before its connection dropped. A
    // row with our serial and identical DER is that commit (serials are random
    // and the DER signs the serial): report success, as the original issuance
    // (not a replay). The idempotency claim, if any, went in with it. Checked
    // before the fence: that commit passed the fence check of its own transaction.
    const [mine] = await tx`SELECT * FROM certificates WHERE serial = ${rec.serial}`;
    if (mine && Buffer.isBuffer(mine.der) && mine.der.equals(rec.der)) return { record: toCert(mine), replayed: false };
  }
  await ctx.checkFence(tx, fence);
  if (claim) {
    await tx`SELECT pg_advisory_xact_lock(${ctx.idempotencyLockClass}::int, hashtext(${claimKey(claim)}))`;
    const earlier = await ctx.findIdempotent(tx, claim);
    if (earlier) return { record: earlier, replayed: true };
  }
  await tx`INSERT INTO certificates ${tx([certRow(rec)], ...CERT_COLS)}`;
  if (claim) await tx`INSERT INTO idempotency ${tx([idemRow(rec, claim)], ...IDEM_COLS)}`;
  // Last, so the audit chain lock is taken as late as possible (it is held to the batch's commit).
  return { record: rec, replayed: false, ...(audit ? { audit: await ctx.appendAudit(tx, audit) } : {}) };
}
