/**
 * Optional sealing of a share with its custodian's own passphrase: scrypt
 * and AES-256-GCM, the same construction as software keys at rest
 * (key-encryption.ts), with the backup id and share index bound as
 * additional data so a sealed share cannot pass for another one.
 */
import { sealSync, unsealSync, type SealedBlob } from '../software/key-encryption.js';
import { CustodyError, describeShare } from './custody-error.js';

export const MIN_PASSPHRASE_LENGTH = 12;

function aad(backupId: string, index: number): string {
  return `rampart-key-share:${backupId}:${index}`;
}

export function checkPassphrase(custodian: string, passphrase: Uint8Array): void {
  if (Buffer.from(passphrase).toString('utf8').length < MIN_PASSPHRASE_LENGTH) {
    throw new CustodyError('invalid-request', `the passphrase of custodian ${custodian} is too short (at least ${MIN_PASSPHRASE_LENGTH} characters)`, { custodian });
  }
}

/** The sealed form of a share (what goes into the share block's data). */
export function sealShare(passphrase: Uint8Array, share: Uint8Array, backupId: string, index: number): Uint8Array {
  return new Uint8Array(Buffer.from(JSON.stringify(sealSync(passphrase, share, aad(backupId, index))), 'utf8'));
}

export function unsealShare(passphrase: Uint8Array, data: Uint8Array, s: { backupId: string; index: number; custodian: string; source?: string }): Uint8Array {
  let blob: SealedBlob;
  try {
    blob = JSON.parse(Buffer.from(data).toString('utf8')) as SealedBlob;
  } catch {
    throw new CustodyError('format', `${describeShare(s)} says it is sealed, but its data is not a sealed share`, s);
  }
  if (typeof blob !== 'object' || blob === null || !(blob.n >= 2 && blob.n <= 1 << 20 && blob.r >= 1 && blob.r <= 32 && blob.p >= 1 && blob.p <= 16)) {
    throw new CustodyError('format', `${describeShare(s)}: sealed share with unsupported parameters`, s);
  }
  try {
    const clear = unsealSync(passphrase, blob, aad(s.backupId, s.index));
    const share = new Uint8Array(clear);
    clear.fill(0);
    return share;
  } catch {
    throw new CustodyError('passphrase', `${describeShare(s)}: wrong passphrase (or the sealed share was altered)`, s);
  }
}
