/**
 * Builds and signs X.509 v3 certificates (RFC 5280) from a typed template.
 * ASN.1 structures come from @peculiar/asn1-x509; the signature comes from a
 * Signer, so the same code signs with software keys or an HSM.
 */
import { lintSigner, type Preflight } from './lint/lint-signer.js';
import { createHash } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';
import type { Signer } from '../core/signing.js';
import { signatureAlgorithm, OID } from './algorithms.js';

export type KeyUsageName = 'digitalSignature' | 'nonRepudiation' | 'keyEncipherment' | 'dataEncipherment' | 'keyAgreement' | 'keyCertSign' | 'cRLSign';

export const EKU_OIDS: Record<string, string> = {
  serverAuth: asn.id_kp_serverAuth,
  clientAuth: asn.id_kp_clientAuth,
  codeSigning: asn.id_kp_codeSigning,
  emailProtection: asn.id_kp_emailProtection,
  timeStamping: asn.id_kp_timeStamping,
  ocspSigning: asn.id_kp_OCSPSigning,
};

export interface SubjectAltNames {
  dns?: string[];
  ip?: string[];
  email?: string[];
  uri?: string[];
}

export interface CertificateTemplate {
  serial: Uint8Array;
  subject: asn.Name;
  subjectSpki: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** The issuer; omit for a self-signed certificate. */
  issuer?: { name: asn.Name; spki: Uint8Array };
  ca?: { pathLen?: number };
  keyUsage: KeyUsageName[];
  extKeyUsage?: string[];
  san?: SubjectAltNames;
  ocspUrls?: string[];
  caIssuersUrls?: string[];
  crlUrls?: string[];
  ocspNoCheck?: boolean;
  /** certificatePolicies policy OIDs (non-critical, RFC 5280 4.2.1.4), e.g. 2.23.140.1.2.1 or anyPolicy 2.5.29.32.0. */
  policies?: string[];
}

/** RFC 5280 method 1 key identifier: SHA-1 of the subjectPublicKey BIT STRING contents. */
export function keyIdentifier(spki: Uint8Array): Buffer {
  const info = AsnConvert.parse(spki, asn.SubjectPublicKeyInfo);
  return createHash('sha1').update(Buffer.from(info.subjectPublicKey)).digest();
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
  exts.push(ext(asn.id_ce_subjectKeyIdentifier, false, new asn.SubjectKeyIdentifier(keyIdentifier(t.subjectSpki))));
  const issuerSpki = t.issuer?.spki ?? t.subjectSpki;
  exts.push(ext(asn.id_ce_authorityKeyIdentifier, false, new asn.AuthorityKeyIdentifier({ keyIdentifier: new asn.KeyIdentifier(keyIdentifier(issuerSpki)) })));
  const names = t.san ? generalNames(t.san) : [];
  if (names.length) {
    // RFC 5280 4.2.1.6: critical when the subject is empty.
    const critical = t.subject.length === 0;
    exts.push(ext(asn.id_ce_subjectAltName, critical, new asn.SubjectAlternativeName(names)));
  }
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

/**
 * Builds and signs a certificate. With `preflight`, the same TBS is first
 * signed by a throwaway key (lint-signer.ts) and handed to it: it throws to
 * refuse, before the real key signs anything.
 */
export async function buildCertificate(t: CertificateTemplate, signer: Signer, preflight?: Preflight): Promise<Uint8Array> {
  if (t.notAfter <= t.notBefore) throw new Error('notAfter must be after notBefore');
  const sigAlg = signatureAlgorithm(signer.algorithm);
  const tbs = new asn.TBSCertificate({
    version: asn.Version.v3,
    serialNumber: toArrayBuffer(t.serial),
    signature: sigAlg,
    issuer: t.issuer?.name ?? t.subject,
    validity: new asn.Validity({ notBefore: t.notBefore, notAfter: t.notAfter }),
    subject: t.subject,
    subjectPublicKeyInfo: AsnConvert.parse(t.subjectSpki, asn.SubjectPublicKeyInfo),
    extensions: new asn.Extensions(buildExtensions(t)),
  });
  const tbsDer = new Uint8Array(AsnConvert.serialize(tbs));
  const assemble = (signature: Uint8Array): Uint8Array =>
    new Uint8Array(AsnConvert.serialize(new asn.Certificate({ tbsCertificate: tbs, signatureAlgorithm: sigAlg, signatureValue: toArrayBuffer(signature) })));
  if (preflight) preflight(assemble(await lintSigner(signer.algorithm).sign(tbsDer)));
  return assemble(await signer.sign(tbsDer));
}

export function toArrayBuffer(u: Uint8Array): ArrayBuffer {
  return u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
}

export function toPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export function fromPem(pem: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (let m = re.exec(pem); m; m = re.exec(pem)) out.push(new Uint8Array(Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64')));
  return out;
}
