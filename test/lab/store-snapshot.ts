/**
 * What the database holds after healing, as the checker (history-checker.ts)
 * reads it: certificates (DER base64), idempotency records, revocation
 * events, CRLs, the audit entries of issuances and revocations, and the
 * audit chain verified with the project's own AuditLog.verify; from
 * PostgreSQL (the lab) or from a node's SQLite file.
 */
import Database from 'better-sqlite3';
import postgres from 'postgres';
import { AuditLog } from '../../src/audit/audit-log.js';
import { systemClock } from '../../src/core/clock.js';
import type { AuditEntry } from '../../src/core/types.js';
import type { AuditStore } from '../../src/storage/store.js';
import { toAudit } from '../../src/storage/row-mapping.js';

export interface StoreSnapshot {
  /** crlShard: the CRL shard that lists the certificate (null: only the complete CRL). */
  certificates: Array<{ serial: string; issuerId: string; subject: string; der: string; status: 'good' | 'revoked'; revokedAt: number | null; crlShard?: number | null }>;
  idempotency: Array<{ key: string; serial: string }>;
  revocationEvents: string[];
  /** shard: null for an issuer's complete CRL. */
  crls: Array<{ issuerId: string; number: string; thisUpdate: number; der: string; shard?: number | null }>;
  auditEntries: Array<{ action: string; target: string; outcome: string }>;
  auditChain: { ok: boolean; entries: number; problem?: { seq: number; reason: string } };
}

type Rows = Array<Record<string, unknown>>;
interface RawSnapshot { certs: Rows; idem: Rows; events: Rows; crls: Rows; audit: Rows }

/** Reads the snapshot from a PostgreSQL database ('host:port', role rampart, trust). */
export async function readPostgresSnapshot(address: string, database = 'rampart'): Promise<StoreSnapshot> {
  const [host, port] = address.split(':');
  const sql = postgres({ host, port: Number(port), user: 'rampart', database, max: 1, connect_timeout: 10, idle_timeout: 1, onnotice: () => {} });
  try {
    const raw: RawSnapshot = {
      certs: await sql`SELECT serial, issuer_id, subject, der, status, revoked_at, crl_shard FROM certificates ORDER BY seq`,
      idem: await sql`SELECT key, serial FROM idempotency`,
      events: await sql`SELECT serial FROM revocation_events`,
      crls: await sql`SELECT issuer_id, number, this_update, der, shard FROM crls`,
      audit: await sql`SELECT * FROM audit_log ORDER BY seq`,
    };
    return await toSnapshot(raw);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Reads the snapshot from a node's SQLite database file (read-only; the node may still run). */
export async function readSqliteSnapshot(file: string): Promise<StoreSnapshot> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const all = (q: string): Rows => db.prepare(q).all() as Rows;
    return await toSnapshot({
      certs: all('SELECT serial, issuer_id, subject, der, status, revoked_at, crl_shard FROM certificates ORDER BY seq'),
      idem: all('SELECT key, serial FROM idempotency'),
      events: all('SELECT serial FROM revocation_events'),
      crls: all('SELECT issuer_id, number, this_update, der, shard FROM crls'),
      audit: all('SELECT * FROM audit_log ORDER BY seq'),
    });
  } finally {
    db.close();
  }
}

async function toSnapshot(raw: RawSnapshot): Promise<StoreSnapshot> {
  const entries: AuditEntry[] = raw.audit.map((r) => toAudit(r));
  const store = { async *iterateAudit() { yield* entries; } } as unknown as AuditStore;
  const chain = await new AuditLog({ store, clock: systemClock }).verify();
  return {
    certificates: raw.certs.map((r) => ({
      serial: String(r.serial), issuerId: String(r.issuer_id), subject: String(r.subject), der: Buffer.from(r.der as Uint8Array).toString('base64'),
      status: r.status as 'good' | 'revoked', revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
      crlShard: r.crl_shard === null ? null : Number(r.crl_shard),
    })),
    idempotency: raw.idem.map((r) => ({ key: String(r.key), serial: String(r.serial) })),
    revocationEvents: raw.events.map((r) => String(r.serial)),
    crls: raw.crls.map((r) => ({ issuerId: String(r.issuer_id), number: String(r.number), thisUpdate: Number(r.this_update), der: Buffer.from(r.der as Uint8Array).toString('base64'), shard: r.shard === null ? null : Number(r.shard) })),
    auditEntries: entries.filter((e) => e.action.startsWith('certificate.')).map((e) => ({ action: e.action, target: e.target, outcome: e.outcome })),
    auditChain: { ok: chain.ok, entries: chain.entries, ...(chain.problem ? { problem: chain.problem } : {}) },
  };
}
