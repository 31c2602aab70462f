/**
 * DER encodings kept as layouts found from real values: a structure whose
 * bytes depend only on the lengths of some contents (the characters of a
 * UTF8String, an IA5String or a UTCTime, a key's bytes) is encoded by its
 * real encoder the first times a combination of lengths comes; after that
 * the encoding is a copy of an earlier one with the new contents copied in.
 * This is for structures whose per-value contents der-layouts.ts cannot
 * probe with arbitrary bytes, because the encoder takes typed values (a
 * Date, a string) rather than encoded elements: a name, a subjectAltName
 * extension, a validity.
 *
 * How a layout is found and checked (nothing is written by hand: every byte
 * of a layout is the encoder's):
 * - the first value of a shape and lengths (A) is encoded and kept pending;
 * - the next one (B) is encoded too. A's contents are searched for in A's
 *   encoding, in order; B's contents copied at those offsets into A's
 *   encoding must give exactly B's encoding, and every content of B must
 *   differ from A's (so that an offset found at a coincidental earlier
 *   occurrence cannot pass the check). Only then is the layout kept;
 * - one use in `recheckEvery` is encoded again by the encoder and compared;
 *   a difference drops the layout and returns the encoder's bytes.
 * The caller names, in `shape`, whatever else the encoding depends on (an
 * INTEGER's high bit, an optional attribute).
 */
import { offsetsInOrder, withElements } from './der-layouts.js';

interface Layout { der: Uint8Array; offsets: number[] }
interface Pending { der: Uint8Array; contents: Uint8Array[] }

export class ValueLayouts {
  private readonly layouts = new Map<string, Layout>();
  private readonly pending = new Map<string, Pending>();
  private uses = 0;
  readonly stats = { hits: 0, kept: 0, refused: 0, rechecked: 0 };

  constructor(private readonly max = 4096, private readonly recheckEvery = 1000) {}

  /** `encode()` when no checked layout of this shape and these content lengths is kept; else a copy of the layout with `contents` in place. */
  encode(shape: string, contents: Uint8Array[], encode: () => Uint8Array): Uint8Array {
    let key = `${shape}:`;
    for (const c of contents) key += `${c.byteLength},`;
    const layout = this.layouts.get(key);
    if (layout) {
      const out = withElements(layout.der, layout.offsets, contents);
      if (++this.uses % this.recheckEvery !== 0) {
        this.stats.hits++;
        return out;
      }
      this.stats.rechecked++;
      const der = encode();
      if (equal(der, out)) return out;
      this.layouts.delete(key);
      this.stats.refused++;
      return der;
    }
    const der = encode();
    const first = this.pending.get(key);
    if (!first || contents.some((c, i) => equal(c, first.contents[i]!))) {
      if (!first && this.pending.size >= this.max) this.pending.delete(this.pending.keys().next().value!);
      this.pending.set(key, { der, contents: contents.map((c) => new Uint8Array(c)) });
      return der;
    }
    this.pending.delete(key);
    const offsets = offsetsInOrder(first.der, first.contents);
    if (!offsets || !equal(withElements(first.der, offsets, contents), der)) {
      this.stats.refused++;
      return der;
    }
    if (this.layouts.size >= this.max) this.layouts.delete(this.layouts.keys().next().value!);
    this.layouts.set(key, { der: first.der, offsets });
    this.stats.kept++;
    return der;
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
