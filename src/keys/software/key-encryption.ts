/**
 * Encryption at rest for software keys: AES-256-GCM under a key derived with
 * scrypt from a passphrase (or the contents of a key file). Each sealed blob
 * carries its own salt and IV; the label is bound as additional data so a
 * blob cannot be swapped for another key's. The scrypt derivation (~90 ms
 * here) runs on libuv's thread pool: a key loaded on first use, or an ACME
 * account bound with an EAB key, does not hold the thread that answers OCSP.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt, scryptSync } from 'node:crypto';

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

const scryptOptions = (n: number, r: number, p: number) => ({ N: n, r, p, maxmem: 256 * n * r });

function derive(secret: Uint8Array, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(secret, salt, 32, scryptOptions(n, r, p), (e, key) => (e ? reject(e) : resolve(key))));
}

function encrypt(key: Buffer, salt: Buffer, plaintext: Uint8Array, aad: string): SealedBlob {
  const iv = randomBytes(12);
  try {
    const c = createCipheriv('aes-256-gcm', key, iv);
    c.setAAD(Buffer.from(aad, 'utf8'));
    const ct = Buffer.concat([c.update(plaintext), c.final()]);
    return {
      v: 1, kdf: 'scrypt', ...SCRYPT,
      salt: salt.toString('base64'), iv: iv.toString('base64'),
      tag: c.getAuthTag().toString('base64'), ct: ct.toString('base64'),
    };
  } finally {
    key.fill(0);
  }
}

function decrypt(key: Buffer, blob: SealedBlob, aad: string): Buffer {
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

function checkFormat(blob: SealedBlob): void {
  if (blob.v !== 1 || blob.kdf !== 'scrypt') throw new Error('unsupported sealed key format');
}

export async function seal(secret: Uint8Array, plaintext: Uint8Array, aad: string): Promise<SealedBlob> {
  const salt = randomBytes(16);
  return encrypt(await derive(secret, salt, SCRYPT.n, SCRYPT.r, SCRYPT.p), salt, plaintext, aad);
}

export async function unseal(secret: Uint8Array, blob: SealedBlob, aad: string): Promise<Buffer> {
  checkFormat(blob);
  return decrypt(await derive(secret, Buffer.from(blob.salt, 'base64'), blob.n, blob.r, blob.p), blob, aad);
}

/** seal on the calling thread: for CLI ceremonies, never on a serving node. */
export function sealSync(secret: Uint8Array, plaintext: Uint8Array, aad: string): SealedBlob {
  const salt = randomBytes(16);
  return encrypt(scryptSync(secret, salt, 32, scryptOptions(SCRYPT.n, SCRYPT.r, SCRYPT.p)), salt, plaintext, aad);
}

/** unseal on the calling thread: for CLI ceremonies, never on a serving node. */
export function unsealSync(secret: Uint8Array, blob: SealedBlob, aad: string): Buffer {
  checkFormat(blob);
  return decrypt(scryptSync(secret, Buffer.from(blob.salt, 'base64'), 32, scryptOptions(blob.n, blob.r, blob.p)), blob, aad);
}
