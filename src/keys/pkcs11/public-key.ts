/**
 * Public keys between PKCS#11 attributes and X.509 SubjectPublicKeyInfo, on
 * @peculiar/asn1-* (no hand-written DER): CKA_EC_PARAMS + CKA_EC_POINT
 * (ECDSA, and Ed25519 as CKK_EC_EDWARDS: params the id-Ed25519 OID, the
 * point an OCTET STRING wrapping the 32-byte key, PKCS#11 3.0 §2.3.10) or
 * CKA_MODULUS + CKA_PUBLIC_EXPONENT to SPKI and back, and the key id Rampart
 * gives key objects (the SHA-1 of the public key, as in a certificate's
 * SubjectKeyIdentifier), which is what makes a key reference the same in
 * every token that holds the key.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { ECParameters, id_ecPublicKey, id_secp256r1, id_secp384r1 } from '@peculiar/asn1-ecc';
import { RSAPublicKey, id_rsaEncryption } from '@peculiar/asn1-rsa';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as asn1js from 'asn1js';
import { AlgorithmIdentifier, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import type { KeyAlgorithm } from '../key-backend.js';

/** id-Ed25519 (RFC 8410): the SPKI algorithm and, as a namedCurve, the CKA_EC_PARAMS of an Ed25519 key. */
export const ID_ED25519 = '1.3.101.112';
const ED25519_SIZE = 32;

export const CURVES: Record<string, { algorithm: KeyAlgorithm; oid: string; size: number }> = {
  'ecdsa-p256': { algorithm: 'ecdsa-p256', oid: id_secp256r1, size: 32 },
  'ecdsa-p384': { algorithm: 'ecdsa-p384', oid: id_secp384r1, size: 48 },
};

/** Big-endian unsigned bytes as the content of a positive ASN.1 INTEGER (minimal, 0x00 added when the top bit is set). */
export function positiveInteger(bytes: Uint8Array): ArrayBuffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const v = bytes.subarray(i);
  const out = new Uint8Array(v.length + (v[0]! & 0x80 ? 1 : 0));
  out.set(v, out.length - v.length);
  return out.buffer;
}

/** DER ECParameters (namedCurve) of an ECDSA algorithm: the CKA_EC_PARAMS value. */
export function ecParamsFor(algorithm: KeyAlgorithm): Uint8Array {
  const c = CURVES[algorithm];
  if (!c) throw new Error(`${algorithm} is not an EC algorithm`);
  return new Uint8Array(AsnConvert.serialize(new ECParameters({ namedCurve: c.oid })));
}

/** DER ECParameters naming Ed25519: the CKA_EC_PARAMS of an Edwards key (SoftHSM2 takes the OID form, not the "edwards25519" string). */
export function edwardsParams(): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(new ECParameters({ namedCurve: ID_ED25519 })));
}

function namedCurve(params: Uint8Array, what: string): string | undefined {
  try {
    return AsnConvert.parse(params, ECParameters).namedCurve;
  } catch {
    throw new Error(`${what} CKA_EC_PARAMS is not a named curve`);
  }
}

function curveOf(params: Uint8Array): { algorithm: KeyAlgorithm; oid: string; size: number } {
  const oid = namedCurve(params, 'EC');
  const c = Object.values(CURVES).find((x) => x.oid === oid);
  if (!c) throw new Error(`unsupported EC curve ${oid ?? '(not a named curve)'}: Rampart uses P-256 and P-384`);
  return c;
}

/** CKA_EC_POINT is a DER OCTET STRING holding the uncompressed point; some modules return the bare point. */
function ecPointFromAttribute(attr: Uint8Array, size: number): Uint8Array {
  if (attr.length === 1 + 2 * size && attr[0] === 0x04) return attr;
  const inner = new Uint8Array(AsnConvert.parse(attr, OctetString).buffer);
  if (inner.length !== 1 + 2 * size || inner[0] !== 0x04) throw new Error(`CKA_EC_POINT is not an uncompressed point of ${size * 8} bits`);
  return inner;
}

/** The 32-byte Ed25519 public key from CKA_EC_POINT (a DER OCTET STRING; the bare 32 bytes accepted too). */
function edwardsPointFromAttribute(attr: Uint8Array): Uint8Array {
  if (attr.length === ED25519_SIZE) return attr;
  let inner: Uint8Array;
  try {
    inner = new Uint8Array(AsnConvert.parse(attr, OctetString).buffer);
  } catch {
    throw new Error(`CKA_EC_POINT of an Ed25519 key is neither an OCTET STRING nor ${ED25519_SIZE} bytes`);
  }
  if (inner.length !== ED25519_SIZE) throw new Error(`CKA_EC_POINT of an Ed25519 key holds ${inner.length} bytes, not ${ED25519_SIZE}`);
  return inner;
}

function spkiDer(info: SubjectPublicKeyInfo): Uint8Array {
  const der = new Uint8Array(AsnConvert.serialize(info));
  createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' }); // throws on anything node:crypto cannot use
  return der;
}

