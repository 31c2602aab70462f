/**
 * OCSP wire format (RFC 6960, profiled by RFC 5019, nonces per RFC 8954):
 * parses requests and builds signed responses with @peculiar/asn1-ocsp.
 * Requests must be strict DER: every parsed structure is re-encoded and must
 * give back the exact input bytes, which also rejects trailing data and any
 * element the schema parser would otherwise skip silently. A request of a
 * shape already proven that way differs only in primitive contents and is
 * read through its shape (ocsp-request-shapes.ts). ResponseData is encoded by
 * response-data-encoder.ts, the envelope by ocsp-assembly.ts.
 */
import { lintSigner, type Preflight } from '../../pki/lint/lint-signer.js';
import { createHash } from 'node:crypto';
import { AsnConvert, AsnParser, OctetString } from '@peculiar/asn1-schema';
import * as ocsp from '@peculiar/asn1-ocsp';
import { Certificate, CRLReason, Extension } from '@peculiar/asn1-x509';
import type { Signer } from '../../keys/key-backend.js';
import { OID } from '../../pki/algorithms.js';
import { keyIdentifier, toArrayBuffer } from '../../pki/certificate-builder.js';
import { assembleOcspResponse } from './ocsp-assembly.js';
import { encodeResponseData, type SingleResponseParts } from './response-data-encoder.js';
import { OcspRequestShapes } from './ocsp-request-shapes.js';
import { EncodedBlock } from '../../pki/encoded-block.js';
import { DerLayouts } from '../../pki/der-layouts.js';
import * as asn1js from 'asn1js';

/** At most this many CertIDs in one request (RFC 5019 clients send one). */
export const MAX_OCSP_REQUESTS = 16;
/** RFC 8954: a nonce is 1 to 32 octets. */
export const MAX_NONCE_LENGTH = 32;

export type OcspHashName = 'sha1' | 'sha256';
const HASHES: Record<string, { name: OcspHashName; length: number }> = {
  [OID.sha1]: { name: 'sha1', length: 20 },
  [OID.sha256]: { name: 'sha256', length: 32 },
};
export const OCSP_HASH_OIDS: Record<OcspHashName, string> = { sha1: OID.sha1, sha256: OID.sha256 };

export class OcspMalformedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OcspMalformedError';
  }
}

export type { OcspCertId, ParsedOcspRequest } from './ocsp-request-types.js';
import type { OcspCertId, ParsedOcspRequest } from './ocsp-request-types.js';

export type OcspCertStatus =
  | { type: 'good' }
  | { type: 'revoked'; revokedAt: Date; reason?: number }
  | { type: 'unknown' };

export interface OcspSingleResponse {
  certId: OcspCertId;
  status: OcspCertStatus;
  thisUpdate: Date;
  nextUpdate: Date;
}

export interface BuildOcspResponseOptions {
  signer: Signer;
  /** DER of the delegated responder certificate; sent in `certs`. Its key must be the signer's. */
  responderCertDer: Uint8Array;
  /** ResponderID byKey: SHA-1 of the responder's subjectPublicKey. Computed from signer.spki when omitted. */
  responderKeyHash?: Uint8Array;
  producedAt: Date;
  responses: OcspSingleResponse[];
  /** Echoed as the id-pkix-ocsp-nonce response extension (RFC 8954). */
  nonce?: Uint8Array;
  /** Called with a throwaway-signed preview before the real signature (lint); throws to refuse. */
  preflight?: Preflight;
}

export type OcspErrorStatus = 'malformedRequest' | 'internalError' | 'tryLater' | 'sigRequired' | 'unauthorized';

function same(a: ArrayBuffer | Uint8Array, b: ArrayBuffer | Uint8Array): boolean {
  return Buffer.from(a instanceof Uint8Array ? a : new Uint8Array(a)).equals(Buffer.from(b instanceof Uint8Array ? b : new Uint8Array(b)));
}

/**
 * Parses `der` as `type` and requires that re-encoding gives back exactly `der`
 * (strict DER, no trailing bytes). Returns asn1js's tree too (its blocks keep
 * views into `der`: ocsp-request-shapes.ts locates values through them).
 */
