/**
 * Issuers whose private key is not on this node (a root kept on an offline
 * host) carry this key backend in their records. Core, so that layers below
 * the CA (the integrity check) can tell them apart too.
 */
import type { IssuerRecord } from './types.js';

export const OFFLINE_KEY_BACKEND = 'offline';

export function isOfflineIssuer(i: Pick<IssuerRecord, 'keyBackend'>): boolean {
  return i.keyBackend === OFFLINE_KEY_BACKEND;
}
