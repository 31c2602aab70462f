/**
 * Encryption at rest for software keys: AES-256-GCM under a key derived with
 * scrypt from a passphrase (or the contents of a key file). Each sealed blob
 * carries its own salt and IV; the label is bound as additional data so a
 * blob cannot be swapped for another key's.
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';

export interface SealedBlob {
  v: 1;
  kdf: 'scrypt';
  n: number;
  r: number;
  p: number;
  salt: string;
  iv: string;
  tag: string;
  ct: string;
}

const SCRYPT = { n: 1 << 15, r: 8, p: 1 };

function derive(secret: Uint8Array, salt: Buffer, n: number, r: number, p: number): Buffer {
  return scryptSync(secret, salt, 32, { N: n, r, p, maxmem: 256 * n * r });
}

export function seal(secret: Uint8Array, plaintext: Uint8Array, aad: string): SealedBlob {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const key = derive(secret, salt, SCRYPT.n, SCRYPT.r, SCRYPT.p);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  key.fill(0);
  return {
    v: 1, kdf: 'scrypt', ...SCRYPT,
    salt: salt.toString('base64'), iv: iv.toString('base64'),
    tag: c.getAuthTag().toString('base64'), ct: ct.toString('base64'),
  };
}

export function unseal(secret: Uint8Array, blob: SealedBlob, aad: string): Buffer {
  if (blob.v !== 1 || blob.kdf !== 'scrypt') throw new Error('unsupported sealed key format');
  const key = derive(secret, Buffer.from(blob.salt, 'base64'), blob.n, blob.r, blob.p);
  try {
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(blob.iv, 'base64'));
    d.setAAD(Buffer.from(aad, 'utf8'));
    d.setAuthTag(Buffer.from(blob.tag, 'base64'));
    return Buffer.concat([d.update(Buffer.from(blob.ct, 'base64')), d.final()]);
  } catch {
    throw new Error('cannot decrypt key: wrong passphrase or key file, or the key file was altered');
  } finally {
    key.fill(0);
  }
}
