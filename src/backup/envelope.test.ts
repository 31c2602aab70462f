/**
 * The backup envelope: format 2 (chunked) round trips as a buffer and as a
 * stream, at chunk boundaries too; truncation, extension, reordered chunks,
 * flipped bits, a renamed object and a wrong secret fail; format-1 objects
 * (older backups) still decrypt, as a buffer and as a stream.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { CHUNK_BYTES, HEADER_V2_BYTES, TAG_BYTES } from './envelope-chunks.js';
import { decryptObject, decryptStream, deriveKek, encryptObject, encryptStream } from './envelope.js';

const secret = Buffer.from('a backup passphrase 0123');
const kek = deriveKek(secret, Buffer.alloc(16, 7));
const KEY = 'backups/x/database.sqlite';
const SEALED = CHUNK_BYTES + TAG_BYTES;

async function collect(gen: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const x of gen) out.push(Buffer.from(x));
  return Buffer.concat(out);
}
async function* pieces(b: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let o = 0; o < b.length; o += size) yield b.subarray(o, o + size);
}
const streamDecrypt = (blob: Buffer, piece = 100_000, key = KEY, s: Uint8Array = secret) => collect(decryptStream(s, key)(pieces(blob, piece)));

/** A format-1 object, as versions before the chunked format wrote them. */
function v1Object(plain: Buffer, objectKey: string): Buffer {
  const aad = Buffer.from(objectKey);
  const seal = (key: Buffer, iv: Buffer, data: Buffer) => {
    const c = createCipheriv('aes-256-gcm', key, iv);
    c.setAAD(aad);
    const ct = Buffer.concat([c.update(data), c.final()]);
    return Buffer.concat([ct, c.getAuthTag()]);
  };
  const dataKey = randomBytes(32);
  const kekIv = randomBytes(12);
  const dataIv = randomBytes(12);
  return Buffer.concat([Buffer.from('RBK1'), Buffer.from([1]), kek.salt, kekIv, seal(kek.key, kekIv, dataKey), dataIv, seal(dataKey, dataIv, plain)]);
}

describe('backup envelope', () => {
  it('round trips as a buffer and as a stream, for empty, small, chunk-sized and multi-chunk objects', async () => {
    for (const n of [0, 1, 1000, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 12345]) {
      const plain = randomBytes(n);
      const blob = encryptObject(kek, KEY, plain);
      assert.equal(blob.subarray(0, 5).toString('latin1'), 'RBK1\u0002');
      assert.equal(blob.length, HEADER_V2_BYTES + n + (Math.floor(n / CHUNK_BYTES) + 1) * TAG_BYTES, `size for ${n}`);
      assert.ok(decryptObject(secret, KEY, blob).equals(plain), `buffer ${n}`);
      assert.ok((await streamDecrypt(blob)).equals(plain), `stream ${n}`);
      const streamed = await collect(encryptStream(kek, KEY)(pieces(plain, 77_777)));
      assert.ok(decryptObject(secret, KEY, streamed).equals(plain), `stream-encrypted ${n}`);
    }
  });

  it('detects truncation, extension, reordering, flipped bits, a renamed object and a wrong secret', async () => {
    const plain = randomBytes(3 * CHUNK_BYTES + 5);
    const blob = encryptObject(kek, KEY, plain);
    const chunk = (i: number) => blob.subarray(HEADER_V2_BYTES + i * SEALED, HEADER_V2_BYTES + (i + 1) * SEALED);
    const head = blob.subarray(0, HEADER_V2_BYTES);
    const cases: Array<[string, Buffer]> = [
      ['truncated at a chunk boundary', blob.subarray(0, HEADER_V2_BYTES + 2 * SEALED)],
      ['truncated inside a chunk', blob.subarray(0, blob.length - 3)],
      ['extended', Buffer.concat([blob, chunk(0)])],
      ['reordered', Buffer.concat([head, chunk(1), chunk(0), blob.subarray(HEADER_V2_BYTES + 2 * SEALED)])],
      ['flipped', Buffer.from(blob).fill(blob[blob.length >> 1]! ^ 1, blob.length >> 1, (blob.length >> 1) + 1)],
      ['header only', head],
    ];
    for (const [label, bad] of cases) {
      assert.throws(() => decryptObject(secret, KEY, bad), /cannot decrypt .*: the object is truncated or altered/, label);
      await assert.rejects(streamDecrypt(bad), /cannot decrypt .*: the object is truncated or altered/, `${label} (stream)`);
    }
    assert.throws(() => decryptObject(secret, 'backups/x/audit.jsonl', blob), /wrong backup passphrase or key, or the object was altered or renamed/);
    await assert.rejects(streamDecrypt(blob, 4096, KEY, Buffer.from('another passphrase 0123')), /wrong backup passphrase or key/);
    assert.throws(() => decryptObject(secret, KEY, Buffer.from('not a backup at all, not at all')), /not a Rampart backup object/);
    await assert.rejects(streamDecrypt(Buffer.from('RB')), /not a Rampart backup object/);
  });

  it('reads format-1 objects of older backups', async () => {
    const plain = randomBytes(200_000);
    const old = v1Object(plain, KEY);
    assert.ok(decryptObject(secret, KEY, old).equals(plain));
    assert.ok((await streamDecrypt(old, 3000)).equals(plain));
    const bad = Buffer.from(old);
    bad[100] ^= 1;
    assert.throws(() => decryptObject(secret, KEY, bad), /the object is truncated or altered/);
  });
});