export function spkiFromEc(ecParams: Uint8Array, ecPoint: Uint8Array): { algorithm: KeyAlgorithm; spki: Uint8Array } {
  const c = curveOf(ecParams);
  const point = ecPointFromAttribute(ecPoint, c.size);
  const info = new SubjectPublicKeyInfo({
    algorithm: new AlgorithmIdentifier({ algorithm: id_ecPublicKey, parameters: AsnConvert.serialize(new ECParameters({ namedCurve: c.oid })) }),
    subjectPublicKey: point.slice().buffer,
  });
  return { algorithm: c.algorithm, spki: spkiDer(info) };
}

/** SPKI of a CKK_EC_EDWARDS key from its CKA_EC_PARAMS and CKA_EC_POINT (Ed25519 only). */
export function spkiFromEdwards(ecParams: Uint8Array, ecPoint: Uint8Array): { algorithm: KeyAlgorithm; spki: Uint8Array } {
  // PKCS#11 3.0 also allows the curve name as a PrintableString (what some tokens store).
  const name = asn1js.fromBER(ecParams).result;
  const oid = name instanceof asn1js.PrintableString && name.valueBlock.value === 'edwards25519' ? ID_ED25519 : namedCurve(ecParams, 'Edwards');
  if (oid !== ID_ED25519) throw new Error(`unsupported Edwards curve ${oid ?? '(not a named curve)'}: Rampart uses Ed25519`);
  const info = new SubjectPublicKeyInfo({
    algorithm: new AlgorithmIdentifier({ algorithm: ID_ED25519 }),
    subjectPublicKey: edwardsPointFromAttribute(ecPoint).slice().buffer,
  });
  return { algorithm: 'ed25519', spki: spkiDer(info) };
}

export function spkiFromRsa(modulus: Uint8Array, exponent: Uint8Array): { algorithm: KeyAlgorithm; spki: Uint8Array } {
  const pub = new RSAPublicKey({ modulus: positiveInteger(modulus), publicExponent: positiveInteger(exponent) });
  const bits = (new Uint8Array(pub.modulus).length - (new Uint8Array(pub.modulus)[0] === 0 ? 1 : 0)) * 8;
  const algorithm = ({ 2048: 'rsa-2048', 3072: 'rsa-3072', 4096: 'rsa-4096' } as Record<number, KeyAlgorithm>)[bits];
  if (!algorithm) throw new Error(`unsupported RSA modulus of ${bits} bits: Rampart uses 2048, 3072 or 4096`);
  const info = new SubjectPublicKeyInfo({
    algorithm: new AlgorithmIdentifier({ algorithm: id_rsaEncryption, parameters: null }),
    subjectPublicKey: AsnConvert.serialize(pub),
  });
  return { algorithm, spki: spkiDer(info) };
}

export type PublicKeyParts =
  | { kind: 'ec' | 'edwards'; algorithm: KeyAlgorithm; ecParams: Uint8Array; ecPointAttr: Uint8Array }
  | { kind: 'rsa'; algorithm: KeyAlgorithm; modulus: Uint8Array; exponent: Uint8Array };

/** The PKCS#11 attribute values of the public key in an SPKI (for C_CreateObject of a public key object). */
export function partsFromSpki(spki: Uint8Array): PublicKeyParts {
  const info = AsnConvert.parse(spki, SubjectPublicKeyInfo);
  const bits = new Uint8Array(info.subjectPublicKey);
  if (info.algorithm.algorithm === id_ecPublicKey) {
    if (!info.algorithm.parameters) throw new Error('EC public key without curve parameters');
    const ecParams = new Uint8Array(info.algorithm.parameters);
    const c = curveOf(ecParams);
    return { kind: 'ec', algorithm: c.algorithm, ecParams, ecPointAttr: new Uint8Array(AsnConvert.serialize(new OctetString(bits))) };
  }
  if (info.algorithm.algorithm === ID_ED25519) {
    if (bits.length !== ED25519_SIZE) throw new Error(`an Ed25519 public key is ${ED25519_SIZE} bytes, not ${bits.length}`);
    return { kind: 'edwards', algorithm: 'ed25519', ecParams: edwardsParams(), ecPointAttr: new Uint8Array(AsnConvert.serialize(new OctetString(bits))) };
  }
  if (info.algorithm.algorithm === id_rsaEncryption) {
    const pub = AsnConvert.parse(bits, RSAPublicKey);
    const { algorithm } = spkiFromRsa(new Uint8Array(pub.modulus), new Uint8Array(pub.publicExponent));
    const strip = (b: ArrayBuffer): Uint8Array => { const u = new Uint8Array(b); return u[0] === 0 && u.length > 1 ? u.subarray(1) : u; };
    return { kind: 'rsa', algorithm, modulus: strip(pub.modulus), exponent: strip(pub.publicExponent) };
  }
  throw new Error(`unsupported public key algorithm ${info.algorithm.algorithm}`);
}

/** SHA-1 of the subjectPublicKey bits: the certificate's SubjectKeyIdentifier (RFC 5280 method 1) and Rampart's CKA_ID. */
export function keyIdFor(spki: Uint8Array): Uint8Array {
  const info = AsnConvert.parse(spki, SubjectPublicKeyInfo);
  return new Uint8Array(createHash('sha1').update(Buffer.from(info.subjectPublicKey)).digest());
}
