/**
 * Splitting the one-time key-encryption key into custodian shares and joining
 * them again: Shamir's secret sharing over GF(2^8) (npm shamir-secret-sharing,
 * independently audited). Any K shares give the key; K-1 give no information
 * about it. Note that combining wrong or too few shares does not fail here:
 * it yields a wrong key, which the AES-KWP integrity check then catches.
 */
import { combine, split } from 'shamir-secret-sharing';
import { CustodyError } from './custody-error.js';
import { sha256Hex } from './fingerprints.js';
import { MAX_SHARES } from './share-format.js';

export const DEFAULT_THRESHOLD = 3;
export const DEFAULT_SHARES = 5;

export function checkSharing(threshold: number, shares: number): void {
  if (!Number.isInteger(shares) || shares < 2 || shares > MAX_SHARES) {
    throw new CustodyError('invalid-request', `the number of shares must be 2..${MAX_SHARES} (got ${shares})`);
  }
  if (!Number.isInteger(threshold) || threshold < 2 || threshold > shares) {
    throw new CustodyError('invalid-request', `the threshold must be 2..${shares} (the number of shares; got ${threshold})`);
  }
}

export async function splitKek(kek: Uint8Array, shares: number, threshold: number): Promise<Uint8Array[]> {
  checkSharing(threshold, shares);
  return split(kek, shares, threshold);
}

export async function combineShares(shares: Uint8Array[]): Promise<Uint8Array> {
  if (shares.length < 2) throw new CustodyError('insufficient', `need at least 2 shares to combine, have ${shares.length}`);
  try {
    return await combine(shares);
  } catch (e) {
    throw new CustodyError('reconstruct', `these shares do not reconstruct the key: ${(e as Error).message}`);
  }
}

/** What the backup file records of each share: SHA-256 over "<backupId>:<index>:" and the raw share. */
export function shareDigest(backupId: string, index: number, share: Uint8Array): string {
  return sha256Hex(Buffer.concat([Buffer.from(`${backupId}:${index}:`, 'utf8'), share]));
}