function parseStrictTree<T>(der: Uint8Array | ArrayBuffer, type: new () => T, what: string): { value: T; tree: asn1js.AsnType } {
  let value: T;
  let tree: asn1js.AsnType;
  try {
    const parsed = asn1js.fromBER(der);
    if (parsed.offset === -1 || parsed.result.error) throw new Error(parsed.result.error || 'not BER');
    tree = parsed.result;
    value = AsnParser.fromASN(tree, type);
  } catch (e) {
    throw new OcspMalformedError(`${what} is not valid ASN.1: ${(e as Error).message}`, { cause: e });
  }
  let again: ArrayBuffer;
  try {
    again = AsnConvert.serialize(value);
  } catch (e) {
    throw new OcspMalformedError(`${what} does not match its ASN.1 schema`, { cause: e });
  }
  if (!same(again, der)) throw new OcspMalformedError(`${what} is not DER-encoded or has trailing data`);
  return { value, tree };
}

function parseStrict<T>(der: Uint8Array | ArrayBuffer, type: new () => T, what: string): T {
  return parseStrictTree(der, type, what).value;
}

/** INTEGER contents to lower-case hex without leading 00 octets; rejects negative and non-minimal encodings. */
function serialToHex(contents: ArrayBuffer | Uint8Array): string {
  const b = contents instanceof Uint8Array ? Buffer.from(contents.buffer, contents.byteOffset, contents.byteLength) : Buffer.from(contents);
  if (b.length === 0) throw new OcspMalformedError('empty serial number');
  if (b[0]! & 0x80) throw new OcspMalformedError('negative serial number');
  if (b.length > 1 && b[0] === 0 && !(b[1]! & 0x80)) throw new OcspMalformedError('serial number is not minimally encoded');
  const stripped = b.length > 1 && b[0] === 0 ? b.subarray(1) : b;
  if (stripped.length > 20) throw new OcspMalformedError('serial number longer than 20 octets');
  return stripped.toString('hex');
}

/** Hex serial to INTEGER contents (positive: a 00 octet is added when the high bit is set). */
export function hexToSerial(serialHex: string): ArrayBuffer {
  let s = serialHex.toLowerCase();
  if (!/^[0-9a-f]+$/.test(s)) throw new Error(`invalid serial number hex: ${serialHex}`);
  if (s.length % 2) s = `0${s}`;
  let b = Buffer.from(s, 'hex');
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  b = b.subarray(i);
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return toArrayBuffer(b);
}

function checkExtensions(exts: Extension[] | undefined, where: string, known: string[]): void {
  const seen = new Set<string>();
  for (const e of exts ?? []) {
    if (seen.has(e.extnID)) throw new OcspMalformedError(`duplicate ${where} extension ${e.extnID}`);
    seen.add(e.extnID);
    // RFC 6960 4.4: unrecognized extensions are ignored unless critical.
    if (e.critical && !known.includes(e.extnID)) throw new OcspMalformedError(`unsupported critical ${where} extension ${e.extnID}`);
  }
}

function parseNonce(ext: Extension): Buffer {
  const inner = parseStrict(ext.extnValue.buffer, OctetString, 'nonce extension value (RFC 8954 OCTET STRING)');
  const nonce = Buffer.from(inner.buffer);
  if (nonce.length < 1 || nonce.length > MAX_NONCE_LENGTH) {
    throw new OcspMalformedError(`nonce must be 1 to ${MAX_NONCE_LENGTH} octets, got ${nonce.length}`);
  }
  return nonce;
}

function parseCertId(id: ocsp.CertID): OcspCertId {
  const hash = HASHES[id.hashAlgorithm.algorithm];
  if (!hash) throw new OcspMalformedError(`unsupported CertID hash algorithm ${id.hashAlgorithm.algorithm}`);
  const params = id.hashAlgorithm.parameters;
  // Absent or NULL (05 00) parameters are both in use for SHA-1 and SHA-2.
  if (params !== undefined && params !== null) throw new OcspMalformedError('unexpected hash algorithm parameters');
  const issuerNameHash = Buffer.from(id.issuerNameHash.buffer);
  const issuerKeyHash = Buffer.from(id.issuerKeyHash.buffer);
  if (issuerNameHash.length !== hash.length || issuerKeyHash.length !== hash.length) {
    throw new OcspMalformedError(`CertID hashes must be ${hash.length} octets for ${hash.name}`);
  }
  return { hashAlgorithm: id.hashAlgorithm.algorithm, issuerNameHash, issuerKeyHash, serialHex: serialToHex(id.serialNumber) };
}

const shapes = new OcspRequestShapes(OID.ocspNonce, serialToHex);

