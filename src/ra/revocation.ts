/** The revocation workflow: durable with its audit entry (one transaction), then OCSP and CRL refresh through events. */
import type { Clock } from '../core/clock.js';
import type { CaEvents } from '../core/events.js';
import type { CertificateRecord } from '../core/types.js';
import { normalizeSerial } from '../core/serial.js';
import { RampartError, isRampartError } from '../core/errors.js';
import type { AuditLog } from '../audit/audit-log.js';
import { reasonFromName, reasonName } from '../pki/revocation-reasons.js';
import { encodeRevokedEntry } from '../pki/crl-builder.js';
import type { CertificateStore } from '../storage/store.js';
import type { Actor } from '../core/actor.js';
import type { WriteGate } from '../cluster/cluster.js';

export interface RevocationServiceOptions {
  store: CertificateStore;
  audit: AuditLog;
  clock: Clock;
  events: CaEvents;
  gate?: WriteGate;
}

export class RevocationService {
  constructor(private readonly o: RevocationServiceOptions) {}

  async revoke(serialInput: string, reasonInput: string | number, actor: Actor): Promise<CertificateRecord> {
    const serial = normalizeSerial(serialInput);
    try {
      if (!serial) throw new RampartError('malformed', `"${serialInput}" is not a hexadecimal serial number`);
      const reason = reasonFromName(reasonInput);
      if (reason === null) {
        throw new RampartError('malformed', `unknown revocation reason "${String(reasonInput)}" (RFC 5280 CRLReason name or code, e.g. keyCompromise or 1)`);
      }
      if (reason === 8) throw new RampartError('malformed', 'removeFromCRL is only used in delta CRLs and cannot be requested');
      const fence = this.o.gate?.writeFence();
      const at = this.o.clock.now();
      // The audit entry commits with the revocation: a lost answer leaves both or neither (fault lab scenario 3).
      const audit = this.o.audit.builder({
        actor: actor.id, source: actor.source, channel: actor.channel, action: 'certificate.revoke', target: `serial:${serial}`,
        outcome: 'success', details: { reason: reasonName(reason), revokedAt: at.toISOString() },
      });
      const rec = await this.o.store.revokeCertificate(serial, reason, at, () => encodeRevokedEntry({ serialHex: serial, revokedAt: at, reason }), fence, audit);
      this.o.events.emit('revoked', rec);
      return rec;
    } catch (e) {
      if (isRampartError(e)) {
        await this.o.audit.record({
          actor: actor.id, source: actor.source, channel: actor.channel, action: 'certificate.revoke', target: `serial:${serial ?? serialInput.slice(0, 64)}`,
          outcome: 'failure', details: { error: e.code, message: e.message },
        });
      }
      throw e;
    }
  }
}
