/**
 * Encodes an OCSP ResponseData (RFC 6960 4.2.1) with asn1js, the way
 * tbs-encoder.ts encodes certificates: what one responder repeats in every
 * answer — its ResponderID, the CertID hash AlgorithmIdentifier, the `good`
 * and `unknown` statuses, the nonce extension's OID — is encoded once by
 * @peculiar/asn1-ocsp / asn1js and placed as is; per answer only the times,
 * the CertID hashes and serial, a revocation and the nonce are encoded.
 * Building the whole @peculiar/asn1-ocsp object tree and serializing it cost
 * ~125 µs per answer on this machine kind, most of an uncached answer's
 * encoding. The bytes are exactly @peculiar/asn1-ocsp's encoding of the same
 * ResponseData (response-data-encoder.test.ts).
 */
import * as ocsp from '@peculiar/asn1-ocsp';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import * as asn1js from 'asn1js';
import { DerLayouts } from '../../pki/der-layouts.js';
import { EncodedBlock, explicit, schemaDer } from '../../pki/encoded-block.js';

/** One SingleResponse to encode: the CertID parts and the status as asn1-ocsp's CertStatus for rare shapes. */
export interface SingleResponseParts {
  hashAlgorithm: string;
  issuerNameHash: Uint8Array;
  issuerKeyHash: Uint8Array;
  /** INTEGER contents of the serial number (positive, minimal). */
  serial: ArrayBuffer;
  status: { type: 'good' } | { type: 'unknown' } | { type: 'revoked'; info: ocsp.RevokedInfo };
  thisUpdate: Date;
  nextUpdate: Date;
}

export interface ResponseDataParts {
  /** SHA-1 of the responder's subjectPublicKey (ResponderID byKey). */
  responderKeyHash: Uint8Array;
  producedAt: Date;
  responses: SingleResponseParts[];
  /** Each response extension, as DER (the nonce: nonceExtensionDer) or as asn1js blocks. */
  extensions?: Array<Uint8Array | asn1js.BaseBlock>;
}

const der = schemaDer;

const GOOD = der(new ocsp.CertStatus({ good: null }));
const UNKNOWN = der(new ocsp.CertStatus({ unknown: null }));

const MAX_CACHED = 64;
const responderIds = new Map<string, Uint8Array>();
/** `byKey [2] KeyHash`, per responder key hash. */
function responderIdDer(keyHash: Uint8Array): Uint8Array {
  const k = Buffer.from(keyHash).toString('hex');
  let d = responderIds.get(k);
  if (!d) {
    d = der(new ocsp.ResponderID({ byKey: new ocsp.KeyHash(keyHash) }));
    if (responderIds.size >= MAX_CACHED) responderIds.clear();
    responderIds.set(k, d);
  }
  return d;
}

const hashAlgorithms = new Map<string, Uint8Array>();
/** The CertID's AlgorithmIdentifier with NULL parameters (as RFC 5019 clients send it), per OID. */
function hashAlgorithmDer(oid: string): Uint8Array {
  let d = hashAlgorithms.get(oid);
  if (!d) {
    d = der(new AlgorithmIdentifier({ algorithm: oid, parameters: null }));
    if (hashAlgorithms.size >= MAX_CACHED) hashAlgorithms.clear();
    hashAlgorithms.set(oid, d);
  }
  return d;
}

function statusBlock(s: SingleResponseParts['status']): asn1js.BaseBlock {
  if (s.type === 'good') return new EncodedBlock(GOOD);
  if (s.type === 'unknown') return new EncodedBlock(UNKNOWN);
  return new EncodedBlock(der(new ocsp.CertStatus({ revoked: s.info })));
}

// Answers made in the same second share producedAt, thisUpdate and nextUpdate: the last few
// GeneralizedTime encodings are kept (asn1js takes several µs per block).
const times = new Map<number, Uint8Array>();
function timeDer(d: Date): Uint8Array {
  const ms = d.getTime();
  let t = times.get(ms);
  if (!t) {
    t = new Uint8Array(new asn1js.GeneralizedTime({ valueDate: d }).toBER());
    if (times.size >= 16) times.delete(times.keys().next().value!);
    times.set(ms, t);
  }
  return t;
}
const time = (d: Date): EncodedBlock => new EncodedBlock(timeDer(d));

