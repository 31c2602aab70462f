import 'reflect-metadata';
/**
 * Parses and verifies PKCS#10 certificate signing requests (RFC 2986).
 *
 * Accepts one PEM block ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST")
 * or DER bytes, checks the self-signature (proof of possession), and returns
 * what the RA needs: subject, public key description and requested names.
 * All ASN.1 work goes through @peculiar/asn1-* and @peculiar/x509; every
 * failure is a RampartError('badCsr').
 */
import { fromBER } from 'asn1js';
import { AsnConvert, AsnParser } from '@peculiar/asn1-schema';
import * as asn1js from 'asn1js';
import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import * as asn from '@peculiar/asn1-x509';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { ECParameters } from '@peculiar/asn1-ecc';
import { RSAPublicKey } from '@peculiar/asn1-rsa';
import { Pkcs10CertificateRequest } from '@peculiar/x509';
import { RampartError, isRampartError } from '../core/errors.js';
import { dnToString } from './names.js';

/** Largest accepted CSR input (PEM text or DER), in bytes. */
export const MAX_CSR_BYTES = 64 * 1024;

export const CSR_OIDS = {
  extensionRequest: '1.2.840.113549.1.9.14',
  rsaEncryption: '1.2.840.113549.1.1.1',
  ecPublicKey: '1.2.840.10045.2.1',
  ed25519: '1.3.101.112',
  ed448: '1.3.101.113',
  commonName: '2.5.4.3',
} as const;

const CURVES: Record<string, 'P-256' | 'P-384' | 'P-521'> = {
  '1.2.840.10045.3.1.7': 'P-256',
  '1.3.132.0.34': 'P-384',
  '1.3.132.0.35': 'P-521',
};

export type CsrKey =
  | { type: 'ecdsa'; curve: 'P-256' | 'P-384' | 'P-521' | string }
  | { type: 'rsa'; bits: number }
  | { type: 'other'; oid: string };

export interface CsrSans {
  dns: string[];
  ip: string[];
  email: string[];
  uri: string[];
}

export interface ParsedCsr {
  /** The CSR exactly as received, DER. */
  der: Uint8Array;
  /** Subject as an RFC 4514-style string (e.g. "CN=a.example.com, O=Example"). */
  subject: string;
  /** Subject as an ASN.1 Name, ready to be put in a certificate. */
  subjectName: asn.Name;
  /** The subject's attribute types (OIDs) in order (what the policy looks at), when known without walking subjectName. */
  subjectTypes?: string[];
  /** subjectName's DER, when known (a CSR parsed in a PKI worker): the certificate's subject is then made there from it. */
  subjectDer?: Uint8Array;
  /** The last (most specific) commonName of the subject, if any. */
  commonName?: string;
  /** DER SubjectPublicKeyInfo. */
  spki: Uint8Array;
  key: CsrKey;
  /** Names from the subjectAltName of the extensionRequest attribute. */
  san: CsrSans;
  /** Extended key usage OIDs from the extensionRequest attribute, when present. */
  requestedEkus?: string[];
}

function bad(message: string): RampartError {
  return new RampartError('badCsr', message);
}

const PEM_RE = /^-----BEGIN ((?:NEW )?CERTIFICATE REQUEST)-----\r?\n([\s\S]*?)-----END \1-----$/;

function decodePem(text: string): Uint8Array {
  const trimmed = text.trim();
  const m = PEM_RE.exec(trimmed);
  if (!m) {
    const label = /-----BEGIN ([^-\r\n]*)-----/.exec(trimmed)?.[1];
    if (label !== undefined && !/^(NEW )?CERTIFICATE REQUEST$/.test(label)) {
      throw bad(`expected a PEM "CERTIFICATE REQUEST" block, got "${label}"`);
    }
    throw bad('CSR is not a well-formed PEM "CERTIFICATE REQUEST" block (one block, nothing else around it)');
  }
  const body = m[2]!;
  if (body.includes('-----')) throw bad('CSR PEM must contain exactly one block');
  const b64 = body.replace(/\s+/g, '');
  if (!b64) throw bad('CSR PEM block is empty');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
    throw bad('CSR PEM block does not contain valid base64');
  }
  return new Uint8Array(Buffer.from(b64, 'base64'));
}

