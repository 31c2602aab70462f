/**
 * SSH certificate authority records (issue 21): the SSH CAs (their keys are
 * in the key backend, like X.509 CA keys), the certificates they issued,
 * and each CA's latest KRL. The SshStore is a part of every Store
 * (`store.ssh`, the SshStore interface in store.ts), implemented in
 * sqlite-ssh.ts and postgres-ssh.ts.
 */
import { d, dn, u8, type Row } from './row-mapping.js';

export type SshCertKind = 'user' | 'host';

export interface SshCaRecord {
  /** Name in URLs (/ssh/<name>.pub) and the config (ssh.cas.<name>). */
  name: string;
  type: SshCertKind;
  algorithm: string;
  keyRef: string;
  keyBackend: string;
  /** The CA public key blob (RFC 4253 wire form). */
  publicKey: Uint8Array;
  createdAt: Date;
  /** How many of its certificates were revoked (read only; the version of its next KRL). */
  revocations?: number;
}

export interface SshCertificateRecord {
  /** Unsigned 64-bit serial, decimal (as ssh-keygen -L prints it). */
  serial: string;
  caName: string;
  profile: string;
  type: SshCertKind;
  keyId: string;
  principals: string[];
  /** SHA256 fingerprint of the certified public key. */
  keyFingerprint: string;
  validAfter: Date;
  validBefore: Date;
  /** The certificate blob (base64 of it is the -cert.pub file's second field). */
  cert: Uint8Array;
  status: 'good' | 'revoked';
  revokedAt: Date | null;
  createdAt: Date;
  requester: string;
}

export interface SshKrlRecord {
  caName: string;
  /** The CA's revocation count when generated: a later KRL has a higher one. */
  version: number;
  generatedAt: Date;
  krl: Uint8Array;
}

export interface SshCertificateQuery {
  caName?: string;
  status?: 'good' | 'revoked' | 'expired';
  /** Key ID, principal or serial containing this text. */
  search?: string;
  limit: number;
  /** Opaque: the nextCursor of the previous page. */
  cursor?: string;
}

// ---- row mapping shared by both stores (same columns)

export function toSshCa(r: Row): SshCaRecord {
  return {
    name: String(r.name), type: r.type as SshCertKind, algorithm: String(r.algorithm), keyRef: String(r.key_ref),
    keyBackend: String(r.key_backend), publicKey: u8(r.public_key), createdAt: d(r.created_at), revocations: Number(r.revocations ?? 0),
  };
}

export function toSshCert(r: Row): SshCertificateRecord {
  return {
    serial: String(r.serial), caName: String(r.ca_name), profile: String(r.profile), type: r.cert_type as SshCertKind,
    keyId: String(r.key_id), principals: JSON.parse(String(r.principals)) as string[], keyFingerprint: String(r.key_fingerprint),
    validAfter: d(r.valid_after), validBefore: d(r.valid_before), cert: u8(r.cert), status: r.status as SshCertificateRecord['status'],
    revokedAt: dn(r.revoked_at), createdAt: d(r.created_at), requester: String(r.requester),
  };
}

export function toSshKrl(r: Row): SshKrlRecord {
  return { caName: String(r.ca_name), version: Number(r.version), generatedAt: d(r.generated_at), krl: u8(r.krl) };
}

/** The searchable text of a certificate: serial, key ID, principals (lower case). */
export function sshSearchText(rec: SshCertificateRecord): string {
  return [rec.serial, rec.keyId, ...rec.principals].join('\n').toLowerCase();
}

/** WHERE conditions of a listing, with `?` placeholders (SQLite) or `$n` (PostgreSQL). */
export function sshListWhere(q: SshCertificateQuery, now: Date, dialect: 'sqlite' | 'postgres'): { where: string; args: unknown[] } {
  const ph = (i: number): string => (dialect === 'sqlite' ? '?' : `$${i}`);
  const conds: string[] = [];
  const args: unknown[] = [];
  const add = (sql: (p: string) => string, v: unknown) => { args.push(v); conds.push(sql(ph(args.length))); };
  if (q.caName) add((p) => `ca_name = ${p}`, q.caName);
  if (q.status === 'revoked') conds.push(`status = 'revoked'`);
  if (q.status === 'good') { conds.push(`status = 'good'`); add((p) => `valid_before > ${p}`, now.getTime()); }
  if (q.status === 'expired') add((p) => `valid_before <= ${p}`, now.getTime());
  if (q.search) add((p) => (dialect === 'sqlite' ? `instr(search, ${p}) > 0` : `strpos(search, ${p}) > 0`), q.search.toLowerCase());
  const before = q.cursor !== undefined && /^[0-9]{1,18}$/.test(q.cursor) ? Number(q.cursor) : null;
  if (before !== null) add((p) => `seq < ${p}`, before);
  return { where: conds.length ? ` WHERE ${conds.join(' AND ')}` : '', args };
}

export const SSH_INSERT_COLUMNS = 'serial, ca_name, profile, cert_type, key_id, principals, search, key_fingerprint, valid_after, valid_before, cert, status, revoked_at, created_at, requester';

export function sshInsertValues(rec: SshCertificateRecord): unknown[] {
  return [rec.serial, rec.caName, rec.profile, rec.type, rec.keyId, JSON.stringify(rec.principals), sshSearchText(rec), rec.keyFingerprint,
    rec.validAfter.getTime(), rec.validBefore.getTime(), Buffer.from(rec.cert), rec.status, rec.revokedAt?.getTime() ?? null,
    rec.createdAt.getTime(), rec.requester];
}
