/**
 * The KeyBackend interface: every CA signature goes through a Signer obtained
 * from a backend. Software keys (encrypted at rest) implement it now; a PKCS#11
 * backend implements the same interface later, so nothing above this layer
 * ever touches private key material.
 */
export { KEY_ALGORITHMS, X509_KEY_ALGORITHMS, isKeyAlgorithm, hashFor, signHash, signingKey, type KeyAlgorithm, type Signer } from '../core/signing.js';
import type { KeyAlgorithm, Signer } from '../core/signing.js';

export interface KeyBackendHealth {
  ok: boolean;
  detail: string;
  /** A backend that still signs with reduced redundancy (e.g. one token of an HSM pool down) reports ok with degraded. */
  degraded?: boolean;
}

export interface KeyBackend {
  readonly type: string;
  /** Generates a new key inside the backend and returns its signer. */
  generate(label: string, algorithm: KeyAlgorithm): Promise<Signer>;
  /** Opens an existing key by reference. Throws KeyNotFound when it does not exist. */
  open(keyRef: string): Promise<Signer>;
  has(keyRef: string): Promise<boolean>;
  health(): Promise<KeyBackendHealth>;
}

/**
 * Optional capability for key backup (Shamir ceremonies, src/keys/custody/):
 * a private key leaves a backend only wrapped with AES key wrap with padding
 * (RFC 5649, AES-256) under a one-time key-encryption key: the wrapped value
 * is the PKCS#8 PrivateKeyInfo, which is exactly what PKCS#11
 * C_WrapKey(CKM_AES_KEY_WRAP_PAD) produces and what node:crypto's
 * 'id-aes256-wrap-pad' cipher unwraps, so a backup made from an HSM can be
 * restored into software keys and the other way round.
 */
export interface KeyWrapper {
  /** Wraps the private key of `keyRef` under `kek` (32 bytes). Throws when the key may not leave the backend (non-extractable). */
  exportWrapped(keyRef: string, kek: Uint8Array): Promise<{ algorithm: KeyAlgorithm; spki: Uint8Array; wrapped: Uint8Array }>;
  /** Unwraps into a new key of this backend (non-extractable where the backend supports it). */
  importWrapped(label: string, algorithm: KeyAlgorithm, wrapped: Uint8Array, kek: Uint8Array): Promise<Signer>;
}

export function isKeyWrapper(b: unknown): b is KeyWrapper {
  return typeof (b as KeyWrapper | null)?.exportWrapped === 'function' && typeof (b as KeyWrapper | null)?.importWrapped === 'function';
}

/** Optional capability: backends that can import an existing private key (restore, migration). */
export interface KeyImporter {
  importPkcs8(label: string, algorithm: KeyAlgorithm, pkcs8: Uint8Array): Promise<Signer>;
}

/**
 * Optional capability of backends that keep every key in several places (the
 * tokens of a PKCS#11 pool): what the SSH CA creation ceremony
 * (src/ca/ssh/ssh-ca-ceremony.ts) needs to put a key made in memory into each
 * place and prove it there, and to know when a key made by generate() would
 * stay in one place.
 */
export interface KeyPlacement {
  /** The places a key should be in, and whether each is usable now. */
  places(): Array<{ name: string; up: boolean }>;
  /** Why a key of `algorithm` made by generate() could neither be copied to the other places nor backed up; null when it can. */
  copyLimit(algorithm: KeyAlgorithm): Promise<string | null>;
  /** The reference a key with this public key gets when imported. */
  keyRefForSpki(spki: Uint8Array): string;
  /** A signature over `data` by `keyRef` from every place that is up (throws when one lacks the key). */
  signInEveryPlace(keyRef: string, data: Uint8Array): Promise<Array<{ place: string; signature: Uint8Array }>>;
}

export function isKeyPlacement(b: unknown): b is KeyPlacement {
  return typeof (b as KeyPlacement | null)?.copyLimit === 'function' && typeof (b as KeyPlacement | null)?.signInEveryPlace === 'function';
}
