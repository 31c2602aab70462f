/**
 * Request shapes: a client asks about many certificates of one issuer, each
 * time with a fresh nonce, and its requests differ only in the contents of
 * two primitive values, the CertID's serialNumber INTEGER and the nonce's
 * OCTET STRING. Parsing and proving strict DER (ocsp-codec.ts) cost most of
 * an uncached answer's CPU. After one request of a shape was parsed and
 * proven, a request of the same length whose bytes outside those two
 * contents are identical is the same structure: the same lengths, tags,
 * hashes, OIDs and extensions, already proven DER. Its nonce is any bytes
 * (valid contents of an OCTET STRING of that length); its serial is checked
 * as in a full parse (positive, minimal, at most 20 octets).
 *
 * The offsets come from the asn1js tree of the full parse (the views asn1js
 * keeps into the input), never from reading DER by hand, and are checked
 * against the parsed values before a shape is kept. Only requests with one
 * CertID are kept (RFC 5019 clients send one). At most MAX_SHAPES are kept:
 * requests of other shapes are parsed in full as before.
 */
import * as asn1js from 'asn1js';
import type { OcspCertId, ParsedOcspRequest } from './ocsp-request-types.js';

const MAX_SHAPES = 64;

interface Range { start: number; end: number }

interface Shape {
  bytes: Buffer;
  serial: Range;
  nonce: Range | null;
  /** The bytes between the variable contents (serial, nonce): they must equal `bytes` there. */
  fixed: Range[];
  /** The CertID without its serial. */
  certId: Omit<OcspCertId, 'serialHex'>;
}

const isUniversal = (b: asn1js.AsnType, tag: number): boolean =>
  (b as asn1js.BaseBlock).idBlock.tagClass === 1 && (b as asn1js.BaseBlock).idBlock.tagNumber === tag;
const isContext = (b: asn1js.AsnType, tag: number): boolean =>
  (b as asn1js.BaseBlock).idBlock.tagClass === 3 && (b as asn1js.BaseBlock).idBlock.tagNumber === tag;
const children = (b: asn1js.AsnType | undefined): asn1js.AsnType[] =>
  (b && (b as asn1js.Constructed).valueBlock && Array.isArray((b as asn1js.Constructed).valueBlock.value) ? (b as asn1js.Constructed).valueBlock.value : []);

/**
 * Where a view asn1js took lies in the input, as offsets from the start of the
 * whole request (`base`: the root block's view of its own encoding; asn1js
 * may have copied the input, and its views then share that copy), or null.
 */
function rangeOf(base: Uint8Array, view: Uint8Array | undefined): Range | null {
  if (!view || view.buffer !== base.buffer) return null;
  const start = view.byteOffset - base.byteOffset;
  if (start < 0 || start + view.byteLength > base.byteLength) return null;
  return { start, end: start + view.byteLength };
}

/** The contents of the nonce inside the request's extnValue, located through asn1js. */
function nonceRange(base: Uint8Array, tbs: asn1js.AsnType, nonceOid: string): Range | null {
  const exts = children(children(tbs).find((c) => isContext(c, 2)))[0];
  for (const ext of children(exts)) {
    const parts = children(ext);
    const oid = parts[0];
    if (!oid || !isUniversal(oid, 6) || (oid as asn1js.ObjectIdentifier).valueBlock.toString() !== nonceOid) continue;
    const value = parts[parts.length - 1] as asn1js.OctetString;
    const outer = rangeOf(base, value.valueBlock.valueHexView);
    if (!outer) return null;
    const inner = asn1js.fromBER(value.valueBlock.valueHexView);
    if (inner.offset === -1 || !(inner.result instanceof asn1js.OctetString)) return null;
    // The inner OCTET STRING was parsed from the extnValue's contents: offsets relative to them.
    const innerBase = inner.result.valueBeforeDecodeView;
    if (!innerBase || innerBase.byteLength !== outer.end - outer.start) return null;
    const r = rangeOf(innerBase, inner.result.valueBlock.valueHexView);
    return r && { start: outer.start + r.start, end: outer.start + r.end };
  }
  return null;
}

export class OcspRequestShapes {
  private readonly byLength = new Map<number, Shape[]>();
  private count = 0;

  constructor(private readonly nonceOid: string, private readonly serialToHex: (contents: Uint8Array) => string) {}

  /** The request, when `der` has the shape of one parsed before (null: parse it in full). */
  match(der: Uint8Array): ParsedOcspRequest | null {
    const list = this.byLength.get(der.byteLength);
    if (!list) return null;
    const b = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
    for (const s of list) {
      if (!s.fixed.every((r) => r.end <= r.start || b.compare(s.bytes, r.start, r.end, r.start, r.end) === 0)) continue;
      let serialHex: string;
      try {
        serialHex = this.serialToHex(b.subarray(s.serial.start, s.serial.end));
      } catch {
        return null; // not a valid serial: the full parse gives the precise error
      }
      const requests = [{ ...s.certId, serialHex }];
      return s.nonce ? { requests, nonce: Buffer.from(b.subarray(s.nonce.start, s.nonce.end)) } : { requests };
    }
    return null;
  }

  /** Keeps the shape of a request parsed in full and proven DER (`tree`: its asn1js tree). */
  remember(der: Uint8Array, tree: asn1js.AsnType, parsed: ParsedOcspRequest): void {
    if (parsed.requests.length !== 1) return;
    const tbs = children(tree)[0];
    const requestList = children(tbs).find((c) => isUniversal(c, 16));
    const certId = children(children(requestList)[0])[0];
    const serialBlock = children(certId)[3] as asn1js.Integer | undefined;
    if (!serialBlock || !isUniversal(serialBlock, 2)) return;
    const base = (tree as asn1js.BaseBlock).valueBeforeDecodeView;
    if (!base || base.byteLength !== der.byteLength) return;
    const serial = rangeOf(base, serialBlock.valueBlock.valueHexView);
    const nonce = parsed.nonce ? nonceRange(base, tbs!, this.nonceOid) : null;
    if (!serial || (parsed.nonce && !nonce)) return;
    const b = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
    // The offsets must point at exactly what the full parse read, and not overlap.
    const r = parsed.requests[0]!;
    try {
      if (this.serialToHex(b.subarray(serial.start, serial.end)) !== r.serialHex) return;
    } catch {
      return; // the offsets do not point at the serial the full parse read: no shape
    }
    if (nonce && (!b.subarray(nonce.start, nonce.end).equals(parsed.nonce!) || (nonce.start < serial.end && serial.start < nonce.end))) return;
    if (this.count >= MAX_SHAPES) { this.byLength.clear(); this.count = 0; }
    const list = this.byLength.get(b.length) ?? [];
    const variable = (nonce ? [serial, nonce] : [serial]).sort((x, y) => x.start - y.start);
    const fixed = [...variable, { start: b.length, end: b.length }].map((v, i) => ({ start: i === 0 ? 0 : variable[i - 1]!.end, end: v.start }));
    list.push({ bytes: Buffer.from(b), serial, nonce, fixed, certId: { hashAlgorithm: r.hashAlgorithm, issuerNameHash: r.issuerNameHash, issuerKeyHash: r.issuerKeyHash } });
    this.byLength.set(b.length, list);
    this.count++;
  }
}