/** Parses a DER OCSPRequest. Throws OcspMalformedError on anything this responder will not answer. */
export function parseOcspRequest(der: Uint8Array): ParsedOcspRequest {
  if (!(der instanceof Uint8Array) || der.length === 0) throw new OcspMalformedError('empty OCSP request');
  // A request of a shape parsed before (same bytes but for the serial's and the nonce's contents).
  const known = shapes.match(der);
  if (known) return known;
  const { value: req, tree } = parseStrictTree(der, ocsp.OCSPRequest, 'OCSP request');
  const parsed = checkedRequest(req);
  try {
    shapes.remember(der, tree, parsed);
  } catch {
    // Not kept: the next request of this shape is parsed in full. Never an error for a valid request.
  }
  return parsed;
}

function checkedRequest(req: ocsp.OCSPRequest): ParsedOcspRequest {
  const tbs = req.tbsRequest;
  if (tbs.version !== ocsp.Version.v1) throw new OcspMalformedError(`unsupported OCSP request version ${String(tbs.version)}`);
  const list = tbs.requestList;
  if (list.length === 0) throw new OcspMalformedError('OCSP request has no CertID');
  if (list.length > MAX_OCSP_REQUESTS) throw new OcspMalformedError(`OCSP request has ${list.length} CertIDs, at most ${MAX_OCSP_REQUESTS} allowed`);
  checkExtensions(tbs.requestExtensions, 'request', [OID.ocspNonce]);
  const requests = list.map((r) => {
    checkExtensions(r.singleRequestExtensions, 'single request', []);
    return parseCertId(r.reqCert);
  });
  const nonceExt = tbs.requestExtensions?.find((e) => e.extnID === OID.ocspNonce);
  return nonceExt ? { requests, nonce: parseNonce(nonceExt) } : { requests };
}

/**
 * The CertID hashes of an issuer (RFC 6960 4.1.1): the hash of the DER subject
 * Name and of the subjectPublicKey BIT STRING value (without tag, length and
 * unused-bits octet).
 */
export function issuerHashes(issuerCertDer: Uint8Array, hashAlg: OcspHashName): { nameHash: Buffer; keyHash: Buffer } {
  const cert = parseCertificate(issuerCertDer);
  const tbs = cert.tbsCertificate;
  return {
    nameHash: createHash(hashAlg).update(new Uint8Array(AsnConvert.serialize(tbs.subject))).digest(),
    keyHash: createHash(hashAlg).update(new Uint8Array(tbs.subjectPublicKeyInfo.subjectPublicKey)).digest(),
  };
}

const certCache = new WeakMap<Uint8Array, Certificate>();

/**
 * Parses a certificate and requires that it re-encodes to the same bytes, so
 * that what we hash or embed is exactly what was signed. Cached per buffer
 * (callers treat certificate buffers as immutable).
 */
function parseCertificate(der: Uint8Array): Certificate {
  const hit = certCache.get(der);
  if (hit) return hit;
  const cert = AsnConvert.parse(der, Certificate);
  if (!same(AsnConvert.serialize(cert), der)) throw new Error('certificate does not re-encode to identical DER');
  certCache.set(der, cert);
  return cert;
}

/** GeneralizedTime must have no fractional seconds (RFC 5280 4.1.2.5.2): truncate to whole seconds. */
function wholeSeconds(d: Date): Date {
  const t = d.getTime();
  if (!Number.isFinite(t)) throw new Error('invalid date');
  return new Date(Math.floor(t / 1000) * 1000);
}

function statusParts(s: OcspCertStatus): SingleResponseParts['status'] {
  switch (s.type) {
    case 'good': return s;
    case 'unknown': return s;
    case 'revoked': {
      const r = s.reason;
      if (r !== undefined && (!Number.isInteger(r) || r < 0 || r > 10 || r === 7)) throw new Error(`invalid CRL reason code ${r}`);
      // unspecified (0) is expressed by leaving the reason out (RFC 5280 5.3.1).
      const revocationReason = r === undefined || r === 0 ? undefined : new CRLReason(r);
      return { type: 'revoked', info: new ocsp.RevokedInfo({ revocationTime: wholeSeconds(s.revokedAt), revocationReason }) };
    }
  }
}

function certIdParts(id: OcspCertId): Pick<SingleResponseParts, 'hashAlgorithm' | 'issuerNameHash' | 'issuerKeyHash' | 'serial'> {
  const hash = HASHES[id.hashAlgorithm];
  if (!hash) throw new Error(`unsupported CertID hash algorithm ${id.hashAlgorithm}`);
  if (id.issuerNameHash.length !== hash.length || id.issuerKeyHash.length !== hash.length) throw new Error('CertID hash length does not match its algorithm');
  return { hashAlgorithm: id.hashAlgorithm, issuerNameHash: id.issuerNameHash, issuerKeyHash: id.issuerKeyHash, serial: hexToSerial(id.serialHex) };
}

