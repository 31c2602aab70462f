/**
 * A certificate's lint input from the elements its TBSCertificate was
 * assembled from (tbs-encoder.ts), rather than from a parse of the whole
 * certificate: the CA's preflight lints every certificate it is about to
 * sign, and parsing the whole preview was most of that lint (~330 of
 * ~410 µs, measured: asn1js fromBER ~160 µs, the typed conversion ~120 µs).
 *
 * A TBSCertificate is its elements (version, serial, signature algorithm,
 * issuer, validity, subject, key, then each extension) wrapped by asn1js, or
 * copied into a layout whose offsets were checked by assembling probe
 * elements (der-layouts.ts). So each element is decoded on
 * its own, by the same library types the whole parse uses, and the elements
 * a profile and issuer repeat (algorithm, issuer name, most extensions, the
 * validity within a second) are decoded once, kept by their exact bytes.
 * `test/lint-elements.test.ts` checks that the input equals the whole
 * parse's, and the findings too, for random and faulty templates.
 */
import { AsnConvert, AsnIntegerArrayBufferConverter } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';
import * as asn1js from 'asn1js';
import { inputOf, type CertificateInput } from './certificate-input.js';
import { parse, validityView, type CertificateDerView, type RawTime } from './der-views.js';
import { LintDecodeError, type LintContext } from './types.js';

export interface CertificateElements {
  /** The whole certificate (the preview the lint is about). */
  der: Uint8Array;
  /** Its TBSCertificate's elements in order: version, serial, signature, issuer, validity, subject, key, then each extension. */
  elements: Uint8Array[];
  /** The DER TBSCertificate they make. */
  tbsDer: Uint8Array;
  /** The outer signatureAlgorithm (DER AlgorithmIdentifier) and the signature value. */
  signatureAlgorithm: Uint8Array;
  signature: Uint8Array;
}

interface Validity { typed: asn.Validity; notBefore: RawTime | null; notAfter: RawTime | null }

/**
 * Decoded elements by type and exact bytes, oldest dropped first beyond the
 * bound. An element is kept the second time it comes: what each certificate
 * has of its own (subject, key, key identifier, names) is met once and only
 * noted, so it never pushes out what a profile and issuer repeat.
 */
const decoded = new Map<string, unknown>();
const MAX_DECODED = 1024;
const seenOnce = new Set<string>();
const MAX_SEEN = 4096;

function keep<T>(kind: string, bytes: Uint8Array, decode: () => T): T {
  const key = `${kind} ${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`;
  const hit = decoded.get(key) as T | undefined;
  if (hit !== undefined) return hit;
  const value = decode();
  if (seenOnce.delete(key)) {
    if (decoded.size >= MAX_DECODED) decoded.delete(decoded.keys().next().value!);
    decoded.set(key, value);
  } else {
    if (seenOnce.size >= MAX_SEEN) seenOnce.clear();
    seenOnce.add(key);
  }
  return value;
}

type Ctor<T> = new () => T;
const typed = <T>(bytes: Uint8Array, type: Ctor<T>): T => keep(type.name, bytes, () => AsnConvert.parse(bytes, type));

/** `[0] EXPLICIT INTEGER`: the version number. */
function versionOf(bytes: Uint8Array): number {
  return keep('version', bytes, () => {
    const block = parse(bytes) as asn1js.Constructed;
    const inner = block.idBlock.tagClass === 3 && block.idBlock.tagNumber === 0 ? block.valueBlock.value : [];
    if (inner.length !== 1 || !(inner[0] instanceof asn1js.Integer)) throw new Error('not a [0] EXPLICIT version');
    return inner[0].valueBlock.valueDec;
  });
}

function serialOf(bytes: Uint8Array): { value: ArrayBuffer; contents: Uint8Array } {
  const block = parse(bytes);
  if (!(block instanceof asn1js.Integer)) throw new Error('the serial is not an INTEGER');
  return { value: AsnIntegerArrayBufferConverter.fromASN(block), contents: new Uint8Array(block.valueBlock.valueHexView) };
}

function validityOf(bytes: Uint8Array): Validity {
  return keep('validity', bytes, () => ({ typed: AsnConvert.parse(bytes, asn.Validity), ...validityView(bytes) }));
}

/** The lint input of the certificate these elements make (see the file comment); a LintDecodeError when one does not decode. */
export function certificateInputFromElements(c: CertificateElements, context: LintContext): CertificateInput {
  const [version, serialDer, signature, issuer, validityDer, subject, spki, ...extensions] = c.elements;
  if (!version || !serialDer || !signature || !issuer || !validityDer || !subject || !spki) {
    throw new LintDecodeError('not a TBSCertificate: fewer than its seven leading elements');
  }
  try {
    const serial = serialOf(serialDer);
    const validity = validityOf(validityDer);
    const tbs = new asn.TBSCertificate({
      version: versionOf(version),
      serialNumber: serial.value,
      signature: typed(signature, asn.AlgorithmIdentifier),
      issuer: typed(issuer, asn.Name),
      validity: validity.typed,
      subject: typed(subject, asn.Name),
      subjectPublicKeyInfo: typed(spki, asn.SubjectPublicKeyInfo),
      ...(extensions.length ? { extensions: new asn.Extensions(extensions.map((e) => typed(e, asn.Extension))) } : {}),
    });
    const cert = new asn.Certificate({
      tbsCertificate: tbs,
      // As the parser sets it: the TBSCertificate's bytes (a Uint8Array, whatever the type says).
      tbsCertificateRaw: c.tbsDer as unknown as ArrayBuffer,
      signatureAlgorithm: typed(c.signatureAlgorithm, asn.AlgorithmIdentifier),
      signatureValue: c.signature.buffer.slice(c.signature.byteOffset, c.signature.byteOffset + c.signature.byteLength) as ArrayBuffer,
    });
    const raw: CertificateDerView = {
      notBefore: validity.notBefore, notAfter: validity.notAfter,
      tbsSignatureAlgorithm: signature, signatureAlgorithm: c.signatureAlgorithm,
      serial: serial.contents, issuerName: issuer, subjectName: subject,
    };
    return inputOf(c.der, cert, raw, context);
  } catch (e) {
    if (e instanceof LintDecodeError) throw e;
    throw new LintDecodeError(`not a DER X.509 certificate: ${(e as Error).message}`);
  }
}
