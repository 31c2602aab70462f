/**
 * Row mapping shared by the SQLite and PostgreSQL stores: both keep the same
 * columns (times as epoch milliseconds, DER as blobs).
 */
import type { ApiTokenRecord, OperatorRecord, AuditEntry, CertificateRecord, CrlRecord, IssuerRecord, RevokedEntry, TokenRole } from '../core/types.js';
import type { AcmeAccount, AcmeAuthorization, AcmeOrder, EabKey } from './acme-records.js';

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
    // Only when set, so a record stored without a shard reads back equal.
    ...(r.crl_shard === null || r.crl_shard === undefined ? {} : { crlShard: n(r.crl_shard) }),
  };
}

/** A revoked row (serial, revoked_at, revocation_reason, crl_entry) as a CRL entry. */
export function revokedEntry(r: Row): RevokedEntry {
  const e: RevokedEntry = { serialHex: String(r.serial), revokedAt: d(r.revoked_at), reason: r.revocation_reason === null ? undefined : n(r.revocation_reason) };
  if (r.crl_entry) e.der = u8(r.crl_entry);
  return e;
}

export function toToken(r: Row): ApiTokenRecord {
  return {
    id: String(r.id), name: String(r.name), role: r.role as TokenRole, hash: String(r.hash),
    createdAt: d(r.created_at), expiresAt: dn(r.expires_at), revokedAt: dn(r.revoked_at),
    operatorId: r.operator_id === undefined || r.operator_id === null ? null : String(r.operator_id),
  };
}

export function toOperator(r: Row): OperatorRecord {
  return { id: String(r.id), name: String(r.name), role: r.role as TokenRole, createdAt: d(r.created_at), disabledAt: dn(r.disabled_at) };
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
    ...(r.shard === null || r.shard === undefined ? {} : { shard: n(r.shard) }),
  };
}

// ---- ACME. JSON columns are TEXT in both databases (written with
// JSON.stringify, so a stored value reads back byte for byte); `wildcard` is
// INTEGER 0/1 in SQLite and BOOLEAN in PostgreSQL.

const json = <T>(v: unknown): T => JSON.parse(String(v)) as T;
const jsonOrNull = <T>(v: unknown): T | null => (v === null || v === undefined ? null : json<T>(v));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const bool = (v: unknown): boolean => v === true || Number(v) === 1;

export function toAcmeAccount(r: Row): AcmeAccount {
  return {
    id: String(r.id), keyThumbprint: String(r.key_thumbprint), jwk: json<Record<string, unknown>>(r.jwk),
    status: r.status as AcmeAccount['status'], contact: json<string[]>(r.contact), eabKid: strOrNull(r.eab_kid),
    createdFromIp: String(r.created_from_ip), createdAt: d(r.created_at), version: n(r.version),
  };
}

export function toAcmeOrder(r: Row): AcmeOrder {
  return {
    id: String(r.id), accountId: String(r.account_id), status: r.status as AcmeOrder['status'], expires: d(r.expires),
    identifiers: json<AcmeOrder['identifiers']>(r.identifiers), authorizationIds: json<string[]>(r.authorization_ids),
    notBefore: dn(r.not_before), notAfter: dn(r.not_after), error: jsonOrNull<NonNullable<AcmeOrder['error']>>(r.error),
    certificateSerial: strOrNull(r.certificate_serial), replaces: strOrNull(r.replaces),
    csrDer: r.csr_der === null || r.csr_der === undefined ? null : u8(r.csr_der), processingSince: dn(r.processing_since),
    createdAt: d(r.created_at), version: n(r.version),
  };
}

