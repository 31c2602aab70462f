/**
 * A certificate decoded once for all rules: the typed structure
 * (@peculiar/asn1-x509), the known extensions decoded, the raw views the
 * typed parse loses (der-views.ts), and what the context says it is for.
 */
import { AsnConvert, AsnParser } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';
import type * as asn1js from 'asn1js';
import { bytesEqual, certificateDerViewOf, parse, type CertificateDerView } from './der-views.js';
import { LintDecodeError, type LintContext, type ProfileKind } from './types.js';

export interface Decoded<T> {
  critical: boolean;
  value: T;
  extension: asn.Extension;
}

export interface CertificateExtensions {
  basicConstraints?: Decoded<asn.BasicConstraints>;
  keyUsage?: Decoded<asn.KeyUsage>;
  extKeyUsage?: Decoded<asn.ExtendedKeyUsage>;
  subjectAltName?: Decoded<asn.SubjectAlternativeName>;
  authorityKeyIdentifier?: Decoded<asn.AuthorityKeyIdentifier>;
  subjectKeyIdentifier?: Decoded<asn.SubjectKeyIdentifier>;
  authorityInfoAccess?: Decoded<asn.AuthorityInfoAccessSyntax>;
  crlDistributionPoints?: Decoded<asn.CRLDistributionPoints>;
  certificatePolicies?: Decoded<asn.CertificatePolicies>;
  /** Extensions whose value does not decode as its type says. */
  undecodable: { oid: string; error: string }[];
}

export interface CertificateInput {
  der: Uint8Array;
  cert: asn.Certificate;
  tbs: asn.TBSCertificate;
  raw: CertificateDerView;
  extensions: asn.Extension[];
  ext: CertificateExtensions;
  profile: ProfileKind;
  /** Whether Baseline Requirements rules apply. */
  br: boolean;
  /** A CA certificate: by profile, or (profile unknown) by basicConstraints cA. */
  isCa: boolean;
  /** Issuer name equals subject name, and the AKI (if any) names the certificate's own key. */
  selfSigned: boolean;
  subjectEmpty: boolean;
}

const DECODERS = {
  basicConstraints: [asn.id_ce_basicConstraints, asn.BasicConstraints],
  keyUsage: [asn.id_ce_keyUsage, asn.KeyUsage],
  extKeyUsage: [asn.id_ce_extKeyUsage, asn.ExtendedKeyUsage],
  subjectAltName: [asn.id_ce_subjectAltName, asn.SubjectAlternativeName],
  authorityKeyIdentifier: [asn.id_ce_authorityKeyIdentifier, asn.AuthorityKeyIdentifier],
  subjectKeyIdentifier: [asn.id_ce_subjectKeyIdentifier, asn.SubjectKeyIdentifier],
  authorityInfoAccess: [asn.id_pe_authorityInfoAccess, asn.AuthorityInfoAccessSyntax],
  crlDistributionPoints: [asn.id_ce_cRLDistributionPoints, asn.CRLDistributionPoints],
  certificatePolicies: [asn.id_ce_certificatePolicies, asn.CertificatePolicies],
} as const;

type Ctor<T> = new () => T;

/**
 * Decoded extension values by their exact bytes: the certificates of one
 * profile and issuer repeat most of their extensions byte for byte (the CA's
 * preflight lints every one of them). Rules only read what they are given.
 */
const decodedValues = new Map<string, unknown>();
const MAX_DECODED = 1024;

function decodeValue(oid: string, bytes: Uint8Array, type: Ctor<unknown>): unknown {
  const key = `${oid} ${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`;
  let value = decodedValues.get(key);
  if (value === undefined) {
    value = AsnConvert.parse(bytes, type);
    if (decodedValues.size >= MAX_DECODED) decodedValues.delete(decodedValues.keys().next().value!);
    decodedValues.set(key, value);
  }
  return value;
}

/** Decodes the first extension of each known type; records the ones that do not decode. */
export function decodeExtensions(extensions: asn.Extension[]): CertificateExtensions {
  const out: CertificateExtensions = { undecodable: [] };
  const set = out as unknown as Record<string, Decoded<unknown>>;
  for (const [key, [oid, type]] of Object.entries(DECODERS)) {
    const extension = extensions.find((e) => e.extnID === oid);
    if (!extension) continue;
    try {
      const value = decodeValue(oid, new Uint8Array(extension.extnValue.buffer), type as Ctor<unknown>);
      set[key] = { critical: extension.critical, value, extension };
    } catch (e) {
      out.undecodable.push({ oid, error: (e as Error).message });
    }
  }
  return out;
}

export function parseCertificate(der: Uint8Array): asn.Certificate {
  return parseCertificateTree(der).cert;
}

/** The typed structure and the asn1js tree it was read from (one BER parse for both). */
function parseCertificateTree(der: Uint8Array): { cert: asn.Certificate; tree: asn1js.AsnType } {
  try {
    const tree = parse(der);
    return { cert: AsnParser.fromASN(tree, asn.Certificate), tree };
  } catch (e) {
    throw new LintDecodeError(`not a DER X.509 certificate: ${(e as Error).message}`);
  }
}

export function certificateInput(der: Uint8Array, context: LintContext): CertificateInput {
  const { cert, tree } = parseCertificateTree(der);
  let raw: CertificateDerView;
  try {
    raw = certificateDerViewOf(tree);
  } catch (e) {
    throw new LintDecodeError(`not a DER X.509 certificate: ${(e as Error).message}`);
  }
  return inputOf(der, cert, raw, context);
}

/** What the rules read, from the typed certificate and its raw views however they were decoded. */
export function inputOf(der: Uint8Array, cert: asn.Certificate, raw: CertificateDerView, context: LintContext): CertificateInput {
  const tbs = cert.tbsCertificate;
  const extensions = tbs.extensions ? [...tbs.extensions] : [];
  const ext = decodeExtensions(extensions);
  const profile = context.profile;
  const isCa = profile === 'root-ca' || profile === 'subordinate-ca' || (profile === 'unknown' && ext.basicConstraints?.value.cA === true);
  const akiId = ext.authorityKeyIdentifier?.value.keyIdentifier;
  const skiId = ext.subjectKeyIdentifier?.value;
  const selfIssued = bytesEqual(raw.issuerName, raw.subjectName);
  const selfSigned = selfIssued && (!akiId || !skiId || bytesEqual(new Uint8Array(akiId.buffer), new Uint8Array(skiId.buffer)));
  return {
    der, cert, tbs, raw, extensions, ext, profile,
    br: context.br ?? profile === 'tls-server',
    isCa,
    selfSigned,
    subjectEmpty: tbs.subject.length === 0,
  };
}

/** The keyUsage bits (0 when absent or empty: asn1-schema gives NaN for an empty BIT STRING). */
export function keyUsageBits(ku: asn.KeyUsage | undefined): number {
  return ku?.toNumber() || 0;
}

/** Leaf (end-entity) certificates: everything that is not a CA. */
export const isSubscriber = (c: CertificateInput) => !c.isCa;
export const isTlsServer = (c: CertificateInput) => c.profile === 'tls-server';
export const brTlsServer = (c: CertificateInput) => c.br && c.profile === 'tls-server';

/** All attribute values of a Name as [type OID, string] pairs. */
export function nameAttributes(name: asn.Name): { type: string; value: string; atv: asn.AttributeTypeAndValue }[] {
  return name.flatMap((rdn) => [...rdn].map((atv) => ({ type: atv.type, value: atv.value.toString(), atv })));
}

export const OID_CN = '2.5.4.3';
export const OID_C = '2.5.4.6';
