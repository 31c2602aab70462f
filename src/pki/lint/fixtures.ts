/**
 * Certificates, CRLs and OCSP responses for the linter's tests: a clean
 * baseline of each kind, and knobs to break one thing at a time. Extensions
 * come from certificate-builder.ts (buildExtensions); the TBS is assembled
 * here so that fields the builder keeps right (version, serial, times,
 * algorithm identifiers) can be made wrong. Used only by the *.test.ts files
 * beside it.
 */
import { createHash, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as asn1js from 'asn1js';
import * as ocsp from '@peculiar/asn1-ocsp';
import * as asn from '@peculiar/asn1-x509';
import { OID } from '../algorithms.js';
import { buildExtensions, toArrayBuffer, type CertificateTemplate } from '../certificate-builder.js';
import { parseDn } from '../names.js';

export interface TestKey { privateKey: KeyObject; spki: Uint8Array }

export function ecKey(curve: 'P-256' | 'P-384' | 'P-521' | 'secp256k1' = 'P-256'): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
  return { privateKey, spki: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })) };
}

export function rsaKey(bits: number): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  return { privateKey, spki: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })) };
}

const ALG = {
  ecdsaSha256: new asn.AlgorithmIdentifier({ algorithm: OID.ecdsaWithSha256 }),
  ecdsaSha384: new asn.AlgorithmIdentifier({ algorithm: OID.ecdsaWithSha384 }),
  ecdsaSha1: new asn.AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.1' }),
};
export { ALG };

const HASH: Record<string, string> = { [OID.ecdsaWithSha256]: 'sha256', [OID.ecdsaWithSha384]: 'sha384', '1.2.840.10045.4.1': 'sha1' };

function signWith(key: TestKey, alg: asn.AlgorithmIdentifier, data: Uint8Array): ArrayBuffer {
  const sig = cryptoSign(HASH[alg.algorithm] ?? 'sha256', data, { key: key.privateKey, dsaEncoding: 'der' });
  return toArrayBuffer(new Uint8Array(sig));
}

/** The CA key every fixture leaf and CRL is signed with (P-256), and its name. */
export const CA_KEY = ecKey('P-256');
export const CA_NAME = parseDn('CN=Lint Test Issuing CA, O=Rampart Tests, C=DE');

export function randomSerial(): Uint8Array {
  const s = createHash('sha256').update(String(Math.random())).digest().subarray(0, 16);
  s[0] = (s[0]! & 0x3f) | 0x40;
  return new Uint8Array(s);
}

export const DAY = 86_400_000;
const T0 = new Date(Date.UTC(2026, 0, 1));

