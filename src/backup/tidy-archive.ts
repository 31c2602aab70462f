/**
 * The archive object of one tidy batch: the removed certificates as NDJSON
 * (every column, DER and CRL entry in base64), encrypted with the backup
 * envelope (envelope.ts: AES-256-GCM under a key wrapped by the backup KEK,
 * the object key as associated data) and written to the backup targets
 * under `tidy/`. The only place tidy touches the envelope.
 */
import { decryptObject, encryptObject, newKekAsync, type BackupKek } from './envelope.js';
import type { BackupTarget } from './target.js';
import type { BulkCertificate } from '../storage/store.js';

export interface ArchivedCertificate {
  serial: string; issuerId: string; profile: string; subject: string; sans: string[];
  notBefore: string; notAfter: string; status: string; revokedAt: string | null; revocationReason: number | null;
  createdAt: string; requester: string; der: string; crlEntry: string | null;
}

const b64 = (u: Uint8Array): string => Buffer.from(u).toString('base64');

function line(c: BulkCertificate): string {
  const a: ArchivedCertificate = {
    serial: c.serial, issuerId: c.issuerId, profile: c.profile, subject: c.subject, sans: c.sans,
    notBefore: c.notBefore.toISOString(), notAfter: c.notAfter.toISOString(), status: c.status,
    revokedAt: c.revokedAt?.toISOString() ?? null, revocationReason: c.revocationReason,
    createdAt: c.createdAt.toISOString(), requester: c.requester, der: b64(c.der), crlEntry: c.crlEntry ? b64(c.crlEntry) : null,
  };
  return `${JSON.stringify(a)}\n`;
}

/** `tidy/<yyyy-mm-dd>/<time>-<first serial>-<count>.ndjson.enc` */
export function archiveKey(at: Date, rows: BulkCertificate[]): string {
  return `tidy/${at.toISOString().slice(0, 10)}/${at.getTime()}-${rows[0]!.serial}-${rows.length}.ndjson.enc`;
}

/** The key-encryption key of one tidy run (one scrypt derivation, with a new salt, per run, on the libuv pool: not on the thread that answers OCSP). */
export function archiveKek(secret: Uint8Array): Promise<BackupKek> {
  return newKekAsync(secret);
}

/** Encrypts the batch and stores it on every target; resolves when all hold it. */
export async function writeArchive(targets: BackupTarget[], kek: BackupKek, key: string, rows: BulkCertificate[]): Promise<number> {
  const blob = encryptObject(kek, key, Buffer.from(rows.map(line).join(''), 'utf8'));
  for (const t of targets) await t.put(key, blob);
  return blob.length;
}

/** Reads an archive object back (tests, and an operator looking for an archived certificate). */
export function readArchive(secret: Uint8Array, key: string, blob: Uint8Array): ArchivedCertificate[] {
  return decryptObject(secret, key, blob).toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ArchivedCertificate);
}