function looksLikePem(bytes: Uint8Array): boolean {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  return Buffer.from(bytes.subarray(i, i + 10)).toString('latin1') === '-----BEGIN';
}

/** Turns the input into DER bytes, enforcing the size limit and PEM rules. */
function toDer(input: string | Uint8Array): Uint8Array {
  if (typeof input === 'string') {
    if (input.length > MAX_CSR_BYTES || Buffer.byteLength(input, 'utf8') > MAX_CSR_BYTES) {
      throw bad(`CSR is larger than ${MAX_CSR_BYTES} bytes`);
    }
    if (!input.trim()) throw bad('CSR is empty');
    if (!input.includes('-----BEGIN')) throw bad('CSR must be PEM ("-----BEGIN CERTIFICATE REQUEST-----") or DER');
    return decodePem(input);
  }
  if (!(input instanceof Uint8Array)) throw bad('CSR must be a PEM string or DER bytes');
  if (input.byteLength > MAX_CSR_BYTES) throw bad(`CSR is larger than ${MAX_CSR_BYTES} bytes`);
  if (input.byteLength === 0) throw bad('CSR is empty');
  if (looksLikePem(input)) return decodePem(Buffer.from(input).toString('utf8'));
  return input;
}

/** The request parsed once: the typed structure, the asn1js tree it came from (for the signed bytes), the public key's DER. */
interface Structure {
  req: CertificationRequest;
  tree: asn1js.AsnType;
  spki: Uint8Array;
}

function parseStructure(der: Uint8Array): Structure {
  if (der[0] !== 0x30) throw bad('CSR is neither PEM nor DER (expected an ASN.1 SEQUENCE)');
  const ber = fromBER(der, { maxDepth: 32, maxNodes: 4096 });
  if (ber.offset === -1) throw bad(`CSR is not valid DER: ${ber.result.error || 'decoding failed'}`);
  if (ber.offset !== der.byteLength) {
    throw bad(`CSR has ${der.byteLength - ber.offset} bytes of trailing data after the request`);
  }
  let req: CertificationRequest;
  try {
    req = AsnParser.fromASN(ber.result, CertificationRequest);
  } catch (e) {
    throw bad(`CSR is not a PKCS#10 certification request: ${(e as Error).message}`);
  }
  return { req, tree: ber.result, spki: new Uint8Array(AsnConvert.serialize(req.certificationRequestInfo.subjectPKInfo)) };
}

function bitLength(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  if (i === bytes.length) return 0;
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i]!));
}

export function describeKey(spki: asn.SubjectPublicKeyInfo): CsrKey {
  const oid = spki.algorithm.algorithm;
  if (oid === CSR_OIDS.rsaEncryption) {
    let pub: RSAPublicKey;
    try {
      pub = AsnConvert.parse(spki.subjectPublicKey, RSAPublicKey);
    } catch (e) {
      throw bad(`CSR RSA public key is malformed: ${(e as Error).message}`);
    }
    const bits = bitLength(new Uint8Array(pub.modulus));
    if (bits === 0) throw bad('CSR RSA public key has an empty modulus');
    return { type: 'rsa', bits };
  }
  if (oid === CSR_OIDS.ecPublicKey) {
    const params = spki.algorithm.parameters;
    let curve: string | undefined;
    try {
      curve = params ? AsnConvert.parse(params, ECParameters).namedCurve : undefined;
    } catch (e) {
      throw bad(`CSR EC public key parameters are malformed: ${(e as Error).message}`);
    }
    if (!curve) throw bad('unsupported key algorithm: EC keys must name their curve (namedCurve)');
    const named = CURVES[curve];
    if (!named) throw bad(`unsupported key algorithm: EC curve ${curve} (supported: P-256, P-384, P-521)`);
    return { type: 'ecdsa', curve: named };
  }
  if (oid === CSR_OIDS.ed25519 || oid === CSR_OIDS.ed448) return { type: 'other', oid };
  throw bad(`unsupported key algorithm ${oid} (supported: RSA, ECDSA, Ed25519, Ed448)`);
}

