/**
 * Envelope encryption for backups: every object is encrypted with its own
 * random 256-bit data key, wrapped (AES-256-GCM, the object key as additional
 * data, so objects cannot be swapped) under the backup key-encryption key.
 * The KEK is derived with scrypt from the backup passphrase (or the node
 * secret) and a salt stored in the clear.
 *
 * Version 2 (written now) is chunked so any size streams in bounded memory
 * (envelope-chunks.ts): fixed-size AES-256-GCM chunks, nonce = per-object
 * random prefix + chunk counter, the chunk index and a final-chunk flag in the
 * associated data (reordering, truncation and extension fail).
 *   "RBK1" | 2 | salt 16 | KEK IV 12 | wrapped data key 32 + tag 16 | nonce prefix 8 | chunk size u32 | chunks (ct + tag 16)
 * Version 1 (read only): one GCM body.
 *   "RBK1" | 1 | salt 16 | KEK IV 12 | wrapped data key 32 + tag 16 | data IV 12 | ciphertext | tag 16
 *
 * Buffers: encryptObject / decryptObject. Streams: encryptStream / decryptStream
 * (async-generator transforms for stream.pipeline).
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt, scryptSync } from 'node:crypto';
import { ChunkOpener, ChunkSealer, HEADER_V2_BYTES, TAG_BYTES, V2, headerV2, parseHeaderV2, type DataKeyWrap } from './envelope-chunks.js';

const MAGIC = Buffer.from('RBK1');
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 256 * (1 << 15) * 8 };
const V1_MIN = 4 + 1 + 16 + 12 + 48 + 12 + 16;

export class BackupDecryptError extends Error {
  override name = 'BackupDecryptError';
}

/** A KEK with its salt; derive once per process and reuse (scrypt is slow on purpose). */
export interface BackupKek { salt: Buffer; key: Buffer }

const kekCache = new Map<string, BackupKek>();
const cacheId = (secret: Uint8Array, salt: Buffer): string => `${Buffer.from(secret).toString('base64')}:${salt.toString('hex')}`;

export function deriveKek(secret: Uint8Array, salt: Buffer): BackupKek {
  const id = cacheId(secret, salt);
  let k = kekCache.get(id);
  if (!k) {
    k = { salt, key: scryptSync(secret, salt, 32, SCRYPT) };
    kekCache.set(id, k);
  }
  return k;
}

/** As deriveKek, on the libuv thread pool (does not block the event loop of a running node). */
export async function deriveKekAsync(secret: Uint8Array, salt: Buffer): Promise<BackupKek> {
  const id = cacheId(secret, salt);
  const cached = kekCache.get(id);
  if (cached) return cached;
  const key = await new Promise<Buffer>((res, rej) => scrypt(secret, salt, 32, SCRYPT, (e, k) => (e ? rej(e) : res(k))));
  const k = { salt, key };
  kekCache.set(id, k);
  return k;
}

export function newKek(secret: Uint8Array): BackupKek {
  return deriveKek(secret, randomBytes(16));
}

export function newKekAsync(secret: Uint8Array): Promise<BackupKek> {
  return deriveKekAsync(secret, randomBytes(16));
}

function gcm(key: Buffer, iv: Buffer, data: Buffer, aad: Buffer): { ct: Buffer; tag: Buffer } {
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(data), c.final()]);
  return { ct, tag: c.getAuthTag() };
}

function newWrap(kek: BackupKek, objectKey: string): { dataKey: Buffer; wrap: DataKeyWrap } {
  const dataKey = randomBytes(32);
  const kekIv = randomBytes(12);
  const w = gcm(kek.key, kekIv, dataKey, Buffer.from(objectKey, 'utf8'));
  return { dataKey, wrap: { salt: kek.salt, kekIv, wrapped: w.ct, wrapTag: w.tag } };
}

function unwrap(kek: BackupKek, objectKey: string, w: DataKeyWrap): Buffer {
  try {
    const d = createDecipheriv('aes-256-gcm', kek.key, w.kekIv);
    d.setAAD(Buffer.from(objectKey, 'utf8'));
    d.setAuthTag(w.wrapTag);
    return Buffer.concat([d.update(w.wrapped), d.final()]);
  } catch {
    throw new BackupDecryptError(`cannot decrypt ${objectKey}: wrong backup passphrase or key, or the object was altered or renamed`);
  }
}

function badObject(objectKey: string, reason: string): BackupDecryptError {
  return new BackupDecryptError(`cannot decrypt ${objectKey}: ${reason}`);
}

/** The format version of an object (throws BackupDecryptError when the object is not one of ours). */
function versionOf(objectKey: string, head: Buffer): number {
  if (head.length < 5 || !head.subarray(0, 4).equals(MAGIC)) throw badObject(objectKey, 'not a Rampart backup object (bad magic or truncated)');
  if (head[4] !== 1 && head[4] !== V2) throw badObject(objectKey, `unsupported backup object version ${head[4]}`);
  return head[4]!;
}

