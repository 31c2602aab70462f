/**
 * What signing looks like to everything above the key backends: the key
 * algorithms Rampart uses and a Signer (a private key that signs, wherever it
 * is kept). pki/ encodes with a Signer; keys/ provides them.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';

export const KEY_ALGORITHMS = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'] as const;
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
   * X.509 expects (DER ECDSA-Sig-Value, or PKCS#1 v1.5 bytes).
   */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

export function hashFor(algorithm: KeyAlgorithm): 'sha256' | 'sha384' {
  return algorithm === 'ecdsa-p384' ? 'sha384' : 'sha256';
}

/** A new private key of `algorithm`, in memory. */
export function generateKeyObject(algorithm: KeyAlgorithm): KeyObject {
  switch (algorithm) {
    case 'ecdsa-p256': return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    case 'ecdsa-p384': return generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    case 'rsa-2048': return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    case 'rsa-3072': return generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey;
    case 'rsa-4096': return generateKeyPairSync('rsa', { modulusLength: 4096 }).privateKey;
  }
}
