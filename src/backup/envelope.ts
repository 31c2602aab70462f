/**
 * Envelope encryption for backups: every object is encrypted with its own
 * random 256-bit data key (AES-256-GCM, the object key as additional data, so
 * objects cannot be swapped), and the data key is wrapped (AES-256-GCM) under
 * the backup key-encryption key. The KEK is derived once with scrypt from the
 * backup passphrase (or the node secret) and a salt stored in the clear.
 *
 * Layout: magic "RBK1" | 1-byte version | 16-byte salt | 12-byte KEK IV | 48-byte wrapped data key (32 + tag) |
 *         12-byte data IV | ciphertext | 16-byte tag.
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';

const MAGIC = Buffer.from('RBK1');
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 256 * (1 << 15) * 8 };

export class BackupDecryptError extends Error {
  override name = 'BackupDecryptError';
}

/** A KEK with its salt; derive once per process and reuse (scrypt is slow on purpose). */
export interface BackupKek { salt: Buffer; key: Buffer }

const kekCache = new Map<string, BackupKek>();

export function deriveKek(secret: Uint8Array, salt: Buffer): BackupKek {
  const id = `${Buffer.from(secret).toString('base64')}:${salt.toString('hex')}`;
  let k = kekCache.get(id);
  if (!k) {
    k = { salt, key: scryptSync(secret, salt, 32, SCRYPT) };
    kekCache.set(id, k);
  }
  return k;
}

export function newKek(secret: Uint8Array): BackupKek {
  return deriveKek(secret, randomBytes(16));
}

function gcm(key: Buffer, iv: Buffer, data: Buffer, aad: Buffer): { ct: Buffer; tag: Buffer } {
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(data), c.final()]);
  return { ct, tag: c.getAuthTag() };
}

export function encryptObject(kek: BackupKek, objectKey: string, plaintext: Uint8Array): Buffer {
  const aad = Buffer.from(objectKey, 'utf8');
  const dataKey = randomBytes(32);
  const kekIv = randomBytes(12);
  const wrapped = gcm(kek.key, kekIv, dataKey, aad);
  const dataIv = randomBytes(12);
  const body = gcm(dataKey, dataIv, Buffer.from(plaintext), aad);
  dataKey.fill(0);
  return Buffer.concat([MAGIC, Buffer.from([1]), kek.salt, kekIv, wrapped.ct, wrapped.tag, dataIv, body.ct, body.tag]);
}

/** The salt of an encrypted object (to derive its KEK). Throws BackupDecryptError when the object is not one of ours. */
export function objectSalt(blob: Uint8Array): Buffer {
  const b = Buffer.from(blob);
  if (b.length < 4 + 1 + 16 + 12 + 48 + 12 + 16 || !b.subarray(0, 4).equals(MAGIC)) throw new BackupDecryptError('not a Rampart backup object (bad magic or truncated)');
  if (b[4] !== 1) throw new BackupDecryptError(`unsupported backup object version ${b[4]}`);
  return b.subarray(5, 21);
}

export function decryptObject(secret: Uint8Array, objectKey: string, blob: Uint8Array): Buffer {
  let salt: Buffer;
  try {
    salt = objectSalt(blob);
  } catch (e) {
    throw new BackupDecryptError(`cannot decrypt ${objectKey}: ${(e as Error).message}`);
  }
  const b = Buffer.from(blob);
  const kek = deriveKek(secret, Buffer.from(salt));
  const aad = Buffer.from(objectKey, 'utf8');
  let o = 21;
  const kekIv = b.subarray(o, (o += 12));
  const wrappedKey = b.subarray(o, (o += 32));
  const wrappedTag = b.subarray(o, (o += 16));
  const dataIv = b.subarray(o, (o += 12));
  const ct = b.subarray(o, b.length - 16);
  const tag = b.subarray(b.length - 16);
  let dataKey: Buffer;
  try {
    const d = createDecipheriv('aes-256-gcm', kek.key, kekIv);
    d.setAAD(aad);
    d.setAuthTag(wrappedTag);
    dataKey = Buffer.concat([d.update(wrappedKey), d.final()]);
  } catch {
    throw new BackupDecryptError(`cannot decrypt ${objectKey}: wrong backup passphrase or key, or the object was altered or renamed`);
  }
  try {
    const d = createDecipheriv('aes-256-gcm', dataKey, dataIv);
    d.setAAD(aad);
    d.setAuthTag(tag);
    return Buffer.concat([d.update(ct), d.final()]);
  } catch {
    throw new BackupDecryptError(`cannot decrypt ${objectKey}: the object is truncated or altered`);
  } finally {
    dataKey.fill(0);
  }
}
