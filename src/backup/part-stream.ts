/**
 * One backup part as a stream: written (plaintext → sha256 and size → chunked
 * encryption → target) and read back (target → decryption → sha256 and size
 * checked against the manifest), in bounded memory whatever its size.
 */
import { createHash } from 'node:crypto';
import type { BackupKek } from './envelope.js';
import { decryptStream, encryptStream } from './envelope.js';
import type { BackupPart } from './manifest.js';
import { metered, type ProgressMeter } from './progress.js';
import type { BackupTarget } from './target.js';

/** size: the plaintext size when known in advance (for progress), else 0. */
export interface PartSource { name: string; size: number; open: () => AsyncIterable<Uint8Array> | Iterable<Uint8Array> }
/** A part as the manifest records it, and its encrypted size on the target. */
export interface WrittenPart { part: BackupPart; storedBytes: number }

async function* toAsync(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* source;
}

export async function writePart(t: BackupTarget, kek: BackupKek, key: string, src: PartSource, meter: ProgressMeter): Promise<WrittenPart> {
  const hash = createHash('sha256');
  let size = 0;
  let storedBytes = 0;
  async function* digest(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const piece of source) {
      hash.update(piece);
      size += piece.length;
      yield piece;
    }
  }
  async function* count(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const piece of source) {
      storedBytes += piece.length;
      yield piece;
    }
  }
  await t.putStream(key, count(encryptStream(kek, key)(metered(digest(toAsync(src.open())), meter))));
  return { part: { name: src.name, key, sha256: hash.digest('hex'), size }, storedBytes };
}

/** Streams a part's plaintext to `sink`, then checks its size and sha256; throws naming the first problem. */
export async function readPart(
  t: BackupTarget, secret: Uint8Array, id: string, p: BackupPart, meter: ProgressMeter, sink: (plain: AsyncIterable<Uint8Array>) => Promise<void>,
): Promise<void> {
  const body = await t.getStream(p.key);
  if (!body) throw new Error(`backup ${id}: part ${p.name} (${p.key}) is missing on target ${t.name}`);
  const hash = createHash('sha256');
  let size = 0;
  async function* digest(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const piece of source) {
      size += piece.length;
      if (size > p.size) throw new Error(`backup ${id}: part ${p.name} is larger than the ${p.size} bytes the manifest says`);
      hash.update(piece);
      yield piece;
    }
  }
  await sink(metered(digest(decryptStream(secret, p.key)(body)), meter));
  if (size !== p.size) throw new Error(`backup ${id}: part ${p.name} is ${size} bytes, the manifest says ${p.size}`);
  if (hash.digest('hex') !== p.sha256) throw new Error(`backup ${id}: part ${p.name} does not match its sha256 in the manifest`);
}
