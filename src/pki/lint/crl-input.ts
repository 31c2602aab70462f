/** A CRL decoded once for all CRL rules, with its issuer certificate when given. */
import { AsnConvert, AsnParser } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';
import { decodeExtensions, parseCertificate, type CertificateExtensions } from './certificate-input.js';
import { crlDerView, type CrlDerView } from './der-views.js';
import { LintDecodeError } from './types.js';

export interface CrlInput {
  der: Uint8Array;
  crl: asn.CertificateList;
  tbs: asn.TBSCertList;
  raw: CrlDerView;
  extensions: asn.Extension[];
  entries: asn.RevokedCertificate[];
  issuer?: { cert: asn.Certificate; ext: CertificateExtensions };
}

export function parseCrlStructure(der: Uint8Array): asn.CertificateList {
  try {
    // asn1js caps a parse at 10,000 nodes by default, which a CRL passes at a few thousand entries.
    return AsnParser.parse(der, asn.CertificateList, { berOptions: { maxNodes: 64 + der.length, maxContentLength: der.length } });
  } catch (e) {
    throw new LintDecodeError(`not a DER X.509 CRL: ${(e as Error).message}`);
  }
}

export function crlInput(der: Uint8Array, issuerCertDer?: Uint8Array): CrlInput {
  const crl = parseCrlStructure(der);
  let raw: CrlDerView;
  try {
    raw = crlDerView(der);
  } catch (e) {
    throw new LintDecodeError(`not a DER X.509 CRL: ${(e as Error).message}`);
  }
  let issuer: CrlInput['issuer'];
  if (issuerCertDer) {
    const cert = parseCertificate(issuerCertDer);
    issuer = { cert, ext: decodeExtensions([...(cert.tbsCertificate.extensions ?? [])]) };
  }
  const tbs = crl.tbsCertList;
  return { der, crl, tbs, raw, extensions: tbs.crlExtensions ?? [], entries: tbs.revokedCertificates ?? [], issuer };
}

export function crlExtension<T>(exts: asn.Extension[] | undefined, oid: string, type: new () => T): { critical: boolean; value: T } | undefined {
  const e = exts?.find((x) => x.extnID === oid);
  return e ? { critical: e.critical, value: AsnConvert.parse(e.extnValue.buffer, type) } : undefined;
}
