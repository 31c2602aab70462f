/**
 * Proof that a restored key is the CA's key before it is used: its public
 * key equals the CA certificate's SubjectPublicKeyInfo, and a fresh test
 * signature made with it verifies against the certificate's public key.
 */
import { X509Certificate, createPrivateKey, createPublicKey, randomBytes, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { signHash, signingKey, type KeyAlgorithm, type Signer } from '../key-backend.js';
import { algorithmOf } from '../software/software-backend.js';
import { CustodyError } from './custody-error.js';
import { sha256Colon } from './fingerprints.js';

export interface KeyProof {
  /** SHA-256 of the SPKI the key and the certificate share. */
  spkiSha256: string;
  certificateSha256: string;
}

/** The public key of a CA certificate, or of a bare SubjectPublicKeyInfo (an SSH CA's key, key-owner.ts). */
function certificateKey(certDer: Uint8Array): { pub: KeyObject; spki: Buffer } {
  let pub: KeyObject;
  try {
    pub = new X509Certificate(Buffer.from(certDer)).publicKey;
  } catch {
    pub = createPublicKey({ key: Buffer.from(certDer), format: 'der', type: 'spki' });
  }
  return { pub, spki: pub.export({ type: 'spki', format: 'der' }) };
}

function testSignatureVerifies(algorithm: KeyAlgorithm, pub: KeyObject, data: Buffer, sig: Uint8Array): boolean {
  return cryptoVerify(signHash(algorithm), data, signingKey(algorithm, pub), sig);
}

function testData(): Buffer {
  return Buffer.concat([Buffer.from('rampart key restore test signature:', 'utf8'), randomBytes(32)]);
}

/** Checks a PKCS#8 private key (in memory, not yet imported) against the CA certificate. */
export function proveKeyMatchesCertificate(pkcs8: Uint8Array, algorithm: KeyAlgorithm, certDer: Uint8Array): KeyProof {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
  } catch {
    throw new CustodyError('mismatch', 'the reconstructed key is not a PKCS#8 private key');
  }
  if (algorithmOf(key) !== algorithm) throw new CustodyError('mismatch', `the reconstructed key is ${algorithmOf(key) ?? 'of an unsupported type'}, the backup says ${algorithm}`);
  const { pub, spki } = certificateKey(certDer);
  const mine = createPublicKey(key).export({ type: 'spki', format: 'der' });
  if (!mine.equals(spki)) throw new CustodyError('mismatch', 'the reconstructed key does not belong to the CA certificate: its public key differs from the certificate\'s');
  const data = testData();
  const sig = cryptoSign(signHash(algorithm), data, signingKey(algorithm, key));
  if (!testSignatureVerifies(algorithm, pub, data, sig)) throw new CustodyError('mismatch', 'a test signature with the reconstructed key does not verify against the CA certificate');
  return { spkiSha256: sha256Colon(spki), certificateSha256: sha256Colon(certDer) };
}

/** Checks a key as the backend holds it (after import) against the CA certificate. */
export async function proveSignerMatchesCertificate(signer: Signer, certDer: Uint8Array): Promise<KeyProof> {
  const { pub, spki } = certificateKey(certDer);
  if (!Buffer.from(signer.spki).equals(spki)) throw new CustodyError('mismatch', `the imported key ${signer.keyRef} does not belong to the CA certificate: its public key differs from the certificate's`);
  const data = testData();
  const sig = await signer.sign(data);
  if (!testSignatureVerifies(signer.algorithm, pub, data, sig)) throw new CustodyError('mismatch', `a test signature by the imported key ${signer.keyRef} does not verify against the CA certificate`);
  return { spkiSha256: sha256Colon(spki), certificateSha256: sha256Colon(certDer) };
}
