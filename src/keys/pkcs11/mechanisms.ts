/**
 * Which PKCS#11 mechanisms and templates each key algorithm uses, and the
 * conversion of token signatures to the X.509 form:
 *
 * - ECDSA P-256 / P-384: CKM_EC_KEY_PAIR_GEN (CKA_EC_PARAMS = DER namedCurve
 *   OID); signing hashes in node (SHA-256 / SHA-384 per hashFor) and asks the
 *   token for CKM_ECDSA over the digest, so large TBS structures (CRLs) never
 *   travel to the token; the raw r||s it returns becomes a DER ECDSA-Sig-Value.
 * - Ed25519 (SSH CAs): CKM_EC_EDWARDS_KEY_PAIR_GEN (CKA_EC_PARAMS = the
 *   id-Ed25519 OID), key type CKK_EC_EDWARDS; signing with CKM_EDDSA and no
 *   parameters, which is pure Ed25519 (RFC 8032): the token gets the message
 *   itself (an SSH certificate's to-be-signed bytes, about a kilobyte) and
 *   returns the 64-byte signature as it is.
 * - RSA 2048 / 3072 / 4096: CKM_RSA_PKCS_KEY_PAIR_GEN (e = 65537); signing
 *   with CKM_SHA256_RSA_PKCS, which returns PKCS#1 v1.5 bytes as they are.
 * - Key wrap: RFC 5649 AES key wrap with padding. PKCS#11 2.40 calls it
 *   CKM_AES_KEY_WRAP_PAD (0x210A, what SoftHSM2 implements); PKCS#11 3.0
 *   renamed RFC 5649 CKM_AES_KEY_WRAP_KWP (0x210B) and gave 0x210A another
 *   meaning, so KWP is preferred when a token lists it.
 */
import { createHash } from 'node:crypto';
import { ECDSASigValue } from '@peculiar/asn1-ecc';
import { AsnConvert } from '@peculiar/asn1-schema';
import pkcs11js from 'pkcs11js';
import { hashFor, type KeyAlgorithm } from '../key-backend.js';
import { CURVES, ecParamsFor, edwardsParams, positiveInteger } from './public-key.js';

export const CKM_AES_KEY_WRAP_KWP = 0x210b;
/** PKCS#11 3.0 Edwards-curve constants; pkcs11js 2.1 has none for them. */
export const CKK_EC_EDWARDS = 0x40;
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
export const CKM_EDDSA = 0x1057;
/** PKCS#11 2.40 CKA_PUBLIC_KEY_INFO (DER SPKI on private keys of tokens that fill it); pkcs11js has no constant for it. */
export const CKA_PUBLIC_KEY_INFO = 0x129;

export interface SignPlan {
  mechanism: number;
  /** The bytes handed to C_Sign for `data`. */
  input(data: Uint8Array): Buffer;
  /** The token's output in X.509 form. */
  output(raw: Buffer): Uint8Array;
  /** Upper bound of the token's output length. */
  maxBytes: number;
}

export const isEc = (a: KeyAlgorithm): boolean => a.startsWith('ecdsa');
const rsaBits = (a: KeyAlgorithm): number => Number(a.slice('rsa-'.length));

/** CKA_KEY_TYPE of an algorithm's key objects. */
export function keyTypeFor(algorithm: KeyAlgorithm): number {
  if (algorithm === 'ed25519') return CKK_EC_EDWARDS;
  return isEc(algorithm) ? pkcs11js.CKK_EC : pkcs11js.CKK_RSA;
}

const ED25519_SIGNATURE = 64;

export function signPlan(algorithm: KeyAlgorithm): SignPlan {
  if (algorithm === 'ed25519') {
    return {
      mechanism: CKM_EDDSA,
      input: (data) => Buffer.from(data.buffer, data.byteOffset, data.byteLength),
      output: (raw) => {
        if (raw.length !== ED25519_SIGNATURE) throw new Error(`the token returned a ${raw.length}-byte Ed25519 signature, expected ${ED25519_SIGNATURE}`);
        return new Uint8Array(raw);
      },
      maxBytes: ED25519_SIGNATURE,
    };
  }
  if (isEc(algorithm)) {
    const size = CURVES[algorithm]!.size;
    return {
      mechanism: pkcs11js.CKM_ECDSA,
      input: (data) => createHash(hashFor(algorithm)).update(data).digest(),
      output: (raw) => {
        if (raw.length !== 2 * size) throw new Error(`the token returned a ${raw.length}-byte ECDSA signature, expected ${2 * size} (r||s)`);
        const sig = new ECDSASigValue({ r: positiveInteger(raw.subarray(0, size)), s: positiveInteger(raw.subarray(size)) });
        return new Uint8Array(AsnConvert.serialize(sig));
      },
      maxBytes: 2 * size,
    };
  }
  return {
    mechanism: pkcs11js.CKM_SHA256_RSA_PKCS,
    input: (data) => Buffer.from(data.buffer, data.byteOffset, data.byteLength),
    output: (raw) => new Uint8Array(raw),
    maxBytes: rsaBits(algorithm) / 8,
  };
}

