/**
 * The X.509 v3 extensions of a certificate template, in the order they are
 * encoded: basicConstraints, keyUsage, extKeyUsage (leading, fixed per
 * profile), subjectKeyIdentifier, authorityKeyIdentifier (fixed per issuer),
 * subjectAltName, then AIA, CRL distribution points, policies and
 * ocsp-nocheck (trailing, fixed per profile and issuer).
 */
import { createHash } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';
import { OID } from './algorithms.js';
import type { CertificateTemplate, KeyUsageName, SubjectAltNames } from './certificate-template.js';

const keyIds = new WeakMap<Uint8Array, Buffer>();

/** SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2 method 1), cached per SPKI buffer (treated as immutable); a copy each call. */
export function keyIdentifier(spki: Uint8Array): Buffer {
  let id = keyIds.get(spki);
  if (!id) {
    const info = AsnConvert.parse(spki, asn.SubjectPublicKeyInfo);
    id = createHash('sha1').update(Buffer.from(info.subjectPublicKey)).digest();
    keyIds.set(spki, id);
  }
  return Buffer.from(id);
}

const KU_FLAGS: Record<KeyUsageName, number> = {
  digitalSignature: asn.KeyUsageFlags.digitalSignature,
  nonRepudiation: asn.KeyUsageFlags.nonRepudiation,
  keyEncipherment: asn.KeyUsageFlags.keyEncipherment,
  dataEncipherment: asn.KeyUsageFlags.dataEncipherment,
  keyAgreement: asn.KeyUsageFlags.keyAgreement,
  keyCertSign: asn.KeyUsageFlags.keyCertSign,
  cRLSign: asn.KeyUsageFlags.cRLSign,
};

function ext(extnID: string, critical: boolean, value: unknown): asn.Extension {
  return new asn.Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

export function generalNames(san: SubjectAltNames): asn.GeneralName[] {
  const out: asn.GeneralName[] = [];
  for (const d of san.dns ?? []) out.push(new asn.GeneralName({ dNSName: d }));
  for (const ip of san.ip ?? []) out.push(new asn.GeneralName({ iPAddress: ip }));
  for (const e of san.email ?? []) out.push(new asn.GeneralName({ rfc822Name: e }));
  for (const u of san.uri ?? []) out.push(new asn.GeneralName({ uniformResourceIdentifier: u }));
  return out;
}

export function buildExtensions(t: CertificateTemplate): asn.Extension[] {
  return [...leadingExtensions(t), subjectKeyId(t.subjectSpki), authorityKeyId(t), ...subjectAltName(t), ...trailingExtensions(t)];
}

/** basicConstraints, keyUsage, extendedKeyUsage: the same for every certificate of a profile. */
export function leadingExtensions(t: Pick<CertificateTemplate, 'ca' | 'keyUsage' | 'extKeyUsage'>): asn.Extension[] {
  const exts: asn.Extension[] = [];
  const isCa = t.ca !== undefined;
  exts.push(ext(asn.id_ce_basicConstraints, true, new asn.BasicConstraints(isCa ? { cA: true, pathLenConstraint: t.ca?.pathLen } : {})));
  let ku = 0;
  for (const k of t.keyUsage) ku |= KU_FLAGS[k];
  const kuBits = new asn.KeyUsage(ku);
  exts.push(ext(asn.id_ce_keyUsage, true, kuBits));
  for (const e of t.extKeyUsage ?? []) {
    if (!/^[0-2](\.\d+)+$/.test(e)) throw new Error(`extended key usage must be an OID, got "${e}" (see EKU_OIDS)`);
  }
  if (t.extKeyUsage?.length) exts.push(ext(asn.id_ce_extKeyUsage, false, new asn.ExtendedKeyUsage(t.extKeyUsage)));
  return exts;
}

export function subjectKeyId(spki: Uint8Array): asn.Extension {
  return ext(asn.id_ce_subjectKeyIdentifier, false, new asn.SubjectKeyIdentifier(keyIdentifier(spki)));
}

export function authorityKeyId(t: Pick<CertificateTemplate, 'issuer' | 'subjectSpki'>): asn.Extension {
  const issuerSpki = t.issuer?.spki ?? t.subjectSpki;
  return ext(asn.id_ce_authorityKeyIdentifier, false, new asn.AuthorityKeyIdentifier({ keyIdentifier: new asn.KeyIdentifier(keyIdentifier(issuerSpki)) }));
}

export function subjectAltName(t: Pick<CertificateTemplate, 'san' | 'subject'>): asn.Extension[] {
  const names = t.san ? generalNames(t.san) : [];
  if (!names.length) return [];
  // RFC 5280 4.2.1.6: critical when the subject is empty.
  return [ext(asn.id_ce_subjectAltName, t.subject.length === 0, new asn.SubjectAlternativeName(names))];
}

/** authorityInfoAccess, cRLDistributionPoints, certificatePolicies, ocsp-nocheck: the same for every certificate of a profile and issuer. */
export function trailingExtensions(t: Pick<CertificateTemplate, 'ocspUrls' | 'caIssuersUrls' | 'crlUrls' | 'policies' | 'ocspNoCheck'>): asn.Extension[] {
  const exts: asn.Extension[] = [];
  const aia: asn.AccessDescription[] = [];
  for (const u of t.ocspUrls ?? []) aia.push(new asn.AccessDescription({ accessMethod: asn.id_ad_ocsp, accessLocation: new asn.GeneralName({ uniformResourceIdentifier: u }) }));
  for (const u of t.caIssuersUrls ?? []) aia.push(new asn.AccessDescription({ accessMethod: asn.id_ad_caIssuers, accessLocation: new asn.GeneralName({ uniformResourceIdentifier: u }) }));
  if (aia.length) exts.push(ext(asn.id_pe_authorityInfoAccess, false, new asn.AuthorityInfoAccessSyntax(aia)));
  if (t.crlUrls?.length) {
    const dps = t.crlUrls.map((u) => new asn.DistributionPoint({
      distributionPoint: new asn.DistributionPointName({ fullName: [new asn.GeneralName({ uniformResourceIdentifier: u })] }),
    }));
    exts.push(ext(asn.id_ce_cRLDistributionPoints, false, new asn.CRLDistributionPoints(dps)));
  }
  if (t.policies?.length) {
    for (const p of t.policies) if (!/^[0-2](\.\d+)+$/.test(p)) throw new Error(`certificate policy must be an OID, got "${p}"`);
    exts.push(ext(asn.id_ce_certificatePolicies, false, new asn.CertificatePolicies(t.policies.map((p) => new asn.PolicyInformation({ policyIdentifier: p })))));
  }
  if (t.ocspNoCheck) {
    // id-pkix-ocsp-nocheck: extension value is NULL (RFC 6960 4.2.2.2.1).
    exts.push(new asn.Extension({ extnID: OID.ocspNoCheck, critical: false, extnValue: new OctetString(new Uint8Array([0x05, 0x00])) }));
  }
  return exts;
}
