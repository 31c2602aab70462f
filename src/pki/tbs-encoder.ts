/**
 * Encodes a TBSCertificate (RFC 5280 4.1) from a certificate template with
 * asn1js and @peculiar/asn1-x509. What every certificate of one profile and
 * issuer shares — the issuer name, the signature algorithm, basicConstraints,
 * keyUsage, extKeyUsage, the authority key identifier, AIA, CRL distribution
 * points and policies — is encoded once and kept (bounded); per certificate
 * only the serial, the validity, the subject, its public key, its key
 * identifier and its subjectAltName are encoded. The output is byte-for-byte
 * what encoding the whole structure each time gives (tbs-encoder.test.ts).
 */
import { createHash } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';
import * as asn1js from 'asn1js';
import type { CertificateTemplate } from './certificate-template.js';
import { EncodedBlock, explicit, schemaDer } from './encoded-block.js';
import { authorityKeyId, leadingExtensions, subjectAltName, trailingExtensions } from './extensions.js';
import { nameDer } from './names.js';
import { DerLayouts } from './der-layouts.js';

interface SharedParts {
  leading: Uint8Array[];
  authorityKeyId: Uint8Array;
  trailing: Uint8Array[];
}

const MAX_SHARED = 256;
const shared = new Map<string, SharedParts>();

const der = schemaDer;

interface KeyParts { spki: Uint8Array; ski: Uint8Array }
const keys = new Map<string, KeyParts>();

/**
 * The subject public key re-encoded in DER and its key identifier extension,
 * kept (bounded) per key: a key certified again (renewals with the same key,
 * the synthetic inventory's small set of keys) is parsed once.
 */
function keyParts(subjectSpki: Uint8Array): KeyParts {
  const same = keysByArray.get(subjectSpki);
  if (same) return same;
  const key = Buffer.from(subjectSpki).toString('base64');
  let parts = keys.get(key);
  if (!parts) {
    // One parse of the public key: it is re-encoded in DER and gives the key identifier.
    const spki = AsnConvert.parse(subjectSpki, asn.SubjectPublicKeyInfo);
    const ski = new asn.Extension({
      extnID: asn.id_ce_subjectKeyIdentifier, critical: false,
      extnValue: new OctetString(der(new asn.SubjectKeyIdentifier(createHash('sha1').update(Buffer.from(spki.subjectPublicKey)).digest()))),
    });
    parts = { spki: der(spki), ski: der(ski) };
    if (keys.size >= MAX_SHARED) keys.delete(keys.keys().next().value!);
    keys.set(key, parts);
  }
  keysByArray.set(subjectSpki, parts);
  return parts;
}

/** The same parts by the key's byte array (callers that certify one key many times pass the same array). */
const keysByArray = new WeakMap<Uint8Array, KeyParts>();

/** base64 of an issuer's public key, by its byte array (the same array for every certificate of the issuer). */
const issuerKeyText = new WeakMap<Uint8Array, string>();

function issuerKeyOf(spki: Uint8Array): string {
  let text = issuerKeyText.get(spki);
  if (text === undefined) {
    text = Buffer.from(spki).toString('base64');
    issuerKeyText.set(spki, text);
  }
  return text;
}

function sharedParts(t: CertificateTemplate): SharedParts {
  const key = JSON.stringify([
    t.ca ?? null, t.keyUsage, t.extKeyUsage ?? [], t.issuer ? issuerKeyOf(t.issuer.spki) : null,
    t.ocspUrls ?? [], t.caIssuersUrls ?? [], t.crlUrls ?? [], t.policies ?? [], t.ocspNoCheck ?? false,
  ]);
  let parts = shared.get(key);
  if (!parts) {
    parts = {
      leading: leadingExtensions(t).map(der),
      // Self-signed: the key identifier is the subject's own, so it is not shared.
      authorityKeyId: t.issuer ? der(authorityKeyId(t)) : new Uint8Array(0),
      trailing: trailingExtensions(t).map(der),
    };
    if (shared.size >= MAX_SHARED) shared.delete(shared.keys().next().value!);
    shared.set(key, parts);
  }
  return parts;
}

