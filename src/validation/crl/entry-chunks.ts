/**
 * Reads a CRL's revoked entries from storage on the thread that answers
 * OCSP without holding it: entries are joined into chunks of CHUNK_ENTRIES
 * (one exactly sized buffer each, owned, so it can move to a worker), and
 * the event loop gets a turn after every chunk. The stores read in short
 * keyset-paginated queries (src/storage), so no step takes more than a few
 * milliseconds. Entries stored without their DER (rows written by other
 * tools) are encoded here.
 */
import type { RevokedEntry } from '../../core/types.js';

export const CHUNK_ENTRIES = 1000;

export interface EntryChunks {
  chunks: Uint8Array[];
  count: number;
  /** Entries in chunks[0]. */
  firstChunkCount: number;
}

export async function readEntryChunks(
  entries: AsyncIterable<RevokedEntry>, encode: (e: RevokedEntry) => Uint8Array, yieldNow: () => Promise<unknown>,
): Promise<EntryChunks> {
  const chunks: Uint8Array[] = [];
  let parts: Uint8Array[] = [];
  let size = 0;
  let count = 0;
  let firstChunkCount = 0;
  const flush = (): void => {
    const chunk = new Uint8Array(size);
    let at = 0;
    for (const p of parts) { chunk.set(p, at); at += p.byteLength; }
    if (!chunks.length) firstChunkCount = parts.length;
    chunks.push(chunk);
    parts = [];
    size = 0;
  };
  for await (const e of entries) {
    const der = e.der ?? encode(e);
    parts.push(der);
    size += der.byteLength;
    count++;
    if (parts.length >= CHUNK_ENTRIES) {
      flush();
      await yieldNow();
    }
  }
  if (parts.length) flush();
  return { chunks, count, firstChunkCount };
}
