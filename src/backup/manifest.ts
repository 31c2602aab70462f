/**
 * The backup manifest: what a backup holds (parts with sha256 and size of the
 * plaintext), where the database stood, and the counts a restore must find
 * again. It is signed with HMAC-SHA256 under a key derived (HKDF) from the
 * backup secret and the backup id, then encrypted like every other object.
 */
import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { canonicalJson } from '../audit/audit-log.js';

export const MANIFEST_FORMAT = 'rampart-backup/1';

export interface BackupPart {
  name: string;
  key: string;
  sha256: string;
  size: number;
}

export interface BackupManifest {
  format: typeof MANIFEST_FORMAT;
  id: string;
  createdAt: string;
  nodeId: string;
  version: string;
  database: {
    kind: 'sqlite' | 'postgres';
    /** Where the snapshot stands: last audit seq and head, certificates; PostgreSQL also the WAL position. */
    position: { auditSeq: number; auditHead: string; certificates: number; walLsn?: string };
  };
  /** Per issuer: the CRL counter (last number allocated) in the snapshot. */
  crlNumbers: Record<string, string>;
  counts: { certificates: number; revoked: number; auditEntries: number; issuers: number };
  parts: BackupPart[];
  durationMs: number;
}

export interface SignedManifest { manifest: BackupManifest; hmacSha256: string }

const ID_RE = /^\d{8}T\d{9}Z-[0-9a-f]{6}$/;

/** Time-sortable backup id: 20250101T120000123Z-1a2b3c (UTC, milliseconds, random suffix). */
export function newBackupId(now: Date): string {
  const s = now.toISOString().replace(/[-:.]/g, '');
  return `${s}-${randomBytes(3).toString('hex')}`;
}

export function isBackupId(id: string): boolean { return ID_RE.test(id); }

/** The time encoded in a backup id. */
export function backupIdTime(id: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z/.exec(id);
  if (!m) throw new Error(`not a backup id: ${id}`);
  return new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`);
}

export const manifestKey = (id: string): string => `backups/${id}/manifest`;
export const partKey = (id: string, name: string): string => `backups/${id}/${name}`;

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function macKey(secret: Uint8Array, id: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.from('rampart backup manifest'), Buffer.from(id), 32));
}

export function signManifest(m: BackupManifest, secret: Uint8Array): SignedManifest {
  return { manifest: m, hmacSha256: createHmac('sha256', macKey(secret, m.id)).update(canonicalJson(m)).digest('hex') };
}

/** Checks the signature and the shape; throws with the reason. */
export function checkManifest(s: SignedManifest, secret: Uint8Array, expectedId: string): BackupManifest {
  const m = s?.manifest;
  if (!m || m.format !== MANIFEST_FORMAT || typeof s.hmacSha256 !== 'string' || !Array.isArray(m.parts)) throw new Error(`backup ${expectedId}: the manifest is not a ${MANIFEST_FORMAT} manifest`);
  if (m.id !== expectedId) throw new Error(`backup ${expectedId}: the manifest names another backup (${m.id})`);
  const want = createHmac('sha256', macKey(secret, m.id)).update(canonicalJson(m)).digest();
  const got = Buffer.from(s.hmacSha256, 'hex');
  if (got.length !== want.length || !timingSafeEqual(got, want)) throw new Error(`backup ${expectedId}: the manifest signature does not verify`);
  return m;
}
