/**
 * What signing looks like to everything above the key backends: the key
 * algorithms Rampart uses and a Signer (a private key that signs, wherever it
 * is kept). pki/ encodes with a Signer; keys/ provides them.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';

export const KEY_ALGORITHMS = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096', 'ed25519'] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

export function isKeyAlgorithm(v: unknown): v is KeyAlgorithm {
  return typeof v === 'string' && (KEY_ALGORITHMS as readonly string[]).includes(v);
}

/** A private key that can sign, identified by a backend-specific reference. */
export interface Signer {
  readonly keyRef: string;
  readonly algorithm: KeyAlgorithm;
  /** DER SubjectPublicKeyInfo of the key. */
  readonly spki: Uint8Array;
  /**
   * Signs `data` with the hash that belongs to the key algorithm (SHA-256 for
   * P-256 and RSA, SHA-384 for P-384) and returns the signature in the form
   * X.509 expects (DER ECDSA-Sig-Value, or PKCS#1 v1.5 bytes); Ed25519
   * (SSH CAs only) signs the message itself (RFC 8032, 64 bytes).
   * `background`: work that must not hold the calling thread even for a
   * small input (the synthetic inventory; every OCSP answer, signed for the
   * thread that answers validation); a software key then signs on libuv's
   * thread pool (an HSM's signatures are made off the thread anyway).
   */
  sign(data: Uint8Array, o?: { background?: boolean }): Promise<Uint8Array>;
}

export function hashFor(algorithm: KeyAlgorithm): 'sha256' | 'sha384' {
  return algorithm === 'ecdsa-p384' ? 'sha384' : 'sha256';
}

/** Ed25519 is for SSH CAs only (src/ca/ssh/): X.509 CAs, CSRs and OCSP signers use the others. */
export const X509_KEY_ALGORITHMS = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'] as const;

/** The digest node:crypto's sign/verify take for `algorithm`: none for Ed25519 (it hashes the message itself). */
export function signHash(algorithm: KeyAlgorithm): 'sha256' | 'sha384' | null {
  return algorithm === 'ed25519' ? null : hashFor(algorithm);
}

/** The key argument of node:crypto's sign/verify: ECDSA signatures in DER (X.509 form). */
export function signingKey(algorithm: KeyAlgorithm, key: KeyObject): KeyObject | { key: KeyObject; dsaEncoding: 'der' } {
  return algorithm.startsWith('ecdsa') ? { key, dsaEncoding: 'der' } : key;
}

/** A new private key of `algorithm`, in memory. */
export function generateKeyObject(algorithm: KeyAlgorithm): KeyObject {
  switch (algorithm) {
    case 'ecdsa-p256': return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    case 'ecdsa-p384': return generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    case 'rsa-2048': return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    case 'rsa-3072': return generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey;
    case 'rsa-4096': return generateKeyPairSync('rsa', { modulusLength: 4096 }).privateKey;
    case 'ed25519': return generateKeyPairSync('ed25519').privateKey;
  }
}