export function toAcmeAuthorization(r: Row): AcmeAuthorization {
  return {
    id: String(r.id), accountId: String(r.account_id),
    identifier: { type: r.identifier_type as AcmeAuthorization['identifier']['type'], value: String(r.identifier_value) },
    wildcard: bool(r.wildcard), status: r.status as AcmeAuthorization['status'], expires: d(r.expires),
    challenges: (json<Array<Record<string, unknown>>>(r.challenges)).map((c) => ({
      ...(c as unknown as AcmeAuthorization['challenges'][number]),
      validated: c.validated === null || c.validated === undefined ? null : new Date(Number(c.validated)),
    })),
    processingSince: dn(r.processing_since), createdAt: d(r.created_at), version: n(r.version),
  };
}

export function toEabKey(r: Row): EabKey {
  return {
    kid: String(r.kid), sealedKey: u8(r.sealed_key), description: String(r.description), createdAt: d(r.created_at),
    boundAccountId: strOrNull(r.bound_account_id), revokedAt: dn(r.revoked_at),
  };
}

/**
 * Record → column values, shared by both stores (times as epoch ms, JSON as
 * text, bytes as Buffer). `wildcard` stays a boolean: SQLite binds it as 0/1.
 */
export function acmeAccountColumns(a: AcmeAccount) {
  return {
    id: a.id, key_thumbprint: a.keyThumbprint, jwk: JSON.stringify(a.jwk), status: a.status, contact: JSON.stringify(a.contact),
    eab_kid: a.eabKid, created_from_ip: a.createdFromIp, created_at: a.createdAt.getTime(),
  };
}

export function acmeOrderColumns(o: AcmeOrder) {
  return {
    id: o.id, account_id: o.accountId, status: o.status, expires: o.expires.getTime(), identifiers: JSON.stringify(o.identifiers),
    authorization_ids: JSON.stringify(o.authorizationIds), not_before: o.notBefore?.getTime() ?? null,
    not_after: o.notAfter?.getTime() ?? null, error: o.error === null ? null : JSON.stringify(o.error),
    certificate_serial: o.certificateSerial, replaces: o.replaces,
    csr_der: o.csrDer === null ? null : Buffer.from(o.csrDer.buffer, o.csrDer.byteOffset, o.csrDer.byteLength),
    processing_since: o.processingSince?.getTime() ?? null, created_at: o.createdAt.getTime(),
  };
}

export function acmeAuthorizationColumns(a: AcmeAuthorization) {
  return {
    id: a.id, account_id: a.accountId, identifier_type: a.identifier.type, identifier_value: a.identifier.value,
    wildcard: a.wildcard, status: a.status, expires: a.expires.getTime(),
    // Challenge `validated` times are kept as epoch ms inside the JSON.
    challenges: JSON.stringify(a.challenges.map((c) => ({ ...c, validated: c.validated?.getTime() ?? null }))),
    processing_since: a.processingSince?.getTime() ?? null, created_at: a.createdAt.getTime(),
  };
}

export function eabKeyColumns(k: EabKey) {
  return {
    kid: k.kid, sealed_key: Buffer.from(k.sealedKey.buffer, k.sealedKey.byteOffset, k.sealedKey.byteLength),
    description: k.description, created_at: k.createdAt.getTime(), bound_account_id: k.boundAccountId,
    revoked_at: k.revokedAt?.getTime() ?? null,
  };
}

/** Opaque keyset cursor for listAcmeOrders: base64url of "createdAtMs|id". */
export function encodeOrderCursor(createdAtMs: number, id: string): string {
  return Buffer.from(`${createdAtMs}|${id}`, 'utf8').toString('base64url');
}

/** Null when the cursor is not one encodeOrderCursor made. */
export function decodeOrderCursor(cursor: string): { createdAt: number; id: string } | null {
  const s = Buffer.from(cursor, 'base64url').toString('utf8');
  const bar = s.indexOf('|');
  if (bar <= 0) return null;
  const createdAt = Number(s.slice(0, bar));
  if (!Number.isSafeInteger(createdAt) || !/^-?\d+$/.test(s.slice(0, bar))) return null;
  return { createdAt, id: s.slice(bar + 1) };
}
