/**
 * AES-256 key wrap with padding (RFC 5649), the one format in which a private
 * key leaves a backend for a backup: the wrapped value is the PKCS#8
 * PrivateKeyInfo, as PKCS#11 C_WrapKey(CKM_AES_KEY_WRAP_PAD) produces it.
 * Unwrapping checks RFC 5649's integrity value, so a wrong key-encryption key
 * is always detected (never a silently wrong key).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

export const WRAP_METHOD = 'aes-256-kwp-pkcs8';
export const KEK_BYTES = 32;
/** RFC 5649 alternative initial value (the 32-bit prefix; node:crypto wants it as the IV). */
const AIV = Buffer.from('A65959A6', 'hex');
const CIPHER = 'id-aes256-wrap-pad';

export class KeyUnwrapError extends Error {
  constructor(message = 'key unwrap failed: wrong key-encryption key, or the wrapped key was altered') {
    super(message);
    this.name = 'KeyUnwrapError';
  }
}

function checkKek(kek: Uint8Array): void {
  if (kek.length !== KEK_BYTES) throw new Error(`key-encryption key must be ${KEK_BYTES} bytes (got ${kek.length})`);
}

export function wrapKey(kek: Uint8Array, plaintext: Uint8Array): Uint8Array {
  checkKek(kek);
  const c = createCipheriv(CIPHER, kek, AIV);
  return new Uint8Array(Buffer.concat([c.update(plaintext), c.final()]));
}

/** Returns the unwrapped bytes (the caller wipes them); throws KeyUnwrapError when the integrity check fails. */
export function unwrapKey(kek: Uint8Array, wrapped: Uint8Array): Buffer {
  checkKek(kek);
  if (wrapped.length < 16 || wrapped.length % 8 !== 0) throw new KeyUnwrapError(`wrapped key has an impossible length (${wrapped.length} bytes; RFC 5649 output is a multiple of 8, at least 16)`);
  const parts: Buffer[] = [];
  try {
    const d = createDecipheriv(CIPHER, kek, AIV);
    parts.push(d.update(wrapped));
    parts.push(d.final());
    return Buffer.concat(parts);
  } catch {
    throw new KeyUnwrapError();
  } finally {
    for (const p of parts) p.fill(0);
  }
}
