/**
 * Issuers whose private key is not on this node: a root kept on an offline
 * host (`rampart root`). Their records carry this key backend, so nothing on
 * the node asks a key backend for them or tries to sign with them.
 */
import { createHash } from 'node:crypto';
import type { IssuerRecord } from '../core/types.js';

export { OFFLINE_KEY_BACKEND, isOfflineIssuer } from '../core/offline-key.js';

/** A key reference that names the certificate, not a key: `offline-<first 16 hex of its SHA-256>`. */
export function offlineKeyRef(certDer: Uint8Array): string {
  return `offline-${createHash('sha256').update(certDer).digest('hex').slice(0, 16)}`;
}

export function offlineKeyError(i: Pick<IssuerRecord, 'id' | 'subject' | 'kind'>): Error {
  const hint = i.kind === 'root'
    ? 'its CRL comes from `rampart root crl` on the offline host and is published with `rampart ca import-crl`; new intermediates are signed with `rampart root sign`'
    : 'it cannot sign on this node';
  return new Error(`${i.kind} CA ${i.id} (${i.subject}) keeps its key offline: ${hint}`);
}
