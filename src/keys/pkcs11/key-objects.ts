/**
 * Reading and writing key objects: the public key (SPKI) of a token key pair,
 * from its public key object or what the private key object reveals, and the
 * public key object Rampart stores next to an imported private key.
 */
import pkcs11js from 'pkcs11js';
import type { KeyAlgorithm } from '../key-backend.js';
import { CKA_PUBLIC_KEY_INFO, CKK_EC_EDWARDS, publicKeyBaseTemplate } from './mechanisms.js';
import { partsFromSpki, spkiFromEc, spkiFromEdwards, spkiFromRsa } from './public-key.js';
import type { Token } from './token.js';

type Handle = pkcs11js.Handle;

/** A CK_ULONG attribute value (little-endian in pkcs11js' buffer). */
export const ulong = (b: Buffer): number => (b.length >= 4 ? b.readUInt32LE(0) : b[0] ?? 0);

/** SPKI of a key object that carries the public values (a public key object, or an RSA private key object). */
export function readPublicKey(p: pkcs11js.PKCS11, s: Handle, h: Handle): { algorithm: KeyAlgorithm; spki: Uint8Array } {
  const [type] = p.C_GetAttributeValue(s, h, [{ type: pkcs11js.CKA_KEY_TYPE }]);
  const keyType = ulong(type!.value);
  if (keyType === pkcs11js.CKK_EC || keyType === CKK_EC_EDWARDS) {
    const [params, point] = p.C_GetAttributeValue(s, h, [{ type: pkcs11js.CKA_EC_PARAMS }, { type: pkcs11js.CKA_EC_POINT }]);
    return keyType === CKK_EC_EDWARDS ? spkiFromEdwards(params!.value, point!.value) : spkiFromEc(params!.value, point!.value);
  }
  if (keyType === pkcs11js.CKK_RSA) {
    const [n, e] = p.C_GetAttributeValue(s, h, [{ type: pkcs11js.CKA_MODULUS }, { type: pkcs11js.CKA_PUBLIC_EXPONENT }]);
    return spkiFromRsa(n!.value, e!.value);
  }
  throw new Error(`unsupported key type ${ulong(type!.value)} (Rampart uses EC, Ed25519 and RSA keys)`);
}

/** The public key of the private key `priv` (CKA_ID `id`): its public key object, or what the private key object reveals. */
export function publicKeyOf(p: pkcs11js.PKCS11, t: Token, s: Handle, priv: Handle, id: Uint8Array): { algorithm: KeyAlgorithm; spki: Uint8Array } {
  const [pub] = t.find(s, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }, { type: pkcs11js.CKA_ID, value: Buffer.from(id) }], 1);
  if (pub) return readPublicKey(p, s, pub);
  const [type] = p.C_GetAttributeValue(s, priv, [{ type: pkcs11js.CKA_KEY_TYPE }]);
  if (ulong(type!.value) === pkcs11js.CKK_RSA) return readPublicKey(p, s, priv);
  try {
    const [info] = p.C_GetAttributeValue(s, priv, [{ type: CKA_PUBLIC_KEY_INFO }]);
    if (info?.value.length) return { algorithm: partsFromSpki(info.value).algorithm, spki: new Uint8Array(info.value) };
  } catch { /* not offered by this token */ }
  throw new Error(`${t.name} holds the private key ${Buffer.from(id).toString('hex')} but no public key object for it (CKO_PUBLIC_KEY with the same CKA_ID)`);
}

/** Attributes of the public key object stored next to an imported private key. */
export function publicKeyObjectTemplate(algorithm: KeyAlgorithm, spki: Uint8Array, id: Uint8Array, label: string): pkcs11js.Template {
  const parts = partsFromSpki(spki);
  const base = publicKeyBaseTemplate(algorithm, { id, label });
  if (parts.kind !== 'rsa') {
    return [...base, { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(parts.ecParams) }, { type: pkcs11js.CKA_EC_POINT, value: Buffer.from(parts.ecPointAttr) }];
  }
  return [...base, { type: pkcs11js.CKA_MODULUS, value: Buffer.from(parts.modulus) }, { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from(parts.exponent) }];
}
