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

const previewSignatures = new Map<KeyAlgorithm, Promise<Uint8Array>>();

/**
 * One throwaway signature per algorithm, made once, for a preview whose lint
 * reads no signature value: the element lint of a certificate
 * (certificate-elements.ts) checks the algorithm identifiers, never the
 * signature bytes, so signing each preview (~65 µs of a PKI worker per
 * issuance, profiled under `wrk -c32`) bought nothing. The value is a real
 * signature of this algorithm's shape (ECDSA-Sig-Value, RSA modulus length),
 * over a fixed message rather than the preview.
 */
export function previewSignature(algorithm: KeyAlgorithm): Promise<Uint8Array> {
  let s = previewSignatures.get(algorithm);
  if (!s) previewSignatures.set(algorithm, (s = lintSigner(algorithm).sign(new TextEncoder().encode(`rampart preview ${algorithm}`))));
  return s;
}
