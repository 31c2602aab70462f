/**
 * The node:crypto side of the KeyWrapper contract (RFC 5649 AES-256 key wrap
 * with padding of a PKCS#8 PrivateKeyInfo, see key-backend.ts).
 *
 * exportWrapped checks every wrapped key here before handing it out: it must
 * unwrap (with node's 'id-aes256-wrap-pad') to a PKCS#8 whose public key is
 * the key's, so a backup is known to be restorable while the original still
 * exists. SoftHSM2 zero-pads the PKCS#8 to a multiple of 8 bytes before its
 * RFC 5649 wrap (SoftHSMv2 PR #307 applies the CKM_AES_KEY_WRAP padding to
 * _PAD too), so the unwrapped value carries up to 7 trailing zero bytes;
 * node accepts that, stricter importers may not, so such a blob is re-wrapped
 * here around the exact DER. The KEK is in this process by the interface's
 * design (a caller-supplied argument), so this adds no exposure.
 */
import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import type { KeyAlgorithm } from '../key-backend.js';

/** The RFC 5649 alternative initial value (node wants it as the IV of 'id-aes256-wrap-pad'). */
const KWP_IV = Buffer.from('A65959A6', 'hex');

function checkKek(kek: Uint8Array): void {
  if (kek.length !== 32) throw new Error(`the key-encryption key must be 32 bytes (AES-256), got ${kek.length}`);
}

export function wrapInNode(pkcs8: Uint8Array, kek: Uint8Array): Uint8Array {
  checkKek(kek);
  const c = createCipheriv('id-aes256-wrap-pad', kek, KWP_IV);
  return new Uint8Array(Buffer.concat([c.update(pkcs8), c.final()]));
}

/** Unwraps to the exact PKCS#8 DER (trailing zero padding removed). Throws on a wrong KEK or damaged blob. */
export function unwrapInNode(wrapped: Uint8Array, kek: Uint8Array): { pkcs8: Buffer; padded: boolean } {
  checkKek(kek);
  let plain: Buffer;
  try {
    const d = createDecipheriv('id-aes256-wrap-pad', kek, KWP_IV);
    plain = Buffer.concat([d.update(wrapped), d.final()]);
  } catch {
    throw new Error('the wrapped key does not unwrap under this key-encryption key (wrong KEK, or the blob is damaged)');
  }
  const parsed = asn1js.fromBER(plain);
  if (parsed.offset <= 0) { plain.fill(0); throw new Error('the unwrapped value is not DER (not a PKCS#8 PrivateKeyInfo)'); }
  const tail = plain.subarray(parsed.offset);
  if (tail.length >= 8 || tail.some((b) => b !== 0)) { plain.fill(0); throw new Error('the unwrapped value has unexpected bytes after the PKCS#8 structure'); }
  const pkcs8 = Buffer.from(plain.subarray(0, parsed.offset));
  plain.fill(0);
  return { pkcs8, padded: tail.length > 0 };
}

/**
 * The 32-byte private key of an Ed25519 PKCS#8 (RFC 8410: the privateKey
 * OCTET STRING holds a CurvePrivateKey OCTET STRING), in a Buffer the caller
 * zeroes. Parsed with asn1js; the key is checked to be Ed25519 first.
 */
export function ed25519Seed(pkcs8: Uint8Array): Buffer {
  const bad = (why: string): Error => new Error(`not an Ed25519 PKCS#8 private key: ${why}`);
  const outer = asn1js.fromBER(pkcs8);
  if (outer.offset <= 0 || !(outer.result instanceof asn1js.Sequence)) throw bad('not a DER SEQUENCE');
  const [, alg, priv] = outer.result.valueBlock.value;
  const oid = alg instanceof asn1js.Sequence ? alg.valueBlock.value[0] : undefined;
  if (!(oid instanceof asn1js.ObjectIdentifier) || oid.valueBlock.toString() !== '1.3.101.112') throw bad('the algorithm is not id-Ed25519');
  if (!(priv instanceof asn1js.OctetString)) throw bad('no privateKey OCTET STRING');
  const inner = asn1js.fromBER(priv.valueBlock.valueHexView);
  if (inner.offset <= 0 || !(inner.result instanceof asn1js.OctetString)) throw bad('the privateKey is not a CurvePrivateKey OCTET STRING');
  const seed = inner.result.valueBlock.valueHexView;
  if (seed.length !== 32) throw bad(`the key is ${seed.length} bytes, not 32`);
  const out = Buffer.from(seed);
  seed.fill(0);
  return out;
}

export function algorithmOf(key: KeyObject): KeyAlgorithm | null {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') return d.namedCurve === 'prime256v1' ? 'ecdsa-p256' : d.namedCurve === 'secp384r1' ? 'ecdsa-p384' : null;
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'rsa') return ({ 2048: 'rsa-2048', 3072: 'rsa-3072', 4096: 'rsa-4096' } as Record<number, KeyAlgorithm>)[d.modulusLength ?? 0] ?? null;
  return null;
}

/** The algorithm and SPKI of the private key inside a wrapped blob. */
export function inspectWrapped(wrapped: Uint8Array, kek: Uint8Array): { algorithm: KeyAlgorithm; spki: Uint8Array; exact: Uint8Array } {
  const { pkcs8, padded } = unwrapInNode(wrapped, kek);
  try {
    const key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
    const algorithm = algorithmOf(key);
    if (!algorithm) throw new Error(`the wrapped key is a ${key.asymmetricKeyType} key Rampart does not use (${JSON.stringify(key.asymmetricKeyDetails)})`);
    const spki = new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' }));
    return { algorithm, spki, exact: padded ? wrapInNode(pkcs8, kek) : wrapped };
  } finally {
    pkcs8.fill(0);
  }
}
