/**
 * Row mapping shared by the SQLite and PostgreSQL stores: both keep the same
 * columns (times as epoch milliseconds, DER as blobs).
 */
import type { ApiTokenRecord, AuditEntry, CertificateRecord, CrlRecord, IssuerRecord, TokenRole } from '../core/types.js';

export type Row = Record<string, unknown>;

export const n = (v: unknown): number => Number(v);
export const d = (v: unknown): Date => new Date(Number(v));
export const dn = (v: unknown): Date | null => (v === null || v === undefined ? null : new Date(Number(v)));
export const u8 = (v: unknown): Uint8Array => new Uint8Array(v as Buffer);

export function toIssuer(r: Row): IssuerRecord {
  return {
    id: String(r.id), kind: r.kind as IssuerRecord['kind'], subject: String(r.subject),
    parentId: r.parent_id === null ? null : String(r.parent_id), certDer: u8(r.cert_der),
    keyRef: String(r.key_ref), keyBackend: String(r.key_backend), notBefore: d(r.not_before),
    notAfter: d(r.not_after), active: r.active === true || Number(r.active) === 1, createdAt: d(r.created_at),
  };
}

export function toCert(r: Row): CertificateRecord {
  return {
    serial: String(r.serial), issuerId: String(r.issuer_id), profile: String(r.profile), subject: String(r.subject),
    sans: JSON.parse(String(r.sans)) as string[], notBefore: d(r.not_before), notAfter: d(r.not_after), der: u8(r.der),
    status: r.status as CertificateRecord['status'], revokedAt: dn(r.revoked_at),
    revocationReason: r.revocation_reason === null ? null : n(r.revocation_reason),
    createdAt: d(r.created_at), requester: String(r.requester),
  };
}

export function toToken(r: Row): ApiTokenRecord {
  return {
    id: String(r.id), name: String(r.name), role: r.role as TokenRole, hash: String(r.hash),
    createdAt: d(r.created_at), expiresAt: dn(r.expires_at), revokedAt: dn(r.revoked_at),
  };
}

export function toAudit(r: Row): AuditEntry {
  return {
    seq: n(r.seq), time: d(r.time), actor: String(r.actor), source: String(r.source),
    channel: r.channel as AuditEntry['channel'], action: String(r.action), target: String(r.target),
    outcome: r.outcome as AuditEntry['outcome'], details: JSON.parse(String(r.details)) as Record<string, unknown>,
    prevHash: String(r.prev_hash), hash: String(r.hash),
  };
}

export function toCrl(r: Row): CrlRecord {
  return {
    issuerId: String(r.issuer_id), number: BigInt(String(r.number)), thisUpdate: d(r.this_update),
    nextUpdate: d(r.next_update), der: u8(r.der), entries: n(r.entries),
  };
}