/** `[0] EXPLICIT Version v3`, the same in every TBSCertificate. */
const VERSION_V3 = new Uint8Array(explicit(0, new asn1js.Integer({ value: asn.Version.v3 })).toBER());

/**
 * TBSCertificates kept as layouts (der-layouts.ts): a certificate whose
 * elements have the same lengths as an earlier one's is a copy of that one's
 * bytes with its own elements copied in. Assembling cost ~60 µs a
 * certificate in the synthetic inventory's profile; the copy ~1 µs. The
 * synthetic inventory's names give thousands of combinations of lengths, a
 * profile's real issuance a few.
 */
const layouts = new DerLayouts(4096);

/** How many TBSCertificates came from a layout, and how many layouts were kept (tests, profiling). */
export function tbsLayoutStats(): { hits: number; kept: number; refused: number } {
  return { ...layouts.stats };
}

/** The fixed nesting of a TBSCertificate around its elements: the seven top-level ones, then the extensions in `[3] EXPLICIT SEQUENCE`. */
function assembleTbs(elements: Uint8Array[]): Uint8Array {
  return new Uint8Array(new asn1js.Sequence({
    value: [
      ...elements.slice(0, 7).map((e) => new EncodedBlock(e)),
      explicit(3, new asn1js.Sequence({ value: elements.slice(7).map((e) => new EncodedBlock(e)) })),
    ],
  }).toBER());
}

/**
 * The DER TBSCertificate of `t`, with `signatureAlgorithm` (DER
 * AlgorithmIdentifier) as its signature field. Each element is encoded on
 * its own; asn1js wraps them, or a kept layout of the same lengths does.
 */
export function encodeTbs(t: CertificateTemplate, signatureAlgorithm: Uint8Array, given?: GivenElements): Uint8Array {
  return encodeTbsElements(t, signatureAlgorithm, given).der;
}

/**
 * Elements of the template already encoded by the caller, with the encoders
 * below (serialElement, validityElement, subjectAltNameElements) or from a
 * layout of theirs (value-layouts.ts): they must be what those give for `t`.
 */
export interface GivenElements { serial?: Uint8Array; validity?: Uint8Array; subjectAltName?: Uint8Array[] }

/** The serial as a DER INTEGER. */
export function serialElement(serial: Uint8Array): Uint8Array {
  return new Uint8Array(new asn1js.Integer({ valueHex: serial }).toBER());
}

/** The subjectAltName extension, if the template has names (zero or one element). */
export function subjectAltNameElements(t: Pick<CertificateTemplate, 'san' | 'subject'>): Uint8Array[] {
  return subjectAltName(t).map(der);
}

/** The same, with the elements it is made of, in order (the lint decodes them one by one: lint/certificate-elements.ts). */
export function encodeTbsElements(t: CertificateTemplate, signatureAlgorithm: Uint8Array, given: GivenElements = {}): { der: Uint8Array; elements: Uint8Array[] } {
  const parts = sharedParts(t);
  const key = keyParts(t.subjectSpki);
  const elements: Uint8Array[] = [
    VERSION_V3,
    given.serial ?? serialElement(t.serial),
    signatureAlgorithm,
    t.issuer ? nameDer(t.issuer.name) : der(t.subject),
    given.validity ?? validityElement(t.notBefore, t.notAfter),
    nameDer(t.subject),
    key.spki,
    ...parts.leading, key.ski,
    t.issuer ? parts.authorityKeyId : der(authorityKeyId(t)),
    ...(given.subjectAltName ?? subjectAltNameElements(t)), ...parts.trailing,
  ];
  return { der: layouts.encode('tbs', elements, assembleTbs), elements };
}

/** The last validity encoded: certificates issued within the same second share it. */
let lastValidity: { notBefore: number; notAfter: number; der: Uint8Array } | null = null;

/** The Validity (UTCTime through 2049, GeneralizedTime after, as asn1-x509's Time chooses). */
export function validityElement(notBefore: Date, notAfter: Date): Uint8Array {
  const nb = notBefore.getTime();
  const na = notAfter.getTime();
  if (lastValidity?.notBefore !== nb || lastValidity.notAfter !== na) {
    lastValidity = { notBefore: nb, notAfter: na, der: der(new asn.Validity({ notBefore, notAfter })) };
  }
  return lastValidity.der;
}