export function nonceExtension(nonce: Uint8Array): Extension {
  if (nonce.length < 1 || nonce.length > MAX_NONCE_LENGTH) throw new Error(`nonce must be 1 to ${MAX_NONCE_LENGTH} octets`);
  return new Extension({ extnID: OID.ocspNonce, critical: false, extnValue: new OctetString(AsnConvert.serialize(new OctetString(nonce))) });
}

const NONCE_OID = new Uint8Array(new asn1js.ObjectIdentifier({ value: OID.ocspNonce }).toBER());
/** nonceExtension(nonce) as asn1js blocks around the OID encoded once, to place inside a larger structure. */
export function nonceExtensionBlock(nonce: Uint8Array): asn1js.Sequence {
  if (nonce.length < 1 || nonce.length > MAX_NONCE_LENGTH) throw new Error(`nonce must be 1 to ${MAX_NONCE_LENGTH} octets`);
  const inner = new asn1js.OctetString({ valueHex: nonce }).toBER();
  return new asn1js.Sequence({ value: [new EncodedBlock(NONCE_OID), new asn1js.OctetString({ valueHex: inner })] });
}

const nonceLayouts = new DerLayouts(64);
/** The nonce extension from its elements (the OID and the nonce), wrapped by asn1js as nonceExtensionBlock wraps them. */
function assembleNonce([oid, nonce]: Uint8Array[]): Uint8Array {
  const inner = new asn1js.OctetString({ valueHex: nonce! }).toBER();
  return new Uint8Array(new asn1js.Sequence({ value: [new EncodedBlock(oid!), new asn1js.OctetString({ valueHex: inner })] }).toBER());
}

/** DER of nonceExtension(nonce), encoded by asn1js, from a kept layout per nonce length (the same bytes: response-data-encoder.test.ts). */
export function nonceExtensionDer(nonce: Uint8Array): Uint8Array {
  if (nonce.length < 1 || nonce.length > MAX_NONCE_LENGTH) throw new Error(`nonce must be 1 to ${MAX_NONCE_LENGTH} octets`);
  return nonceLayouts.encode('nonce', [NONCE_OID, nonce], assembleNonce);
}

/**
 * Builds and signs a successful OCSPResponse carrying a BasicOCSPResponse.
 * Without a nonce the result is deterministic for its inputs (apart from
 * the signature) and may be cached and served to any client until nextUpdate.
 */
const spkis = new WeakMap<Uint8Array, Uint8Array>();
function responderSpki(certDer: Uint8Array): Uint8Array {
  let s = spkis.get(certDer);
  if (!s) {
    s = new Uint8Array(AsnConvert.serialize(parseCertificate(certDer).tbsCertificate.subjectPublicKeyInfo));
    spkis.set(certDer, s);
  }
  return s;
}

/** Shapes of response each preflight has already linted in full. */
const lintedShapes = new WeakMap<Preflight, Set<string>>();

export async function buildOcspResponse(opts: BuildOcspResponseOptions): Promise<Uint8Array> {
  if (opts.responses.length === 0) throw new Error('an OCSP response needs at least one SingleResponse');
  if (!same(responderSpki(opts.responderCertDer), opts.signer.spki)) {
    throw new Error('the signer key is not the responder certificate key');
  }
  const keyHash = opts.responderKeyHash ?? keyIdentifier(opts.signer.spki);
  if (keyHash.length !== 20) throw new Error('responderKeyHash must be a SHA-1 hash (20 octets)');
  const responses = opts.responses.map((r): SingleResponseParts => {
    if (r.nextUpdate < r.thisUpdate) throw new Error('nextUpdate is before thisUpdate');
    return { ...certIdParts(r.certId), status: statusParts(r.status), thisUpdate: wholeSeconds(r.thisUpdate), nextUpdate: wholeSeconds(r.nextUpdate) };
  });
  // ResponseData from parts encoded once per responder (response-data-encoder.ts).
  const tbsDer = encodeResponseData({
    responderKeyHash: keyHash, producedAt: wholeSeconds(opts.producedAt), responses,
    extensions: opts.nonce ? [nonceExtensionDer(opts.nonce)] : undefined,
  });
  const alg = opts.signer.algorithm;
  const assemble = (signature: Uint8Array): Uint8Array => assembleOcspResponse(tbsDer, alg, signature, opts.responderCertDer);
  // Lint before the real signature (src/pki/lint/lint-signer.ts): the preflight throws to refuse.
  // The rules depend on the response's shape, not on serials or times (checked above), so each
  // shape is linted in full the first time a preflight sees it (docs/DESIGN.md "Revocation, OCSP and CRLs").
  if (opts.preflight) {
    const shape = `${alg}|${opts.responses.map((r) => `${r.certId.hashAlgorithm}:${r.status.type}:${r.status.type === 'revoked' ? r.status.reason ?? '-' : ''}`).join(',')}|${opts.nonce ? opts.nonce.length : 0}`;
    let seen = lintedShapes.get(opts.preflight);
    if (!seen?.has(shape)) {
      opts.preflight(assemble(await lintSigner(alg).sign(tbsDer)));
      if (!seen) lintedShapes.set(opts.preflight, (seen = new Set()));
      if (seen.size < 1024) seen.add(shape);
    }
  }
  // Signed off the thread that answers OCSP (a software key on libuv's pool; an HSM's signature is off it
  // anyway): under a load of uncached answers that thread was the bound, a third of it the P-256 signature.
  return assemble(await opts.signer.sign(tbsDer, { background: true }));
}