export function ext(extnID: string, critical: boolean, value: unknown): asn.Extension {
  return new asn.Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

export function rawExt(extnID: string, critical: boolean, der: ArrayBuffer | Uint8Array): asn.Extension {
  return new asn.Extension({ extnID, critical, extnValue: new OctetString(der instanceof Uint8Array ? toArrayBuffer(der) : der) });
}

export const policies = (...oids: string[]) => ext(asn.id_ce_certificatePolicies, false,
  new asn.CertificatePolicies(oids.map((policyIdentifier) => new asn.PolicyInformation({ policyIdentifier }))));

export interface CertSpec {
  template: Omit<CertificateTemplate, 'serial' | 'subject' | 'subjectSpki' | 'notBefore' | 'notAfter'>;
  subject: asn.Name;
  key: TestKey;
  /** Signing key; for a self-signed certificate, the subject key. */
  issuerKey: TestKey;
  issuerName: asn.Name;
  serial: Uint8Array;
  version: asn.Version;
  notBefore: asn.Time;
  notAfter: asn.Time;
  tbsAlg: asn.AlgorithmIdentifier;
  outerAlg: asn.AlgorithmIdentifier;
  /** Extensions after buildExtensions(template) (policies appended for TLS server leaves). */
  extensions?: (exts: asn.Extension[]) => asn.Extension[];
}

/** A clean BR TLS server leaf: 90 days, SAN = CN, serverAuth, BR policy, http AIA and CDP. */
export function leafSpec(overrides: Partial<CertSpec> = {}): CertSpec {
  return {
    template: {
      issuer: { name: CA_NAME, spki: CA_KEY.spki },
      keyUsage: ['digitalSignature'],
      extKeyUsage: [asn.id_kp_serverAuth],
      san: { dns: ['www.example.com', 'example.com'] },
      ocspUrls: ['http://ocsp.example.com/'],
      caIssuersUrls: ['http://ca.example.com/issuing.crt'],
      crlUrls: ['http://crl.example.com/issuing.crl'],
    },
    subject: parseDn('CN=www.example.com'),
    key: ecKey('P-256'),
    issuerKey: CA_KEY,
    issuerName: CA_NAME,
    serial: randomSerial(),
    version: asn.Version.v3,
    notBefore: new asn.Time(T0),
    notAfter: new asn.Time(new Date(T0.getTime() + 90 * DAY)),
    tbsAlg: ALG.ecdsaSha256,
    outerAlg: ALG.ecdsaSha256,
    extensions: (e) => [...e, policies('2.23.140.1.2.1')],
    ...overrides,
  };
}

/** A clean self-signed root CA (P-384 key, 10 years, GeneralizedTime after 2049 not needed). */
export function rootSpec(overrides: Partial<CertSpec> = {}): CertSpec {
  const key = overrides.key ?? ecKey('P-384');
  const name = parseDn('CN=Lint Test Root, O=Rampart Tests, C=DE');
  return {
    template: { ca: {}, keyUsage: ['keyCertSign', 'cRLSign'] },
    subject: name,
    key,
    issuerKey: key,
    issuerName: name,
    serial: randomSerial(),
    version: asn.Version.v3,
    notBefore: new asn.Time(T0),
    notAfter: new asn.Time(new Date(T0.getTime() + 3650 * DAY)),
    tbsAlg: ALG.ecdsaSha384,
    outerAlg: ALG.ecdsaSha384,
    ...overrides,
  };
}

export function buildTestCertificate(s: CertSpec): Uint8Array {
  const template: CertificateTemplate = {
    ...s.template,
    serial: s.serial, subject: s.subject, subjectSpki: s.key.spki,
    notBefore: s.notBefore.getTime(), notAfter: s.notAfter.getTime(),
  };
  const built = buildExtensions(template);
  const extensions = s.extensions ? s.extensions(built) : built;
  const tbs = new asn.TBSCertificate({
    version: s.version,
    serialNumber: toArrayBuffer(s.serial),
    signature: s.tbsAlg,
    issuer: s.issuerName,
    validity: new asn.Validity({ notBefore: new Date(0), notAfter: new Date(0) }),
    subject: s.subject,
    subjectPublicKeyInfo: AsnConvert.parse(s.key.spki, asn.SubjectPublicKeyInfo),
    extensions: extensions.length ? new asn.Extensions(extensions) : undefined,
  });
  tbs.validity.notBefore = s.notBefore;
  tbs.validity.notAfter = s.notAfter;
  const tbsDer = new Uint8Array(AsnConvert.serialize(tbs));
  const cert = new asn.Certificate({ tbsCertificate: tbs, signatureAlgorithm: s.outerAlg, signatureValue: signWith(s.issuerKey, s.outerAlg, tbsDer) });
  return new Uint8Array(AsnConvert.serialize(cert));
}

/** A DER CA certificate for CA_KEY (the issuer of leaves and CRLs), self-signed for simplicity. */
export function issuingCaCertificate(): Uint8Array {
  return buildTestCertificate(rootSpec({ key: CA_KEY, issuerKey: CA_KEY, subject: CA_NAME, issuerName: CA_NAME, tbsAlg: ALG.ecdsaSha256, outerAlg: ALG.ecdsaSha256 }));
}

/** Name helper: one RDN per attribute, values as given (no validation, so they can be wrong). */
export function rawName(attrs: [type: string, value: asn.AttributeValue][]): asn.Name {
  return new asn.Name(attrs.map(([type, value]) => new asn.RelativeDistinguishedName([new asn.AttributeTypeAndValue({ type, value })])));
}

// ---------------------------------------------------------------- CRLs

export interface CrlSpec {
  version?: asn.Version;
  issuerName: asn.Name;
  thisUpdate: asn.Time;
  nextUpdate?: asn.Time;
  tbsAlg: asn.AlgorithmIdentifier;
  outerAlg: asn.AlgorithmIdentifier;
  entries?: asn.RevokedCertificate[];
  extensions: asn.Extension[];
}

export const crlNumber = (n: number, critical = false) => ext(asn.id_ce_cRLNumber, critical, new asn.CRLNumber(n));
export const crlAki = () => ext(asn.id_ce_authorityKeyIdentifier, false,
  new asn.AuthorityKeyIdentifier({ keyIdentifier: new asn.KeyIdentifier(createHash('sha1').update(Buffer.from(AsnConvert.parse(CA_KEY.spki, asn.SubjectPublicKeyInfo).subjectPublicKey)).digest()) }));
export const crlIdp = (critical: boolean) => ext(asn.id_ce_issuingDistributionPoint, critical, new asn.IssuingDistributionPoint({
  distributionPoint: new asn.DistributionPointName({ fullName: [new asn.GeneralName({ uniformResourceIdentifier: 'http://crl.example.com/issuing.crl' })] }),
}));

export function revoked(serial: Uint8Array, reason?: number): asn.RevokedCertificate {
  return new asn.RevokedCertificate({
    userCertificate: toArrayBuffer(serial),
    revocationDate: new asn.Time(new Date(T0.getTime() + DAY)),
    crlEntryExtensions: reason === undefined ? undefined : [ext(asn.id_ce_cRLReasons, false, new asn.CRLReason(reason))],
  });
}

export function crlSpec(overrides: Partial<CrlSpec> = {}): CrlSpec {
  return {
    version: asn.Version.v2,
    issuerName: CA_NAME,
    thisUpdate: new asn.Time(new Date(T0.getTime() + 2 * DAY)),
    nextUpdate: new asn.Time(new Date(T0.getTime() + 9 * DAY)),
    tbsAlg: ALG.ecdsaSha256,
    outerAlg: ALG.ecdsaSha256,
    entries: [revoked(randomSerial(), 1), revoked(randomSerial())],
    extensions: [crlAki(), crlNumber(7), crlIdp(true)],
    ...overrides,
  };
}

export function buildTestCrl(s: CrlSpec): Uint8Array {
  const tbs = new asn.TBSCertList({
    version: s.version,
    signature: s.tbsAlg,
    issuer: s.issuerName,
    thisUpdate: s.thisUpdate,
    nextUpdate: s.nextUpdate,
    revokedCertificates: s.entries,
    crlExtensions: s.extensions.length ? s.extensions : undefined,
  });
  const tbsDer = new Uint8Array(AsnConvert.serialize(tbs));
  const crl = new asn.CertificateList({ tbsCertList: tbs, signatureAlgorithm: s.outerAlg, signature: signWith(CA_KEY, s.outerAlg, tbsDer) });
  return new Uint8Array(AsnConvert.serialize(crl));
}

// ---------------------------------------------------------------- OCSP

export interface OcspSpec {
  status: ocsp.OCSPResponseStatus;
  /** false: no responseBytes; a string: that responseType with garbage; default a basic response. */
  bytes?: false | string;
  thisUpdate: Date;
  nextUpdate?: Date;
  alg: asn.AlgorithmIdentifier;
}

export function ocspSpec(overrides: Partial<OcspSpec> = {}): OcspSpec {
  return {
    status: ocsp.OCSPResponseStatus.successful,
    thisUpdate: new Date(T0.getTime() + DAY),
    nextUpdate: new Date(T0.getTime() + 5 * DAY),
    alg: ALG.ecdsaSha256,
    ...overrides,
  };
}

export function buildTestOcspResponse(s: OcspSpec): Uint8Array {
  let responseBytes: ocsp.ResponseBytes | undefined;
  if (typeof s.bytes === 'string') {
    responseBytes = new ocsp.ResponseBytes({ responseType: s.bytes, response: new OctetString(new asn1js.Null().toBER()) });
  } else if (s.bytes !== false) {
    const certID = new ocsp.CertID({
      hashAlgorithm: new asn.AlgorithmIdentifier({ algorithm: OID.sha1, parameters: null }),
      issuerNameHash: new OctetString(new Uint8Array(20)),
      issuerKeyHash: new OctetString(new Uint8Array(20)),
      serialNumber: toArrayBuffer(randomSerial()),
    });
    const data = new ocsp.ResponseData({
      responderID: new ocsp.ResponderID({ byKey: new OctetString(new Uint8Array(20)) }),
      producedAt: s.thisUpdate,
      responses: [new ocsp.SingleResponse({ certID, certStatus: new ocsp.CertStatus({ good: null }), thisUpdate: s.thisUpdate, nextUpdate: s.nextUpdate })],
    });
    const tbsDer = new Uint8Array(AsnConvert.serialize(data));
    const basic = new ocsp.BasicOCSPResponse({ tbsResponseData: data, signatureAlgorithm: s.alg, signature: signWith(CA_KEY, s.alg, tbsDer) });
    responseBytes = new ocsp.ResponseBytes({ responseType: ocsp.id_pkix_ocsp_basic, response: new OctetString(AsnConvert.serialize(basic)) });
  }
  return new Uint8Array(AsnConvert.serialize(new ocsp.OCSPResponse({ responseStatus: s.status, responseBytes })));
}
