/**
 * The signed envelope of an OCSP answer (RFC 6960 4.2.1): BasicOCSPResponse
 * (the ResponseData bytes as they were signed, the algorithm, the signature,
 * the responder certificate) inside OCSPResponse. The parts that never
 * change for a responder (its certificate in `certs`, the algorithm, the
 * response type) are encoded once by asn1js and placed as they are
 * (src/pki/encoded-block.ts); the ResponseData is encoded once and not again
 * for the envelope, and the wrapping comes from a kept layout of the
 * elements' lengths (src/pki/der-layouts.ts). ocsp-codec.test.ts checks the bytes equal
 * @peculiar/asn1-ocsp's own encoding of the same response.
 */
import * as asn1js from 'asn1js';
import { id_pkix_ocsp_basic, OCSPResponseStatus } from '@peculiar/asn1-ocsp';
import type { KeyAlgorithm } from '../../core/signing.js';
import { algorithmDer } from '../../pki/algorithms.js';
import { DerLayouts } from '../../pki/der-layouts.js';
import { EncodedBlock, explicit, sequenceOf } from '../../pki/encoded-block.js';


const SUCCESSFUL = new Uint8Array(new asn1js.Enumerated({ value: OCSPResponseStatus.successful }).toBER());
const BASIC_TYPE = new Uint8Array(new asn1js.ObjectIdentifier({ value: id_pkix_ocsp_basic }).toBER());

/** `[0] EXPLICIT SEQUENCE OF Certificate` holding the responder certificate, per certificate buffer. */
const certsFields = new WeakMap<Uint8Array, Uint8Array>();
function certsField(responderCertDer: Uint8Array): Uint8Array {
  let d = certsFields.get(responderCertDer);
  if (!d) {
    d = new Uint8Array(explicit(0, new asn1js.Sequence({ value: [new EncodedBlock(responderCertDer)] })).toBER());
    certsFields.set(responderCertDer, d);
  }
  return d;
}

/** The envelope around its elements (status, type, ResponseData, algorithm, signature value, certs), wrapped by asn1js. */
function assembleEnvelope([status, type, tbsDer, algorithm, signature, certs]: Uint8Array[]): Uint8Array {
  const basic = sequenceOf([tbsDer!, algorithm!, new asn1js.BitString({ valueHex: signature! }), certs!]);
  const bytes = new asn1js.Sequence({ value: [new EncodedBlock(type!), new asn1js.OctetString({ valueHex: basic })] });
  return sequenceOf([status!, explicit(0, bytes)]);
}

/** Envelopes of the same element lengths (ResponseData, signature, certificate) share a kept layout (der-layouts.ts). */
const layouts = new DerLayouts(256);

/** The complete OCSPResponse for signed ResponseData bytes. */
export function assembleOcspResponse(tbsDer: Uint8Array, algorithm: KeyAlgorithm, signature: Uint8Array, responderCertDer: Uint8Array): Uint8Array {
  return layouts.encode('basic', [SUCCESSFUL, BASIC_TYPE, tbsDer, algorithmDer(algorithm), signature, certsField(responderCertDer)], assembleEnvelope);
}

/** How many envelopes came from a kept layout (tests). */
export function envelopeLayoutStats(): { hits: number; kept: number; refused: number } {
  return { ...layouts.stats };
}
