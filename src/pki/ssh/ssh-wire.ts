/**
 * The SSH wire encoding (RFC 4251 §5): uint32/uint64 big-endian, length-
 * prefixed strings, mpints. Used for OpenSSH certificates (PROTOCOL.certkeys),
 * KRLs (PROTOCOL.krl) and public key blobs. Not ASN.1.
 */

export class SshWriter {
  private readonly parts: Uint8Array[] = [];

  byte(v: number): this {
    this.parts.push(Uint8Array.of(v & 0xff));
    return this;
  }

  u32(v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0);
    this.parts.push(b);
    return this;
  }

  u64(v: bigint): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v));
    this.parts.push(b);
    return this;
  }

  /** A string: uint32 length, then the bytes (text as UTF-8). */
  string(v: Uint8Array | string): this {
    const b = typeof v === 'string' ? new TextEncoder().encode(v) : v;
    this.u32(b.length);
    this.parts.push(b);
    return this;
  }

  /** Bytes as they are (no length prefix). */
  raw(v: Uint8Array): this {
    this.parts.push(v);
    return this;
  }

  /** A non-negative mpint from big-endian magnitude bytes: leading zeros dropped, a 0x00 added when the top bit is set. */
  mpint(magnitude: Uint8Array): this {
    let i = 0;
    while (i < magnitude.length && magnitude[i] === 0) i++;
    const m = magnitude.subarray(i);
    return this.string(m.length && (m[0]! & 0x80) ? concatBytes([Uint8Array.of(0), m]) : m);
  }

  bytes(): Uint8Array {
    return concatBytes(this.parts);
  }
}

export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Reads the SSH wire encoding; throws a plain Error naming what was short. */
export class SshReader {
  private off = 0;
  constructor(private readonly b: Uint8Array) {}

  get remaining(): number { return this.b.length - this.off; }

  private take(n: number, what: string): Uint8Array {
    if (n > this.remaining) throw new Error(`truncated SSH data: ${what} needs ${n} bytes, ${this.remaining} left`);
    const v = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }

  u32(): number {
    const v = this.take(4, 'uint32');
    return new DataView(v.buffer, v.byteOffset, 4).getUint32(0);
  }

  u64(): bigint {
    const v = this.take(8, 'uint64');
    return new DataView(v.buffer, v.byteOffset, 8).getBigUint64(0);
  }

  string(): Uint8Array { return this.take(this.u32(), 'string'); }

  text(): string { return new TextDecoder('utf-8', { fatal: true }).decode(this.string()); }
}
