/**
 * What the typed parse (@peculiar/asn1-x509) normalizes away and a linter
 * must still see: which Time type encodes a date and its exact text, the
 * exact AlgorithmIdentifier bytes, the raw octets of an iPAddress name. Read
 * with asn1js's BER parser; nothing here writes or walks DER by hand.
 */
import * as asn1js from 'asn1js';

export interface RawTime {
  type: 'UTCTime' | 'GeneralizedTime';
  text: string;
  date: Date;
}

export function parse(der: ArrayBuffer | Uint8Array): asn1js.AsnType {
  const bytes = der instanceof Uint8Array ? der : new Uint8Array(der);
  const r = asn1js.fromBER(bytes, { maxNodes: 64 + bytes.length, maxContentLength: bytes.length });
  if (r.offset === -1) throw new Error(`not BER: ${r.result.error}`);
  return r.result;
}

function children(block: asn1js.AsnType | undefined): asn1js.AsnType[] {
  const vb = (block as asn1js.Constructed | undefined)?.valueBlock as { value?: unknown } | undefined;
  return Array.isArray(vb?.value) ? (vb.value as asn1js.AsnType[]) : [];
}

/** The contents octets as the parser saw them (asn1js re-formats times in toString()). */
function contentsOf(block: asn1js.AsnType): Uint8Array {
  const whole = new Uint8Array(block.valueBeforeDecodeView);
  return whole.subarray(block.idBlock.blockLength + block.lenBlock.blockLength);
}

function rawTime(block: asn1js.AsnType | undefined): RawTime | null {
  if (!(block instanceof asn1js.UTCTime)) return null; // GeneralizedTime extends UTCTime in asn1js
  const text = Buffer.from(contentsOf(block)).toString('latin1');
  let date: Date;
  try { date = block.toDate(); } catch { date = new Date(Number.NaN); }
  return { type: block instanceof asn1js.GeneralizedTime ? 'GeneralizedTime' : 'UTCTime', text, date };
}

function bytesOf(block: asn1js.AsnType): Uint8Array {
  return new Uint8Array(block.valueBeforeDecodeView);
}

const isTime = (b: asn1js.AsnType) => b instanceof asn1js.UTCTime;

export interface CertificateDerView {
  notBefore: RawTime | null;
  notAfter: RawTime | null;
  /** DER of tbsCertificate.signature and of the outer signatureAlgorithm. */
  tbsSignatureAlgorithm: Uint8Array;
  signatureAlgorithm: Uint8Array;
  /** Raw contents of the serialNumber INTEGER. */
  serial: Uint8Array;
  /** The issuer and subject Names as encoded. */
  issuerName: Uint8Array;
  subjectName: Uint8Array;
}

export function certificateDerView(der: Uint8Array): CertificateDerView {
  return certificateDerViewOf(parse(der));
}

/** The same, from the asn1js tree of the certificate (parsed once for the typed structure too). */
export function certificateDerViewOf(tree: asn1js.AsnType): CertificateDerView {
  const [tbs, sigAlg] = children(tree);
  const items = children(tbs);
  const start = items[0]?.idBlock.tagClass === 3 ? 1 : 0; // [0] EXPLICIT version
  const serial = items[start];
  const validity = children(items[start + 3]);
  if (!tbs || !sigAlg || !(serial instanceof asn1js.Integer) || !items[start + 1]) throw new Error('not an X.509 certificate structure');
  return {
    notBefore: rawTime(validity[0]),
    notAfter: rawTime(validity[1]),
    tbsSignatureAlgorithm: bytesOf(items[start + 1]!),
    signatureAlgorithm: bytesOf(sigAlg),
    serial: new Uint8Array(serial.valueBlock.valueHexView),
    issuerName: items[start + 2] ? bytesOf(items[start + 2]!) : new Uint8Array(0),
    subjectName: items[start + 4] ? bytesOf(items[start + 4]!) : new Uint8Array(0),
  };
}

export interface CrlDerView {
  thisUpdate: RawTime | null;
  nextUpdate: RawTime | null;
  revocationDates: RawTime[];
  /** Whether revokedCertificates is encoded at all, and how many entries it holds. */
  revokedListPresent: boolean;
  revokedCount: number;
  tbsSignatureAlgorithm: Uint8Array;
  signatureAlgorithm: Uint8Array;
}

export function crlDerView(der: Uint8Array): CrlDerView {
  const [tbs, sigAlg] = children(parse(der));
  const items = children(tbs);
  const start = items[0] instanceof asn1js.Integer ? 1 : 0; // version INTEGER OPTIONAL
  const times = items.filter(isTime).map(rawTime);
  const lastTime = items.reduce((last, b, i) => (isTime(b) ? i : last), -1);
  // revokedCertificates, when present, is the SEQUENCE right after thisUpdate/nextUpdate.
  const list = items[lastTime + 1] instanceof asn1js.Sequence ? items[lastTime + 1] : undefined;
  if (!tbs || !sigAlg || !items[start]) throw new Error('not an X.509 CRL structure');
  return {
    thisUpdate: times[0] ?? null,
    nextUpdate: times[1] ?? null,
    revocationDates: children(list).map((e) => rawTime(children(e)[1])).filter((t): t is RawTime => t !== null),
    revokedListPresent: list !== undefined,
    revokedCount: children(list).length,
    tbsSignatureAlgorithm: bytesOf(items[start]!),
    signatureAlgorithm: bytesOf(sigAlg),
  };
}

/** The raw octets of each iPAddress [7] in a GeneralNames (a SAN extension value). */
export function ipAddressOctets(generalNamesDer: ArrayBuffer | Uint8Array): Uint8Array[] {
  return children(parse(generalNamesDer))
    .filter((g) => g.idBlock.tagClass === 3 && g.idBlock.tagNumber === 7)
    .map((g) => new Uint8Array((g as asn1js.Primitive).valueBlock.valueHexView));
}

/** The two times of a Validity as encoded (its DER alone: a certificate linted from its elements). */
export function validityView(der: Uint8Array): { notBefore: RawTime | null; notAfter: RawTime | null } {
  const [notBefore, notAfter] = children(parse(der));
  return { notBefore: rawTime(notBefore), notAfter: rawTime(notAfter) };
}

/** The raw contents of an INTEGER (e.g. a CRL number extension value). */
export function integerContents(der: ArrayBuffer | Uint8Array): Uint8Array {
  const b = parse(der);
  if (!(b instanceof asn1js.Integer)) throw new Error('expected an INTEGER');
  return new Uint8Array(b.valueBlock.valueHexView);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function hex(u: Uint8Array | ArrayBuffer): string {
  return Buffer.from(u instanceof Uint8Array ? u : new Uint8Array(u)).toString('hex');
}