// The CertID's hash algorithm and issuer hashes, per issuer (one responder answers for few issuers).
const issuerParts = new Map<string, Uint8Array[]>();
function certIdHead(r: SingleResponseParts): Uint8Array[] {
  const k = `${r.hashAlgorithm}:${Buffer.from(r.issuerNameHash).toString('hex')}:${Buffer.from(r.issuerKeyHash).toString('hex')}`;
  let parts = issuerParts.get(k);
  if (!parts) {
    parts = [
      hashAlgorithmDer(r.hashAlgorithm),
      new Uint8Array(new asn1js.OctetString({ valueHex: r.issuerNameHash }).toBER()),
      new Uint8Array(new asn1js.OctetString({ valueHex: r.issuerKeyHash }).toBER()),
    ];
    if (issuerParts.size >= MAX_CACHED) issuerParts.clear();
    issuerParts.set(k, parts);
  }
  return parts;
}

function singleResponse(r: SingleResponseParts): asn1js.Sequence {
  const certId = new asn1js.Sequence({
    value: [...certIdHead(r).map((p) => new EncodedBlock(p)), new asn1js.Integer({ valueHex: r.serial })],
  });
  return new asn1js.Sequence({ value: [certId, statusBlock(r.status), time(r.thisUpdate), explicit(0, time(r.nextUpdate))] });
}

/** ResponseData of one SingleResponse from its elements, all wrapped by asn1js (the layouts' assembler: der-layouts.ts). */
function assembleSingle(e: Uint8Array[]): Uint8Array {
  const [responderId, producedAt, hashAlg, nameHash, keyHash, serial, status, thisUpdate, nextUpdate, ...extensions] = e;
  const block = (d: Uint8Array | undefined) => new EncodedBlock(d!);
  const certId = new asn1js.Sequence({ value: [block(hashAlg), block(nameHash), block(keyHash), new asn1js.Integer({ valueHex: serial! })] });
  const single = new asn1js.Sequence({ value: [certId, block(status), block(thisUpdate), explicit(0, block(nextUpdate))] });
  const value: asn1js.BaseBlock[] = [block(responderId), block(producedAt), new asn1js.Sequence({ value: [single] })];
  if (extensions.length) value.push(explicit(1, new asn1js.Sequence({ value: extensions.map(block) })));
  return new Uint8Array(new asn1js.Sequence({ value }).toBER());
}

const layouts = new DerLayouts(256);

/** How many ResponseData came from a kept layout (tests). */
export function responseDataLayoutStats(): { hits: number; kept: number; refused: number } {
  return { ...layouts.stats };
}

/**
 * The DER ResponseData (version v1, the DEFAULT, left out). One
 * SingleResponse with extensions given as DER (the usual answer) comes from
 * a kept layout of its element lengths (der-layouts.ts); other shapes are
 * wrapped by asn1js each time.
 */
export function encodeResponseData(p: ResponseDataParts): Uint8Array {
  const [r] = p.responses;
  if (p.responses.length === 1 && r && r.status.type !== 'revoked' && (p.extensions ?? []).every((x) => x instanceof Uint8Array)) {
    const extensions = (p.extensions ?? []) as Uint8Array[];
    const elements = [
      responderIdDer(p.responderKeyHash), timeDer(p.producedAt), ...certIdHead(r), new Uint8Array(r.serial),
      r.status.type === 'good' ? GOOD : UNKNOWN, timeDer(r.thisUpdate), timeDer(r.nextUpdate), ...extensions,
    ];
    return layouts.encode(`single:${extensions.length}`, elements, assembleSingle);
  }
  const value: asn1js.BaseBlock[] = [
    new EncodedBlock(responderIdDer(p.responderKeyHash)),
    time(p.producedAt),
    new asn1js.Sequence({ value: p.responses.map(singleResponse) }),
  ];
  if (p.extensions?.length) value.push(explicit(1, new asn1js.Sequence({ value: p.extensions.map((e) => (e instanceof Uint8Array ? new EncodedBlock(e) : e)) })));
  return new Uint8Array(new asn1js.Sequence({ value }).toBER());
}