export interface KeyAttributes {
  id: Uint8Array;
  label: string;
  extractable: boolean;
}

/** Attributes every Rampart private key gets: a token object, private, sensitive, for signing only. */
export function privateKeyTemplate(algorithm: KeyAlgorithm, a: KeyAttributes): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: keyTypeFor(algorithm) },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: a.extractable },
    { type: pkcs11js.CKA_SIGN, value: true },
    { type: pkcs11js.CKA_DECRYPT, value: false },
    { type: pkcs11js.CKA_UNWRAP, value: false },
    { type: pkcs11js.CKA_DERIVE, value: false },
    { type: pkcs11js.CKA_ID, value: Buffer.from(a.id) },
    { type: pkcs11js.CKA_LABEL, value: a.label },
  ];
}

export function publicKeyBaseTemplate(algorithm: KeyAlgorithm, a: Pick<KeyAttributes, 'id' | 'label'>): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: keyTypeFor(algorithm) },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: false },
    { type: pkcs11js.CKA_VERIFY, value: true },
    { type: pkcs11js.CKA_ENCRYPT, value: false },
    { type: pkcs11js.CKA_WRAP, value: false },
    { type: pkcs11js.CKA_ID, value: Buffer.from(a.id) },
    { type: pkcs11js.CKA_LABEL, value: a.label },
  ];
}

/** C_GenerateKeyPair mechanism and templates. */
export function keyPairGeneration(algorithm: KeyAlgorithm, a: KeyAttributes): { mechanism: pkcs11js.Mechanism; publicTemplate: pkcs11js.Template; privateTemplate: pkcs11js.Template } {
  const privateTemplate = privateKeyTemplate(algorithm, a).filter((t) => t.type !== pkcs11js.CKA_CLASS && t.type !== pkcs11js.CKA_KEY_TYPE);
  const pub = publicKeyBaseTemplate(algorithm, a).filter((t) => t.type !== pkcs11js.CKA_CLASS && t.type !== pkcs11js.CKA_KEY_TYPE);
  if (algorithm === 'ed25519') {
    return {
      mechanism: { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN },
      publicTemplate: [...pub, { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(edwardsParams()) }],
      privateTemplate,
    };
  }
  if (isEc(algorithm)) {
    return {
      mechanism: { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
      publicTemplate: [...pub, { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(ecParamsFor(algorithm)) }],
      privateTemplate,
    };
  }
  return {
    mechanism: { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN },
    publicTemplate: [...pub, { type: pkcs11js.CKA_MODULUS_BITS, value: rsaBits(algorithm) }, { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) }],
    privateTemplate,
  };
}

/** The RFC 5649 wrap mechanism a token offers, or null when it has none. */
export function wrapMechanism(mechanisms: readonly number[]): number | null {
  if (mechanisms.includes(CKM_AES_KEY_WRAP_KWP)) return CKM_AES_KEY_WRAP_KWP;
  if (mechanisms.includes(pkcs11js.CKM_AES_KEY_WRAP_PAD)) return pkcs11js.CKM_AES_KEY_WRAP_PAD;
  return null;
}

/** A session (CKA_TOKEN false) AES key object holding a key-encryption key, usable only to wrap and unwrap. */
export function kekTemplate(kek: Uint8Array): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_WRAP, value: true },
    { type: pkcs11js.CKA_UNWRAP, value: true },
    { type: pkcs11js.CKA_ENCRYPT, value: false },
    { type: pkcs11js.CKA_DECRYPT, value: false },
    { type: pkcs11js.CKA_VALUE, value: Buffer.from(kek) },
  ];
}