function keyLabel(k: CsrKey): string {
  return k.type === 'rsa' ? `RSA ${k.bits}` : k.type === 'ecdsa' ? `ECDSA ${k.curve}` : k.oid;
}

/** Signature algorithms node:crypto verifies directly (fast path); others go through @peculiar/x509. */
const NODE_VERIFY: Record<string, string | null> = {
  '1.2.840.10045.4.3.2': 'sha256', '1.2.840.10045.4.3.3': 'sha384', '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.11': 'sha256', '1.2.840.113549.1.1.12': 'sha384', '1.2.840.113549.1.1.13': 'sha512',
  [CSR_OIDS.ed25519]: null,
};

/** The exact signed bytes (certificationRequestInfo as received) and the signature, via asn1js. */
function signedParts(tree: asn1js.AsnType): { tbs: Uint8Array; sig: Uint8Array } | null {
  if (!(tree instanceof asn1js.Sequence)) return null;
  const [info, , sig] = tree.valueBlock.value;
  if (!info || !(sig instanceof asn1js.BitString)) return null;
  return { tbs: new Uint8Array(info.valueBeforeDecodeView), sig: new Uint8Array(sig.valueBlock.valueHexView) };
}

/** EC point sizes (bytes per coordinate) by curve. */
const COORDINATE_BYTES: Record<string, number> = { 'P-256': 32, 'P-384': 48, 'P-521': 66 };

/**
 * The CSR's public key as a KeyObject. An EC key with an uncompressed point
 * is imported as JWK from its coordinates (OpenSSL checks the point is on the
 * curve either way); that skips OpenSSL 3's decoder search, which made the
 * DER import ~40 % slower than the signature check itself.
 */
function publicKeyOf(s: Structure, key: CsrKey): KeyObject {
  const size = key.type === 'ecdsa' ? COORDINATE_BYTES[key.curve] : undefined;
  const point = new Uint8Array(s.req.certificationRequestInfo.subjectPKInfo.subjectPublicKey);
  if (size && point.length === 1 + 2 * size && point[0] === 0x04) {
    const b64u = (from: number): string => Buffer.from(point.subarray(from, from + size)).toString('base64url');
    return createPublicKey({ key: { kty: 'EC', crv: (key as { curve: string }).curve, x: b64u(1), y: b64u(1 + size) }, format: 'jwk' });
  }
  return createPublicKey({ key: Buffer.from(s.spki), format: 'der', type: 'spki' });
}

function nodeVerify(s: Structure, csrKey: CsrKey): boolean | undefined {
  const alg = s.req.signatureAlgorithm.algorithm;
  if (!(alg in NODE_VERIFY)) return undefined;
  const parts = signedParts(s.tree);
  if (!parts) return false;
  const key = publicKeyOf(s, csrKey);
  const isEc = key.asymmetricKeyType === 'ec';
  return cryptoVerify(NODE_VERIFY[alg] ?? null, parts.tbs, isEc ? { key, dsaEncoding: 'der' } : key, parts.sig);
}

/** Signature algorithms a CSR may not use: SHA-1 (and MD5) signatures prove nothing (RFC 9155, CA/B BR 7.1.3.2). */
const WEAK_CSR_SIGNATURES: Record<string, string> = {
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.2.840.10040.4.3': 'dsa-with-sha1',
  '1.3.14.3.2.29': 'sha1WithRSASignature (OIW)',
};

async function verifySignature(der: Uint8Array<ArrayBuffer>, key: CsrKey, s: Structure): Promise<void> {
  const weak = WEAK_CSR_SIGNATURES[s.req.signatureAlgorithm.algorithm];
  if (weak) throw bad(`CSR is signed with ${weak}: SHA-1 and MD5 signatures are not accepted; sign the CSR with SHA-256 or stronger`);
  let ok: boolean;
  try {
    ok = nodeVerify(s, key) ?? await new Pkcs10CertificateRequest(der).verify();
  } catch (e) {
    throw bad(`CSR signature does not verify: ${keyLabel(key)} key with this signature algorithm is unsupported or malformed (${(e as Error).message})`);
  }
  if (!ok) throw bad('CSR signature does not verify');
}

