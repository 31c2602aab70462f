/**
 * The chunked body of a format-2 backup object (envelope.ts): plaintext cut
 * into fixed-size chunks, each sealed with AES-256-GCM under the object's data
 * key. Nonce: the object's random 8-byte prefix + the chunk counter (u32).
 * Associated data: the object key, the whole header, the chunk index (u64) and
 * a final flag. Every chunk but the last holds exactly `chunkBytes`; the last
 * holds fewer (possibly none) and is flagged final, so a truncated object (no
 * final chunk), an extended one (data after it) or reordered chunks fail.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

export const V2 = 2;
export const TAG_BYTES = 16;
export const CHUNK_BYTES = 1 << 20;
/** magic 4 | version 1 | salt 16 | KEK IV 12 | wrapped key 32 | wrap tag 16 | nonce prefix 8 | chunk size 4 */
export const HEADER_V2_BYTES = 4 + 1 + 16 + 12 + 32 + 16 + 8 + 4;
const MAX_CHUNKS = 2 ** 32;

export interface DataKeyWrap { salt: Buffer; kekIv: Buffer; wrapped: Buffer; wrapTag: Buffer }

export function headerV2(magic: Buffer, w: DataKeyWrap, noncePrefix: Buffer, chunkBytes = CHUNK_BYTES): Buffer {
  const size = Buffer.alloc(4);
  size.writeUInt32BE(chunkBytes);
  return Buffer.concat([magic, Buffer.from([V2]), w.salt, w.kekIv, w.wrapped, w.wrapTag, noncePrefix, size]);
}

export function parseHeaderV2(h: Buffer): { wrap: DataKeyWrap; noncePrefix: Buffer; chunkBytes: number } {
  let o = 5;
  const take = (n: number): Buffer => Buffer.from(h.subarray(o, (o += n)));
  const wrap = { salt: take(16), kekIv: take(12), wrapped: take(32), wrapTag: take(16) };
  const noncePrefix = take(8);
  return { wrap, noncePrefix, chunkBytes: h.readUInt32BE(o) };
}

class ChunkCipher {
  protected index = 0;
  private readonly prefix: Buffer;
  private readonly aadBase: Buffer;

  constructor(protected readonly dataKey: Buffer, objectKey: string, header: Buffer) {
    this.prefix = parseHeaderV2(header).noncePrefix;
    this.aadBase = Buffer.concat([Buffer.from(objectKey, 'utf8'), header]);
  }

  protected nonceAndAad(final: boolean): { iv: Buffer; aad: Buffer } {
    if (this.index >= MAX_CHUNKS) throw new Error('backup object too large for its chunk counter');
    const iv = Buffer.alloc(12);
    this.prefix.copy(iv, 0);
    iv.writeUInt32BE(this.index, 8);
    const tail = Buffer.alloc(9);
    tail.writeBigUInt64BE(BigInt(this.index), 0);
    tail[8] = final ? 1 : 0;
    this.index++;
    return { iv, aad: Buffer.concat([this.aadBase, tail]) };
  }
}

/** Seals plaintext pushed in any piece sizes; finish() seals the final chunk and wipes the key. */
export class ChunkSealer extends ChunkCipher {
  private readonly buf: Buffer;
  private fill = 0;

  constructor(dataKey: Buffer, objectKey: string, header: Buffer, private readonly chunkBytes = parseHeaderV2(header).chunkBytes) {
    super(dataKey, objectKey, header);
    this.buf = Buffer.allocUnsafe(this.chunkBytes);
  }

  private seal(data: Buffer, final: boolean): Buffer {
    const { iv, aad } = this.nonceAndAad(final);
    const c = createCipheriv('aes-256-gcm', this.dataKey, iv);
    c.setAAD(aad);
    return Buffer.concat([c.update(data), c.final(), c.getAuthTag()]);
  }

  *push(data: Buffer): Generator<Buffer> {
    let off = 0;
    while (off < data.length) {
      const n = Math.min(this.chunkBytes - this.fill, data.length - off);
      data.copy(this.buf, this.fill, off, off + n);
      this.fill += n;
      off += n;
      if (this.fill === this.chunkBytes) {
        yield this.seal(this.buf, false);
        this.fill = 0;
      }
    }
  }

  finish(): Buffer {
    const last = this.seal(this.buf.subarray(0, this.fill), true);
    this.buf.fill(0);
    this.dataKey.fill(0);
    return last;
  }
}

/** Opens sealed chunks pushed in any piece sizes; finish() checks that the final chunk came last. */
export class ChunkOpener extends ChunkCipher {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly sealedBytes: number;

  constructor(dataKey: Buffer, objectKey: string, header: Buffer, chunkBytes: number, private readonly fail: () => Error) {
    super(dataKey, objectKey, header);
    if (chunkBytes < 1 || chunkBytes > 64 << 20) throw fail();
    this.sealedBytes = chunkBytes + TAG_BYTES;
  }

  private open(sealed: Buffer, final: boolean): Buffer {
    const { iv, aad } = this.nonceAndAad(final);
    try {
      const d = createDecipheriv('aes-256-gcm', this.dataKey, iv);
      d.setAAD(aad);
      d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      return Buffer.concat([d.update(sealed.subarray(0, sealed.length - TAG_BYTES)), d.final()]);
    } catch {
      this.dataKey.fill(0);
      throw this.fail();
    }
  }

  *push(data: Buffer): Generator<Buffer> {
    if (data.length === 0) return;
    this.pending.push(data);
    this.pendingBytes += data.length;
    // A full chunk is known not to be the last only once more bytes follow it.
    while (this.pendingBytes > this.sealedBytes) {
      const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
      const out = this.open(all.subarray(0, this.sealedBytes), false);
      const rest = all.subarray(this.sealedBytes);
      this.pending = rest.length ? [rest] : [];
      this.pendingBytes = rest.length;
      yield out;
    }
  }

  *finish(): Generator<Buffer> {
    const last = Buffer.concat(this.pending);
    this.pending = [];
    if (last.length < TAG_BYTES || last.length >= this.sealedBytes) throw this.fail();
    const out = this.open(last, true);
    this.dataKey.fill(0);
    yield out;
  }
}
