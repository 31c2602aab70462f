/** SHA-256 fingerprints as printed in backups, ceremony records and `rampart init` (AA:BB:...). */
import { createHash } from 'node:crypto';

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256Colon(data: Uint8Array): string {
  return sha256Hex(data).toUpperCase().replace(/(..)(?=.)/g, '$1:');
}
