/**
 * Certificate serial numbers: 16 random bytes (128 bits, of which at least
 * 120 are random), encoded as a positive INTEGER of at most 20 octets
 * (RFC 5280 4.1.2.2). The high bit is cleared and the first octet is never
 * zero, so the DER form never needs padding and never loses entropy.
 */
import { randomBytes } from 'node:crypto';

export function randomSerial(): Buffer {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01 << 6; // 0b01xxxxxx: positive, non-zero first octet
  return b;
}

export function serialHex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** Normalizes a user-supplied serial (hex, optional colons or 0x) to lower-case hex without leading zero octets. */
export function normalizeSerial(input: string): string | null {
  let s = input.trim().toLowerCase().replace(/^0x/, '').replace(/:/g, '');
  if (!/^[0-9a-f]+$/.test(s) || s.length > 42) return null;
  if (s.length % 2) s = `0${s}`;
  while (s.length > 2 && s.startsWith('00')) s = s.slice(2);
  return s;
}
