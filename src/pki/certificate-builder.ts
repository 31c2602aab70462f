/**
 * Builds and signs X.509 v3 certificates (RFC 5280) from a typed template.
 * ASN.1 structures come from @peculiar/asn1-x509; the signature comes from a
 * Signer, so the same code signs with software keys or an HSM.
 */
import { lintSigner, type Preflight } from './lint/lint-signer.js';
import type { KeyAlgorithm, Signer } from '../core/signing.js';
import * as asn1js from 'asn1js';
import { algorithmDer } from './algorithms.js';
import type { CertificateTemplate } from './certificate-template.js';
import { DerLayouts } from './der-layouts.js';
import { sequenceOf } from './encoded-block.js';
import { encodeTbs } from './tbs-encoder.js';

export { EKU_OIDS, type CertificateTemplate, type KeyUsageName, type SubjectAltNames } from './certificate-template.js';
export { buildExtensions, generalNames, keyIdentifier } from './extensions.js';
/** Time spent in each step of building one certificate (ms), for the issuance profile. */
export type BuildObserver = (stage: 'encode' | 'lint' | 'sign', ms: number) => void;

/**
 * Builds and signs a certificate. The TBSCertificate is encoded once
 * (tbs-encoder.ts: the extensions a profile shares are encoded once per
 * profile and issuer); the signed certificate places those bytes as they are.
 * With `preflight`, the same TBS is first signed by a throwaway key
 * (lint-signer.ts) and handed to it: it throws to refuse, before the real
 * key signs anything.
 */
export async function buildCertificate(t: CertificateTemplate, signer: Signer, preflight?: Preflight, observe?: BuildObserver): Promise<Uint8Array> {
  if (t.notAfter <= t.notBefore) throw new Error('notAfter must be after notBefore');
  let at = performance.now();
  const lap = (stage: 'encode' | 'lint' | 'sign'): void => {
    const now = performance.now();
    observe?.(stage, now - at);
    at = now;
  };
  const tbsDer = encodeTbs(t, algorithmDer(signer.algorithm));
  const assemble = (signature: Uint8Array): Uint8Array => assembleCertificate(tbsDer, signer.algorithm, signature);
  lap('encode');
  if (preflight) {
    preflight(assemble(await lintSigner(signer.algorithm).sign(tbsDer)));
    lap('lint');
  }
  const der = assemble(await signer.sign(tbsDer));
  lap('sign');
  return der;
}

/**
 * Certificates kept as layouts (der-layouts.ts): the wrapping around the TBS,
 * the algorithm and the signature depends only on their lengths, so a
 * certificate whose parts have the lengths of an earlier one's is a copy of
 * that one's bytes with its own parts copied in (asn1js' blocks cost ~10 µs a
 * certificate on the thread that signs). An ECDSA signature's length varies
 * by a byte or two, a profile's TBS lengths by its names.
 */
const certificateLayouts = new DerLayouts(1024);

const assembleParts = ([tbs, algorithm, signature]: Uint8Array[]): Uint8Array =>
  sequenceOf([tbs!, algorithm!, new asn1js.BitString({ valueHex: signature! })]);

/** The signed certificate: the TBS bytes as they are, the algorithm, the signature. */
export function assembleCertificate(tbsDer: Uint8Array, algorithm: KeyAlgorithm, signature: Uint8Array): Uint8Array {
  return certificateLayouts.encode('certificate', [tbsDer, algorithmDer(algorithm), signature], assembleParts);
}

export function toArrayBuffer(u: Uint8Array): ArrayBuffer {
  return u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
}

export { toPem } from '../core/pem.js';

export function fromPem(pem: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (let m = re.exec(pem); m; m = re.exec(pem)) out.push(new Uint8Array(Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64')));
  return out;
}
