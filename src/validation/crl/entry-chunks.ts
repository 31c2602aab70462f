/**
 * Collects a CRL's revoked entries on the thread that answers OCSP without
 * holding it: the store hands over chunks of joined DER entries (the SQLite
 * store builds them in its reader thread: one transferred buffer per chunk,
 * src/storage/revoked-chunks.ts), and the event loop gets a turn after every
 * chunk. Entries stored without their DER (rows written by other tools) are
 * encoded here and follow their chunk's stored entries (a CRL's entries are
 * a set: RFC 5280 gives them no order).
 */
import type { RevokedEntry } from '../../core/types.js';
import { joinDer, type RevokedChunk } from '../../storage/revoked-chunks.js';

export interface EntryChunks {
  chunks: Uint8Array[];
  count: number;
  /** Entries in chunks[0]. */
  firstChunkCount: number;
}

export async function readEntryChunks(
  stored: AsyncIterable<RevokedChunk>, encode: (e: RevokedEntry) => Uint8Array, yieldNow: () => Promise<unknown>,
): Promise<EntryChunks> {
  const chunks: Uint8Array[] = [];
  let count = 0;
  let firstChunkCount = 0;
  for await (const c of stored) {
    const entries = c.count + c.loose.length;
    if (!entries) continue;
    chunks.push(c.loose.length ? joinDer([c.der, ...c.loose.map(encode)]) : c.der);
    if (chunks.length === 1) firstChunkCount = entries;
    count += entries;
    await yieldNow();
  }
  return { chunks, count, firstChunkCount };
}