const ERROR_RESPONSES: Record<OcspErrorStatus, Uint8Array> = Object.fromEntries(
  (['malformedRequest', 'internalError', 'tryLater', 'sigRequired', 'unauthorized'] as const).map((s) => [
    s, new Uint8Array(AsnConvert.serialize(new ocsp.OCSPResponse({ responseStatus: ocsp.OCSPResponseStatus[s] }))),
  ]),
) as Record<OcspErrorStatus, Uint8Array>;

/** An unsigned OCSPResponse with an error status and no responseBytes (precomputed; a fresh copy each call). */
export function ocspErrorResponse(status: OcspErrorStatus): Uint8Array {
  return ERROR_RESPONSES[status].slice();
}

export interface OcspResponseSummary {
  status: keyof typeof ocsp.OCSPResponseStatus;
  producedAt?: Date;
  /** Earliest nextUpdate among the SingleResponses: when a cached copy goes stale. */
  nextUpdate?: Date;
  responses: Array<{ certId: OcspCertId; status: OcspCertStatus['type']; thisUpdate: Date; nextUpdate?: Date }>;
  nonce?: Buffer;
}

/**
 * Reads back the parts of an OCSPResponse (this module's or anyone's) without
 * checking the signature: for response caches, diagnostics and tests.
 */
export function readOcspResponse(der: Uint8Array): OcspResponseSummary {
  const resp = AsnConvert.parse(der, ocsp.OCSPResponse);
  const status = ocsp.OCSPResponseStatus[resp.responseStatus] as keyof typeof ocsp.OCSPResponseStatus;
  if (!resp.responseBytes) return { status, responses: [] };
  if (resp.responseBytes.responseType !== ocsp.id_pkix_ocsp_basic) throw new Error(`unsupported response type ${resp.responseBytes.responseType}`);
  const data = AsnConvert.parse(resp.responseBytes.response.buffer, ocsp.BasicOCSPResponse).tbsResponseData;
  const responses = data.responses.map((r) => ({
    certId: {
      hashAlgorithm: r.certID.hashAlgorithm.algorithm,
      issuerNameHash: Buffer.from(r.certID.issuerNameHash.buffer),
      issuerKeyHash: Buffer.from(r.certID.issuerKeyHash.buffer),
      serialHex: Buffer.from(r.certID.serialNumber).toString('hex').replace(/^(00)+(?=..)/, ''),
    },
    status: (r.certStatus.revoked ? 'revoked' : r.certStatus.good === null ? 'good' : 'unknown') as OcspCertStatus['type'],
    thisUpdate: r.thisUpdate,
    nextUpdate: r.nextUpdate,
  }));
  const nextUpdates = responses.flatMap((r) => (r.nextUpdate ? [r.nextUpdate.getTime()] : []));
  const nonceExt = data.responseExtensions?.find((e) => e.extnID === OID.ocspNonce);
  return {
    status,
    producedAt: data.producedAt,
    nextUpdate: nextUpdates.length ? new Date(Math.min(...nextUpdates)) : undefined,
    responses,
    nonce: nonceExt ? Buffer.from(AsnConvert.parse(nonceExt.extnValue.buffer, OctetString).buffer) : undefined,
  };
}
