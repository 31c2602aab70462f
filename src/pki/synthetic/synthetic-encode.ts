/**
 * Encodes a range of the synthetic inventory (synthetic-plan.ts): for each
 * index, the TBSCertificate (tbs-encoder.ts, from the issuing CA's leaf
 * template) and, for a revoked one, its CRL entry encoded as the revocation
 * path encodes it. Plain data in and out, so it runs in a PKI worker thread;
 * the signature is made by the caller, who holds the key.
 */
import * as asn from '@peculiar/asn1-x509';
import * as asn1js from 'asn1js';
import type { KeyAlgorithm } from '../../core/signing.js';
import { serialHex } from '../../core/serial.js';
import { crlShardOf } from '../../core/crl-shard.js';
import { algorithmDer } from '../algorithms.js';
import { encodeRevokedEntry } from '../crl-builder.js';
import { rememberNameDer } from '../names.js';
import { encodeTbs, serialElement, subjectAltNameElements, validityElement } from '../tbs-encoder.js';
import { ValueLayouts } from '../value-layouts.js';
import type { CertificateTemplate } from '../certificate-template.js';
import { planCertificate, type SyntheticSpec } from './synthetic-plan.js';

export interface SyntheticRange {
  spec: SyntheticSpec;
  /** DER SubjectPublicKeyInfo of each shared subject key (spec.keyCount of them). */
  keys: Uint8Array[];
  algorithm: KeyAlgorithm;
  start: number;
  count: number;
  /** The CRL Distribution Point of each CRL shard, by shard number: each certificate names its own. */
  crlUrls: string[];
}

export interface SyntheticTbs {
  serial: string;
  tbsDer: Uint8Array;
  subject: string;
  sans: string[];
  notBefore: number;
  notAfter: number;
  revokedAt: number | null;
  reason: number | null;
  crlEntry: Uint8Array | null;
  crlShard: number;
}

const CN = '2.5.4.3';
const O = '2.5.4.10';
const rdn = (type: string, value: string): asn.RelativeDistinguishedName =>
  new asn.RelativeDistinguishedName([new asn.AttributeTypeAndValue({ type, value: new asn.AttributeValue({ utf8String: value }) })]);
const rdnBlock = (type: string, value: string): asn1js.Set =>
  new asn1js.Set({ value: [new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: type }), new asn1js.Utf8String({ value })] })] });

/**
 * The per-certificate elements from layouts of their own (value-layouts.ts):
 * the asn1js and asn1-schema encoders of a name, a subjectAltName and a
 * validity cost ~15-35 µs each and dominated the load; a copy of a checked
 * layout with the new characters in place ~1 µs. Every layout is the
 * encoder's bytes, checked against it (and rechecked now and then).
 */
const layouts = new ValueLayouts(65_536);

/**
 * The characters handed to the layouts, written into one scratch buffer
 * that each certificate reuses (the layouts copy them and keep none): a
 * Buffer.from per string cost more than the rest of the encoding, mostly
 * in allocating Buffer pools and collecting them.
 */
const scratch = Buffer.allocUnsafe(16_384);
let scratchAt = 0;
function utf8(s: string): Uint8Array {
  if (scratchAt + s.length * 3 > scratch.byteLength) return Buffer.from(s, 'utf8');
  const n = scratch.write(s, scratchAt, 'utf8');
  const out = scratch.subarray(scratchAt, scratchAt + n);
  scratchAt += n;
  return out;
}

/**
 * The subject (O when given, then CN, UTF8String), as a Name and its string
 * form ("O=…, CN=…", as dnToString writes these plain names). The DER comes
 * from asn1js directly (or its layout) and is remembered for the Name: the
 * schema serializer costs several times more and dominates at millions of names.
 */
function subjectOf(cn: string, org: string | null): { name: asn.Name; text: string } {
  const attrs: Array<[string, string]> = org ? [[O, org], [CN, cn]] : [[CN, cn]];
  const name = new asn.Name(attrs.map(([t, v]) => rdn(t, v)));
  rememberNameDer(name, layouts.encode(org ? 'name:O,CN' : 'name:CN', attrs.map(([, v]) => utf8(v)),
    () => new Uint8Array(new asn1js.Sequence({ value: attrs.map(([t, v]) => rdnBlock(t, v)) }).toBER())));
  return { name, text: org ? `O=${org}, CN=${cn}` : `CN=${cn}` };
}

const two = (n: number): string => (n < 10 ? `0${n}` : `${n}`);

/** The characters of the time as its DER Time carries them: UTCTime (YYMMDDHHMMSSZ) through 2049, GeneralizedTime after. */
function timeText(d: Date): string {
  const y = d.getUTCFullYear();
  const rest = `${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}Z`;
  return y > 2049 ? `${y}${rest}` : `${two(y % 100)}${rest}`;
}

/** The one subjectAltName element (synthetic certificates always have names). */
function onlyElement(elements: Uint8Array[]): Uint8Array {
  if (elements.length !== 1) throw new Error('a synthetic certificate has one subjectAltName extension');
  return elements[0]!;
}

/** How many elements came from a layout (tests, profiling). */
export function syntheticLayoutStats(): ValueLayouts['stats'] {
  return { ...layouts.stats };
}

/** `base` is the issuing CA's leaf template; serial, subject, key, validity and names are replaced per certificate. */
export function encodeSyntheticRange(base: CertificateTemplate, job: SyntheticRange): SyntheticTbs[] {
  const sigAlg = algorithmDer(job.algorithm);
  const out: SyntheticTbs[] = [];
  for (let i = job.start; i < job.start + job.count; i++) {
    const p = planCertificate(job.spec, i);
    scratchAt = 0;
    const subject = subjectOf(p.commonName, p.organization);
    const serial = serialHex(p.serial);
    const crlShard = crlShardOf(serial, job.crlUrls.length);
    const t: CertificateTemplate = {
      ...base, crlUrls: [job.crlUrls[crlShard]!], serial: p.serial, subject: subject.name, subjectSpki: job.keys[p.keyIndex]!, notBefore: p.notBefore, notAfter: p.notAfter, san: { dns: p.dns },
    };
    const tbsDer = encodeTbs(t, sigAlg, {
      serial: layouts.encode(p.serial[0]! & 0x80 ? 'serial:high' : 'serial', [p.serial], () => serialElement(p.serial)),
      validity: layouts.encode('validity', [utf8(timeText(p.notBefore)), utf8(timeText(p.notAfter))], () => validityElement(p.notBefore, p.notAfter)),
      subjectAltName: [layouts.encode(`san:${p.dns.length}`, p.dns.map(utf8), () => onlyElement(subjectAltNameElements(t)))],
    });
    const r = p.revocation;
    out.push({
      serial, tbsDer, subject: subject.text, sans: p.dns, notBefore: p.notBefore.getTime(), notAfter: p.notAfter.getTime(),
      revokedAt: r ? r.at.getTime() : null, reason: r ? r.reason : null,
      crlEntry: r ? encodeRevokedEntry({ serialHex: serial, revokedAt: r.at, reason: r.reason }) : null, crlShard,
    });
  }
  return out;
}