export function generalNamesToSans(names: asn.GeneralName[]): CsrSans {
  const san: CsrSans = { dns: [], ip: [], email: [], uri: [] };
  for (const n of names) {
    if (n.dNSName !== undefined) san.dns.push(n.dNSName);
    else if (n.iPAddress !== undefined) san.ip.push(n.iPAddress);
    else if (n.rfc822Name !== undefined) san.email.push(n.rfc822Name);
    else if (n.uniformResourceIdentifier !== undefined) san.uri.push(n.uniformResourceIdentifier);
    else {
      const kind = Object.keys(n).find((k) => (n as unknown as Record<string, unknown>)[k] !== undefined) ?? 'unknown';
      throw bad(`CSR subjectAltName contains an unsupported name type (${kind}); only DNS, IP, email and URI names are understood`);
    }
  }
  return san;
}

function requestedExtensions(info: CertificationRequest['certificationRequestInfo']): Map<string, asn.Extension> {
  const out = new Map<string, asn.Extension>();
  const attrs = info.attributes.filter((a) => a.type === CSR_OIDS.extensionRequest);
  if (attrs.length === 0) return out;
  if (attrs.length > 1 || attrs[0]!.values.length !== 1) throw bad('CSR must carry at most one extensionRequest attribute with one value');
  let exts: asn.Extensions;
  try {
    exts = AsnConvert.parse(attrs[0]!.values[0]!, asn.Extensions);
  } catch (e) {
    throw bad(`CSR extensionRequest attribute is malformed: ${(e as Error).message}`);
  }
  for (const ext of exts) {
    if (out.has(ext.extnID)) throw bad(`CSR requests extension ${ext.extnID} more than once`);
    out.set(ext.extnID, ext);
  }
  return out;
}

function parseExtension<T>(ext: asn.Extension, type: new () => T, what: string): T {
  try {
    return AsnConvert.parse(ext.extnValue.buffer, type);
  } catch (e) {
    throw bad(`CSR ${what} extension is malformed: ${(e as Error).message}`);
  }
}

function commonNameOf(name: asn.Name): string | undefined {
  let cn: string | undefined;
  for (const rdn of name) {
    for (const atv of rdn) if (atv.type === CSR_OIDS.commonName) cn = atv.value.toString();
  }
  return cn;
}

/**
 * Parses a CSR (PEM or DER), verifies its self-signature and describes it.
 * Throws RampartError('badCsr') on anything malformed, unsupported or unsigned.
 */
export async function parseCsr(input: string | Uint8Array, o: { subjectText?: boolean } = {}): Promise<ParsedCsr> {
  const der = new Uint8Array(toDer(input));
  const structure = parseStructure(der);
  const req = structure.req;
  const info = req.certificationRequestInfo;
  if (info.version !== 0) throw bad(`CSR version ${info.version} is not supported (expected v1 = 0)`);
  try {
    const key = describeKey(info.subjectPKInfo);
    await verifySignature(der, key, structure);
    const exts = requestedExtensions(info);
    const sanExt = exts.get(asn.id_ce_subjectAltName);
    const san = sanExt
      ? generalNamesToSans(parseExtension(sanExt, asn.SubjectAlternativeName, 'subjectAltName'))
      : { dns: [], ip: [], email: [], uri: [] };
    const ekuExt = exts.get(asn.id_ce_extKeyUsage);
    const out: ParsedCsr = {
      der,
      // Made where it is read when the caller says so (a PKI worker's answer: pki-jobs.ts fromPlainCsr).
      subject: o.subjectText === false ? '' : dnToString(info.subject),
      subjectName: info.subject,
      subjectTypes: info.subject.flatMap((rdn) => rdn.map((atv) => atv.type)),
      spki: structure.spki,
      key,
      san,
    };
    const cn = commonNameOf(info.subject);
    if (cn !== undefined) out.commonName = cn;
    if (ekuExt) out.requestedEkus = [...parseExtension(ekuExt, asn.ExtendedKeyUsage, 'extendedKeyUsage')];
    return out;
  } catch (e) {
    if (isRampartError(e)) throw e;
    throw bad(`CSR could not be parsed: ${(e as Error).message}`);
  }
}
