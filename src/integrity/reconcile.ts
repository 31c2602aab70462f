/**
 * Reconciliation after a restore: puts back what was issued and revoked after
 * the restored backup, from a forwarded copy of the audit log
 * (forwarded-audit.ts). RPO 0 for every certificate whose issuance entry
 * reached the copy: since the audit entry is written in the certificate's own
 * transaction and carries its DER (src/ra/issuance.ts), the stream holds
 * every acknowledged certificate.
 *
 * For each entry, in the file's order:
 * - `certificate.issue` (success) for a serial the database does not have:
 *   the certificate is rebuilt from the entry (DER, issuer, profile, names,
 *   dates, CRL shard) and inserted; one without its DER (written before
 *   issuance entries carried it), whose DER does not parse or does not carry
 *   that serial, or whose issuer is unknown, is named as unrecoverable;
 * - `certificate.revoke` (success) for a certificate still good here: revoked
 *   again with the reason and time of the entry (its CRL entry rebuilt); a
 *   certificate that tidy archived since (`certificate.archive` entries) is
 *   listed as archived, not put back;
 * - the entry itself goes back into the audit log when the restored log does
 *   not have it: verbatim while it continues the restored chain (its
 *   prevHash is the head's hash), so the log is the one that was lost; once
 *   the restored log has entries of its own after the backup (`rampart
 *   restore` records itself) or the copy has a gap, as an `audit.replayed`
 *   entry carrying the original entry whole (its hash can be recomputed from
 *   the details), so nothing of the lost tail is missing from the chain.
 */
import type { AuditEntry, CertificateRecord } from '../core/types.js';
import { actorFields, type Actor } from '../core/actor.js';
import { certificateSerialHex } from '../pki/certificate-serial.js';
import { encodeRevokedEntry } from '../pki/crl-builder.js';
import { reasonFromName } from '../pki/revocation-reasons.js';
import type { Store } from '../storage/store.js';
import { GENESIS_HASH, type AuditLog } from '../audit/audit-log.js';
import { readForwardedAudit } from './forwarded-audit.js';

export interface Unrecoverable {
  serial: string;
  /** Audit seq of its issuance entry. */
  seq: number;
  reason: string;
  issuerId?: string;
}

export interface ReconcileReport {
  file: string;
  /** The restored log's head before reconciliation. */
  restoredHead: { seq: number; hash: string };
  /** The log's head after (the last appended forwarded entry). */
  head: { seq: number; hash: string };
  linesRead: number;
  badLines: Array<{ line: number; reason: string }>;
  /** Issuance entries seen for certificates already in the database. */
  alreadyPresent: number;
  /** Certificates put back, in order. */
  restored: string[];
  /** Certificates not put back because tidy archived them (notAfter at or before the newest archived one in the copy). */
  archived: string[];
  /** Revocations applied again. */
  revoked: string[];
  unrecoverable: Unrecoverable[];
  /** Forwarded entries put back into the audit log verbatim. */
  auditAppended: number;
  /** Forwarded entries put back wrapped in `audit.replayed` entries (after the restored log's own entries, or a gap). */
  auditReplayed: number;
  /** Why entries after some point could not go back verbatim, if so. */
  auditGap: string | null;
}

/** The `integrity.reconcile` audit entry of a reconciliation (`from`: the file or directory read). */
export async function auditReconcile(audit: AuditLog, actor: Actor, from: string, r: ReconcileReport): Promise<void> {
  await audit.record({
    ...actorFields(actor), action: 'integrity.reconcile', target: `file:${from}`, outcome: r.unrecoverable.length ? 'failure' : 'success',
    details: { restored: r.restored.length, revoked: r.revoked.length, unrecoverable: r.unrecoverable.map((u) => u.serial), auditAppended: r.auditAppended, auditReplayed: r.auditReplayed, auditGap: r.auditGap },
  });
}

const MAX_BAD_LINES = 100;
/** How many of the restored log's newest entries are compared with the copy (the restore adds one or two after the backup's head). */
const RECENT = 1000;

