/**
 * A block of DER that asn1js itself produced earlier, placed as is inside a
 * structure asn1js is encoding (a TBSCertificate inside its Certificate, the
 * fixed extensions of a profile inside a new TBSCertificate). The bytes are
 * never written by hand: they come from AsnConvert.serialize; this only
 * spares encoding the same value twice.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1js from 'asn1js';

export class EncodedBlock extends asn1js.BaseBlock {
  constructor(private readonly der: Uint8Array) {
    super();
  }

  override toBER(sizeOnly?: boolean, writer?: asn1js.ViewWriter): ArrayBuffer {
    // A Uint8Array that is its whole buffer is written as is (a large TBSCertList is not copied twice).
    const whole = this.der.byteOffset === 0 && this.der.byteLength === this.der.buffer.byteLength && this.der.buffer instanceof ArrayBuffer;
    const out = sizeOnly ? new ArrayBuffer(this.der.byteLength) : whole ? this.der.buffer as ArrayBuffer : this.der.slice().buffer;
    if (writer) writer.write(out);
    return out;
  }
}

/** asn1js blocks for a SEQUENCE of already-encoded elements. */
export function sequenceOf(parts: Array<Uint8Array | asn1js.BaseBlock>): Uint8Array {
  const value = parts.map((p) => (p instanceof Uint8Array ? new EncodedBlock(p) : p));
  return new Uint8Array(new asn1js.Sequence({ value }).toBER());
}

/** `[tagNumber] EXPLICIT` around an asn1js block (context-specific, constructed). */
export function explicit(tagNumber: number, value: asn1js.BaseBlock): asn1js.Constructed {
  return new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber }, value: [value] });
}

/** The DER of an @peculiar/asn1-schema value, as a Uint8Array (for parts encoded once and kept). */
export function schemaDer(value: unknown): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(value));
}