function startSealer(kek: BackupKek, objectKey: string): { header: Buffer; sealer: ChunkSealer } {
  const { dataKey, wrap } = newWrap(kek, objectKey);
  const header = headerV2(MAGIC, wrap, randomBytes(8));
  return { header, sealer: new ChunkSealer(dataKey, objectKey, header) };
}

/** Encrypts a whole buffer (format 2). */
export function encryptObject(kek: BackupKek, objectKey: string, plaintext: Uint8Array): Buffer {
  const { header, sealer } = startSealer(kek, objectKey);
  return Buffer.concat([header, ...sealer.push(Buffer.from(plaintext)), sealer.finish()]);
}

/** A stream.pipeline transform: plaintext in, an encrypted object (format 2) out, in bounded memory. */
export function encryptStream(kek: BackupKek, objectKey: string): (source: AsyncIterable<Uint8Array>) => AsyncGenerator<Buffer> {
  return async function* seal(source) {
    const { header, sealer } = startSealer(kek, objectKey);
    yield header;
    for await (const piece of source) yield* sealer.push(Buffer.from(piece));
    yield sealer.finish();
  };
}

function decryptV1(secret: Uint8Array, objectKey: string, b: Buffer): Buffer {
  if (b.length < V1_MIN) throw badObject(objectKey, 'not a Rampart backup object (bad magic or truncated)');
  const kek = deriveKek(secret, Buffer.from(b.subarray(5, 21)));
  let o = 21;
  const wrap: DataKeyWrap = { salt: kek.salt, kekIv: b.subarray(o, (o += 12)), wrapped: b.subarray(o, (o += 32)), wrapTag: b.subarray(o, (o += 16)) };
  const dataKey = unwrap(kek, objectKey, wrap);
  const dataIv = b.subarray(o, (o += 12));
  try {
    const d = createDecipheriv('aes-256-gcm', dataKey, dataIv);
    d.setAAD(Buffer.from(objectKey, 'utf8'));
    d.setAuthTag(b.subarray(b.length - TAG_BYTES));
    return Buffer.concat([d.update(b.subarray(o, b.length - TAG_BYTES)), d.final()]);
  } catch {
    throw badObject(objectKey, 'the object is truncated or altered');
  } finally {
    dataKey.fill(0);
  }
}

function openerFor(kek: BackupKek, objectKey: string, header: Buffer): ChunkOpener {
  const h = parseHeaderV2(header);
  return new ChunkOpener(unwrap(kek, objectKey, h.wrap), objectKey, header, h.chunkBytes, () => badObject(objectKey, 'the object is truncated or altered'));
}

/** Decrypts a whole object of either format. */
export function decryptObject(secret: Uint8Array, objectKey: string, blob: Uint8Array): Buffer {
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (versionOf(objectKey, b) === 1) return decryptV1(secret, objectKey, b);
  if (b.length < HEADER_V2_BYTES) throw badObject(objectKey, 'not a Rampart backup object (bad magic or truncated)');
  const header = b.subarray(0, HEADER_V2_BYTES);
  const opener = openerFor(deriveKek(secret, parseHeaderV2(header).wrap.salt), objectKey, header);
  return Buffer.concat([...opener.push(b.subarray(HEADER_V2_BYTES)), ...opener.finish()]);
}

/**
 * A stream.pipeline transform: an encrypted object in, plaintext out. Format 2
 * streams in bounded memory; a format-1 object (older backups) is read whole.
 */
export function decryptStream(secret: Uint8Array, objectKey: string): (source: AsyncIterable<Uint8Array>) => AsyncGenerator<Buffer> {
  return async function* open(source) {
    let head = Buffer.alloc(0);
    let opener: ChunkOpener | null = null;
    let v1: Buffer[] | null = null;
    for await (const piece of source) {
      const buf = Buffer.from(piece);
      if (opener) { yield* opener.push(buf); continue; }
      if (v1) { v1.push(buf); continue; }
      head = Buffer.concat([head, buf]);
      if (head.length < 5) continue;
      if (versionOf(objectKey, head) === 1) { v1 = [head]; continue; }
      if (head.length < HEADER_V2_BYTES) continue;
      const header = Buffer.from(head.subarray(0, HEADER_V2_BYTES));
      opener = openerFor(await deriveKekAsync(secret, parseHeaderV2(header).wrap.salt), objectKey, header);
      yield* opener.push(head.subarray(HEADER_V2_BYTES));
    }
    if (v1) { yield decryptV1(secret, objectKey, Buffer.concat(v1)); return; }
    if (!opener) {
      versionOf(objectKey, head);
      throw badObject(objectKey, 'not a Rampart backup object (bad magic or truncated)');
    }
    yield* opener.finish();
  };
}
