/** Records the conformance suites store: one issuer, certificates under it. */
import type { CertificateRecord, IssuerRecord } from '../../core/types.js';
import type { AuditBuilder } from '../store.js';

export const T0 = Date.UTC(2026, 0, 1);
export const DAY = 86_400_000;

export function issuer(id: string): IssuerRecord {
  return {
    id, kind: 'intermediate', subject: `CN=${id}`, parentId: null, certDer: new Uint8Array([1, 2, 3]), keyRef: `k-${id}`,
    keyBackend: 'software', notBefore: new Date(T0), notAfter: new Date(T0 + 1000 * DAY), active: true, createdAt: new Date(T0),
  };
}

export function cert(serial: string, issuerId: string, over: Partial<CertificateRecord> = {}): CertificateRecord {
  return {
    serial, issuerId, profile: 'server', subject: `CN=${serial}.example.test`, sans: [`${serial}.example.test`],
    notBefore: new Date(T0), notAfter: new Date(T0 + 90 * DAY), der: new Uint8Array([serial.length]), status: 'good',
    revokedAt: null, revocationReason: null, createdAt: new Date(T0), requester: 'token:a', ...over,
  };
}

/** An audit builder for `action` on `target` (hashes are placeholders: the store only chains what it is given). */
export function auditOf(action: string, target: string): AuditBuilder {
  return (prev) => ({
    seq: (prev?.seq ?? 0) + 1, prevHash: prev?.hash ?? 'genesis', hash: `h${(prev?.seq ?? 0) + 1}`, time: new Date(T0),
    actor: 'system', source: 'local', channel: 'system', action, target, outcome: 'success', details: {},
  });
}
