/**
 * Revoked entries in chunks, the shape a CRL build consumes: the stored DER
 * entries of up to REVOKED_CHUNK_ENTRIES certificates joined in one owned
 * buffer (it can move to a worker thread without a copy), and the entries
 * stored without their DER (rows written by other tools) beside it, for the
 * caller to encode. The SQLite store builds the chunks in its reader thread
 * (sqlite-revoked-scan.ts), so the thread that answers OCSP receives one
 * buffer per chunk rather than one object per revoked certificate; other
 * stores group their entry stream here.
 */
import type { RevokedEntry } from '../core/types.js';

export const REVOKED_CHUNK_ENTRIES = 1000;

export interface RevokedChunk {
  /** The DER entries stored with their certificates, concatenated in scan order. */
  der: Uint8Array;
  /** Entries in `der`. */
  count: number;
  /** Entries without a stored DER entry (encoded by the caller). */
  loose: RevokedEntry[];
}

/** Joins DER parts into one exactly sized buffer of its own. */
export function joinDer(parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.byteLength;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.byteLength; }
  return out;
}

/** Groups a stream of entries into chunks of `size` entries. */
export async function* chunksOfEntries(entries: AsyncIterable<RevokedEntry>, size = REVOKED_CHUNK_ENTRIES): AsyncIterable<RevokedChunk> {
  let parts: Uint8Array[] = [];
  let loose: RevokedEntry[] = [];
  for await (const e of entries) {
    if (e.der) parts.push(e.der);
    else loose.push(e);
    if (parts.length + loose.length >= size) {
      yield { der: joinDer(parts), count: parts.length, loose };
      parts = [];
      loose = [];
    }
  }
  if (parts.length || loose.length) yield { der: joinDer(parts), count: parts.length, loose };
}
