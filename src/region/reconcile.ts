/**
 * What a failed-over region committed that the new active region never
 * received: certificates it issued and revocations it recorded after the
 * last transaction the new region replayed. Those certificates exist in the
 * world (their holders use them), so before the old region's database is
 * rewound (which discards them) they are copied into the active region's
 * inventory, and the revocations are applied there, each with an audit
 * entry. This is the exact RPO of an unplanned failover, and its repair.
 */
import type { Sql } from 'postgres';
import { AuditLog } from '../audit/audit-log.js';
import type { CertificateRecord } from '../core/types.js';
import { systemClock } from '../core/clock.js';
import { isRampartError } from '../core/errors.js';
import { encodeRevokedEntry } from '../pki/crl-builder.js';
import { toCert } from '../storage/row-mapping.js';
import type { Store } from '../storage/store.js';

export interface ReconcileReport {
  /** Certificates the old region issued that the active region did not have (now recovered into it). */
  recoveredCertificates: string[];
  /** Revocations the old region recorded that the active region did not have (now applied). */
  recoveredRevocations: string[];
  /** Looked at rows created or revoked at or after this time (the old region's clock). */
  since: string;
  scanned: number;
}

/**
 * Compares the old region's certificates created or revoked since `since`
 * with the active region's store, and recovers what is missing there.
 * `dryRun` only lists.
 */
export async function reconcileDivergence(old: Sql, active: Store, since: Date, o: { actor: string; fromRegion: string; dryRun?: boolean }): Promise<ReconcileReport> {
  const rows = await old`SELECT * FROM certificates WHERE created_at >= ${since.getTime()} OR revoked_at >= ${since.getTime()} ORDER BY seq`;
  const audit = new AuditLog({ store: active, clock: systemClock });
  const report: ReconcileReport = { recoveredCertificates: [], recoveredRevocations: [], since: since.toISOString(), scanned: rows.length };
  for (const row of rows) {
    const cert: CertificateRecord = toCert(row);
    let mine = await active.getCertificate(cert.serial);
    if (!mine) {
      report.recoveredCertificates.push(cert.serial);
      if (o.dryRun) continue;
      // Stored as issued (good); a revocation it had is applied below like any other.
      const asIssued: CertificateRecord = { ...cert, status: 'good', revokedAt: null, revocationReason: null };
      await active.insertCertificate(asIssued, undefined, undefined, audit.builder({
        actor: o.actor, source: 'cli', channel: 'cli', action: 'certificate.recover', target: `serial:${cert.serial}`, outcome: 'success',
        details: { fromRegion: o.fromRegion, reason: 'issued by a failed-over region after the last transaction the active region replayed', subject: cert.subject, createdAt: cert.createdAt.toISOString() },
      }));
      mine = asIssued;
    }
    if (cert.status === 'revoked' && mine.status !== 'revoked' && cert.revokedAt) {
      report.recoveredRevocations.push(cert.serial);
      if (o.dryRun) continue;
      const reason = cert.revocationReason ?? 0;
      const at = cert.revokedAt;
      try {
        await active.revokeCertificate(cert.serial, reason, at, () => encodeRevokedEntry({ serialHex: cert.serial, revokedAt: at, reason }));
      } catch (e) {
        if (!(isRampartError(e) && e.code === 'alreadyRevoked')) throw e;
      }
      await audit.record({
        actor: o.actor, source: 'cli', channel: 'cli', action: 'certificate.revoke', target: `serial:${cert.serial}`, outcome: 'success',
        details: { fromRegion: o.fromRegion, recovered: true, reason, revokedAt: at.toISOString() },
      });
    }
  }
  return report;
}
