/**
 * DER structures kept as layouts: when asn1js wraps already-encoded elements
 * (EncodedBlock) in SEQUENCEs, OCTET STRINGs and explicit tags, the bytes of
 * the wrapping depend only on the elements' lengths. So the second time a
 * structure of one shape comes with the same element lengths, its assembled
 * bytes are kept with the offset of each element, and later ones are a copy
 * with their own elements copied in (~1 µs instead of several µs per asn1js
 * block). Used for any structure whose `assemble` only wraps its elements:
 * TBSCertificates (tbs-encoder.ts) and OCSP responses (validation/ocsp/).
 *
 * The offsets are where the elements occur, in order, in the assembled
 * bytes, and a layout is kept only after a check: assembling probe elements
 * of the same lengths (every byte of each element inverted) must give
 * exactly the layout with the probes copied in. An offset found at a
 * coincidental earlier occurrence, or a wrapping that depends on more than
 * the lengths, fails that check and nothing is kept. Nothing is written by
 * hand: the wrapping is asn1js' and each element its encoder's.
 */
interface Layout { der: Uint8Array; offsets: number[] }

export class DerLayouts {
  private readonly layouts = new Map<string, Layout>();
  /** Keys met once: a layout costs a second assembly to check, which pays only when its lengths come again. */
  private readonly seenOnce = new Set<string>();
  readonly stats = { hits: 0, kept: 0, refused: 0 };

  constructor(private readonly max = 1024) {}

  /**
   * `assemble(elements)`, from a kept layout when this shape came with these
   * lengths before. `assemble` must only wrap the elements (EncodedBlock), in
   * order, each once: the same function for every call with this `shape`.
   */
  encode(shape: string, elements: Uint8Array[], assemble: (elements: Uint8Array[]) => Uint8Array): Uint8Array {
    let key = `${shape}:`;
    for (const e of elements) key += `${e.byteLength},`;
    const layout = this.layouts.get(key);
    if (layout) {
      this.stats.hits++;
      return withElements(layout.der, layout.offsets, elements);
    }
    const out = assemble(elements);
    if (!this.seenOnce.has(key)) {
      if (this.seenOnce.size >= this.max * 4) this.seenOnce.clear();
      this.seenOnce.add(key);
      return out;
    }
    this.seenOnce.delete(key);
    const kept = checkedLayout(out, elements, assemble);
    if (!kept) {
      this.stats.refused++;
      return out;
    }
    if (this.layouts.size >= this.max) this.layouts.delete(this.layouts.keys().next().value!);
    this.layouts.set(key, kept);
    this.stats.kept++;
    return out;
  }
}

/** Where each element first occurs in `der`, each after the end of the one before; null if one does not. */
export function offsetsInOrder(der: Uint8Array, elements: Uint8Array[]): number[] | null {
  const whole = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  const offsets: number[] = [];
  let from = 0;
  for (const e of elements) {
    const at = e.byteLength ? whole.indexOf(Buffer.from(e.buffer, e.byteOffset, e.byteLength), from) : from;
    if (at < 0) return null;
    offsets.push(at);
    from = at + e.byteLength;
  }
  return offsets;
}

/** A copy of `der` with each element copied in at its offset. */
export function withElements(der: Uint8Array, offsets: number[], elements: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(der.byteLength);
  out.set(der);
  for (let i = 0; i < elements.length; i++) out.set(elements[i]!, offsets[i]!);
  return out;
}

function checkedLayout(der: Uint8Array, elements: Uint8Array[], assemble: (elements: Uint8Array[]) => Uint8Array): Layout | null {
  const offsets = offsetsInOrder(der, elements);
  if (!offsets) return null;
  const probes = elements.map((e) => e.map((b) => b ^ 0xff));
  const expected = assemble(probes);
  if (!Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength).equals(withElements(der, offsets, probes))) return null;
  return { der: Uint8Array.from(der), offsets };
}
