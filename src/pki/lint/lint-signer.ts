/**
 * Throwaway signing keys for linting before the real signature (as Boulder
 * does): a certificate, CRL or OCSP response is first built with the same
 * TBS and a signature from an in-memory key of the same algorithm, linted,
 * and only then signed by the CA key. The keys live in this process only and
 * sign nothing that leaves it.
 */
import { createPublicKey, sign } from 'node:crypto';
import { generateKeyObject, hashFor, type KeyAlgorithm, type Signer } from '../../core/signing.js';

const keys = new Map<KeyAlgorithm, Signer>();

/** The process's throwaway signer for `algorithm` (made on first use). */
export function lintSigner(algorithm: KeyAlgorithm): Signer {
  let s = keys.get(algorithm);
  if (!s) {
    const key = generateKeyObject(algorithm);
    const spki = new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' }));
    const hash = hashFor(algorithm);
    s = {
      keyRef: `lint:${algorithm}`, algorithm, spki,
      sign: async (data) => new Uint8Array(sign(hash, data, algorithm.startsWith('ecdsa') ? { key, dsaEncoding: 'der' } : key)),
    };
    keys.set(algorithm, s);
  }
  return s;
}

/** Called with the throwaway-signed preview before the real signature; throws to refuse. */
export type Preflight = (previewDer: Uint8Array) => void;
