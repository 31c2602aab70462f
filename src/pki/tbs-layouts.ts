/**
 * Encoded TBSCertificates kept as layouts, so that a certificate whose parts
 * have the same lengths as an earlier one is not assembled again.
 *
 * A TBSCertificate is a fixed nesting of elements (tbs-encoder.ts): version,
 * serial, signature algorithm, issuer, validity, subject, public key, then
 * the extensions inside `[3] EXPLICIT SEQUENCE`. Every element is encoded
 * on its own by asn1js or @peculiar/asn1-schema; asn1js then wraps them,
 * and the wrapping (tags and lengths of the three enclosing structures)
 * depends only on the elements' lengths. So after asn1js has assembled one
 * TBSCertificate, its bytes and the offset of each element (read back from
 * asn1js' own parse of the result, and checked against the elements) are
 * kept under the elements' lengths; a later certificate with the same
 * lengths is that byte array with its own elements copied in at those
 * offsets. Nothing is encoded by hand: the wrapping is asn1js' and each
 * element the library's. Assembling cost ~60 µs a certificate in the
 * synthetic inventory's profile; the copy costs ~1 µs.
 *
 * Every element is copied in, the shared extensions too (a few hundred
 * bytes): a layout contributes only the wrapping, never an element.
 */
import * as asn1js from 'asn1js';

interface Layout { der: Uint8Array; offsets: number[] }

const MAX_LAYOUTS = 4096;
const layouts = new Map<string, Layout>();
/**
 * Lengths met once without a layout. A layout is kept the second time its
 * lengths come: keeping one costs a parse (~40 µs), which only pays when
 * they come again. The synthetic inventory's names give thousands of
 * combinations; a profile's real issuance, a few.
 */
const seenOnce = new Set<string>();
const MAX_SEEN = 16_384;
const stats = { hits: 0, kept: 0 };

/** How many TBSCertificates came from a layout, and how many layouts were kept (tests, profiling). */
export function layoutStats(): { hits: number; kept: number } {
  return { ...stats };
}

/** The key of a list of elements: their lengths, in order. */
function keyOf(parts: Uint8Array[]): string {
  let k = '';
  for (const p of parts) k += `${p.byteLength},`;
  return k;
}

/** The DER from a layout of these lengths, with `parts` copied in; null when none is kept. */
export function fromLayout(parts: Uint8Array[]): Uint8Array | null {
  const layout = layouts.get(keyOf(parts));
  if (!layout) return null;
  stats.hits++;
  const out = new Uint8Array(layout.der.byteLength);
  out.set(layout.der);
  for (let i = 0; i < parts.length; i++) out.set(parts[i]!, layout.offsets[i]!);
  return out;
}

/** The element blocks of a TBSCertificate in order: the seven top-level ones, then each extension. */
function elementsOf(der: Uint8Array): { root: asn1js.BaseBlock; elements: asn1js.BaseBlock[] } | null {
  const parsed = asn1js.fromBER(der);
  if (parsed.offset !== der.byteLength || !(parsed.result instanceof asn1js.Sequence)) return null;
  const top = parsed.result.valueBlock.value;
  if (top.length !== 8) return null;
  const explicit = top[7]!;
  if (!(explicit instanceof asn1js.Constructed)) return null;
  const extSeq = explicit.valueBlock.value[0];
  if (!(extSeq instanceof asn1js.Sequence) || explicit.valueBlock.value.length !== 1) return null;
  return { root: parsed.result, elements: [...top.slice(0, 7), ...extSeq.valueBlock.value] };
}

/**
 * Keeps the layout of `der`, a TBSCertificate asn1js assembled from
 * `parts` (all of its elements, in order), the second time these lengths
 * come. Kept only when asn1js' parse of `der` finds exactly those
 * elements, byte for byte.
 */
export function rememberLayout(parts: Uint8Array[], der: Uint8Array): void {
  const key = keyOf(parts);
  if (!seenOnce.has(key)) {
    if (seenOnce.size >= MAX_SEEN) seenOnce.clear();
    seenOnce.add(key);
    return;
  }
  seenOnce.delete(key);
  const found = elementsOf(der);
  if (!found || found.elements.length !== parts.length) return;
  const base = found.root.valueBeforeDecodeView.byteOffset;
  const offsets: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const view = found.elements[i]!.valueBeforeDecodeView;
    const off = view.byteOffset - base;
    if (view.byteLength !== parts[i]!.byteLength || !Buffer.from(der.buffer, der.byteOffset + off, view.byteLength).equals(parts[i]!)) return;
    offsets.push(off);
  }
  if (layouts.size >= MAX_LAYOUTS) layouts.delete(layouts.keys().next().value!);
  layouts.set(key, { der: Uint8Array.from(der), offsets });
  stats.kept++;
}