/** `file`: the JSON-lines copy, or a directory of its rotated files (forwarded-audit.ts). */
export async function reconcileFromAudit(store: Store, audit: AuditLog, file: string): Promise<ReconcileReport> {
  const last = await store.lastAudit();
  const restoredHead = { seq: last?.seq ?? 0, hash: last?.hash ?? GENESIS_HASH };
  const out: ReconcileReport = {
    file, restoredHead, head: { ...restoredHead }, linesRead: 0, badLines: [], alreadyPresent: 0, restored: [], archived: [], revoked: [], unrecoverable: [],
    auditAppended: 0, auditReplayed: 0, auditGap: null,
  };
  const issuers = new Set((await store.listIssuers()).map((i) => i.id));
  const archivedUpTo = await newestArchived(file);
  const recent = await store.latestAudit(RECENT);
  const recentHashes = new Set(recent.map((e) => e.hash));
  const oldestRecent = recent.length ? recent[recent.length - 1]!.seq : 1;
  let verbatim = true;
  for await (const item of readForwardedAudit(file)) {
    out.linesRead = item.line;
    if (item.kind === 'bad') {
      if (out.badLines.length < MAX_BAD_LINES) out.badLines.push({ line: item.line, reason: item.reason });
      continue;
    }
    const e = item.entry;
    // Idempotent: entries the backup has change nothing.
    await applyEffect(store, e, issuers, archivedUpTo, out);
    // In the restored log already (older than the recent window, or the same hash in it).
    if (e.seq < oldestRecent || recentHashes.has(e.hash)) continue;
    if (verbatim && (e.prevHash !== out.head.hash || e.seq !== out.head.seq + 1)) {
      verbatim = false;
      out.auditGap = `entry ${e.seq} does not continue the restored log at entry ${out.head.seq} (its previous hash ${e.prevHash.slice(0, 16)}… is not ${out.head.hash.slice(0, 16)}…): `
        + 'the restored log has entries of its own after the backup (the restore itself), or the copy misses entries; from here on entries go back as audit.replayed';
    }
    if (verbatim) {
      await store.appendAudit((prev) => {
        if ((prev?.hash ?? GENESIS_HASH) !== e.prevHash) throw new Error(`the audit log moved while reconciling (head ${prev?.seq ?? 0})`);
        return e;
      });
      out.auditAppended++;
      out.head = { seq: e.seq, hash: e.hash };
    } else {
      const r = await audit.record({
        actor: 'system', source: 'reconcile', channel: 'system', action: 'audit.replayed', target: `audit:${e.seq}`, outcome: 'success',
        details: { original: { ...e, time: e.time.toISOString() } },
      });
      out.auditReplayed++;
      out.head = { seq: r.seq, hash: r.hash };
    }
  }
  return out;
}

/**
 * Tidy removes expired certificates in (notAfter, serial) order and audits each batch with the newest
 * notAfter it removed: a certificate expiring at or before the newest of those was archived, not lost.
 */
async function newestArchived(file: string): Promise<number> {
  let newest = Number.NEGATIVE_INFINITY;
  for await (const item of readForwardedAudit(file)) {
    if (item.kind !== 'entry' || item.entry.action !== 'certificate.archive' || item.entry.outcome !== 'success') continue;
    const t = Date.parse(String(item.entry.details?.newestNotAfter ?? ''));
    if (t > newest) newest = t;
  }
  return newest;
}

async function applyEffect(store: Store, e: AuditEntry, issuers: Set<string>, archivedUpTo: number, out: ReconcileReport): Promise<void> {
  if (e.outcome !== 'success' || !e.target.startsWith('serial:')) return;
  const serial = e.target.slice('serial:'.length);
  if (e.action === 'certificate.issue') {
    if (await store.getCertificate(serial)) { out.alreadyPresent++; return; }
    const rec = recordFrom(e, serial, issuers);
    if (typeof rec === 'string') {
      const issuerId = typeof e.details?.issuerId === 'string' ? e.details.issuerId : undefined;
      out.unrecoverable.push({ serial, seq: e.seq, reason: rec, ...(issuerId ? { issuerId } : {}) });
      return;
    }
    if (rec.notAfter.getTime() <= archivedUpTo) { out.archived.push(serial); return; }
    await store.insertCertificate(rec);
    out.restored.push(serial);
    // A certificate named unrecoverable earlier and put back by a later entry is not lost.
    out.unrecoverable = out.unrecoverable.filter((u) => u.serial !== serial);
  } else if (e.action === 'certificate.revoke') {
    const cur = await store.getCertificate(serial);
    if (!cur || cur.status === 'revoked') return;
    const reason = reasonFromName(String(e.details?.reason ?? 'unspecified')) ?? 0;
    const at = typeof e.details?.revokedAt === 'string' && !Number.isNaN(Date.parse(e.details.revokedAt)) ? new Date(e.details.revokedAt) : e.time;
    await store.revokeCertificate(serial, reason, at, () => encodeRevokedEntry({ serialHex: serial, revokedAt: at, reason }));
    out.revoked.push(serial);
  }
}

function recordFrom(e: AuditEntry, serial: string, issuers: Set<string>): CertificateRecord | string {
  const d = e.details ?? {};
  if (typeof d.der !== 'string') return 'its issuance entry carries no DER (written before issuance entries carried the certificate)';
  const der = new Uint8Array(Buffer.from(d.der, 'base64'));
  let inDer: string;
  try { inDer = certificateSerialHex(der); } catch (err) { return `the DER in its issuance entry does not parse (${(err as Error).message})`; }
  if (inDer !== serial) return `the DER in its issuance entry carries serial ${inDer}`;
  const issuerId = typeof d.issuerId === 'string' ? d.issuerId : '';
  if (!issuers.has(issuerId)) return `its issuer ${issuerId || '(not named)'} is not in the restored database`;
  const date = (v: unknown): Date | null => (typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? new Date(v) : null);
  const notBefore = date(d.notBefore);
  const notAfter = date(d.notAfter);
  if (!notBefore || !notAfter) return 'its issuance entry lacks the validity dates';
  return {
    serial, issuerId, profile: typeof d.profile === 'string' ? d.profile : 'unknown', subject: typeof d.subject === 'string' ? d.subject : '',
    sans: Array.isArray(d.sans) ? d.sans.filter((s): s is string => typeof s === 'string') : [], notBefore, notAfter, der,
    status: 'good', revokedAt: null, revocationReason: null, createdAt: e.time, requester: e.actor,
    crlShard: typeof d.crlShard === 'number' ? d.crlShard : null,
  };
}
