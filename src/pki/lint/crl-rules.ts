/** CRL rules (RFC 5280 section 5). */
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';
import { duplicateOids } from './cert-extensions.js';
import { serialProblems } from './cert-serial.js';
import { keyUsageBits } from './certificate-input.js';
import type { CrlInput } from './crl-input.js';
import { crlExtension } from './crl-input.js';
import { bytesEqual, hex, integerContents } from './der-views.js';
import { algorithmMismatch, weakSignatureProblem } from './signature-algorithm.js';
import { timeFormatProblem, timeTypeProblem } from './time-encoding.js';
import type { Rule } from './types.js';

const KNOWN_CRL_EXTENSIONS = new Set<string>([
  asn.id_ce_authorityKeyIdentifier, asn.id_ce_issuerAltName, asn.id_ce_cRLNumber, asn.id_ce_deltaCRLIndicator,
  asn.id_ce_issuingDistributionPoint, asn.id_ce_freshestCRL, asn.id_pe_authorityInfoAccess,
]);
const KNOWN_ENTRY_EXTENSIONS = new Set<string>([asn.id_ce_cRLReasons, asn.id_ce_invalidityDate, asn.id_ce_certificateIssuer]);

const notNull = <T>(x: T | null): x is T => x !== null;
const ext = (c: CrlInput, oid: string) => c.extensions.find((e) => e.extnID === oid);
const nameDer = (n: asn.Name) => new Uint8Array(AsnConvert.serialize(n));

function allTimes(c: CrlInput) {
  return [
    ['thisUpdate', c.raw.thisUpdate] as const,
    ...(c.raw.nextUpdate ? [['nextUpdate', c.raw.nextUpdate] as const] : []),
    ...c.raw.revocationDates.map((t, i) => [`revocationDate of entry ${i}`, t] as const),
  ];
}

export const crlRules: Rule<CrlInput>[] = [
  {
    id: 'e_crl_version_not_v2', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 5.1.2.1',
    description: 'the CRL is version 2 (required with extensions, and RFC 5280 CRLs carry them)',
    check: (c) => (c.tbs.version === asn.Version.v2 ? [] : [`CRL version is ${c.tbs.version === undefined ? 'absent (v1)' : `v${c.tbs.version + 1}`}`]),
  },
  {
    id: 'e_crl_signature_algorithm_mismatch', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 5.1.1.2',
    description: 'tbsCertList.signature is the same AlgorithmIdentifier as signatureAlgorithm',
    check: (c) => algorithmMismatch(c.raw.tbsSignatureAlgorithm, c.raw.signatureAlgorithm, 'tbsCertList'),
  },
  {
    id: 'e_crl_signature_hash_weak', severity: 'error', source: 'br', citation: 'BR 7.1.3.2',
    description: 'the CRL signature does not use MD2, MD5 or SHA-1',
    check: (c) => weakSignatureProblem(c.crl.signatureAlgorithm, 'CRL'),
  },
  {
    id: 'e_crl_next_update_missing', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 5.1.2.5',
    description: 'the CRL has nextUpdate',
    check: (c) => (c.tbs.nextUpdate ? [] : ['no nextUpdate']),
  },
  {
    id: 'e_crl_this_update_not_before_next_update', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 5.1.2.4, 5.1.2.5',
    description: 'thisUpdate is before nextUpdate',
    appliesTo: (c) => c.tbs.nextUpdate !== undefined,
    check: (c) => {
      const t = c.tbs.thisUpdate.getTime();
      const n = c.tbs.nextUpdate!.getTime();
      return t.getTime() < n.getTime() ? [] : [`thisUpdate ${t.toISOString()} is not before nextUpdate ${n.toISOString()}`];
    },
  },
  {
    id: 'e_crl_time_wrong_type', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 5.1.2.4, 5.1.2.5, 5.1.2.6',
    description: 'CRL dates through 2049 are UTCTime, from 2050 GeneralizedTime',
    check: (c) => allTimes(c).map(([label, t]) => timeTypeProblem(label, t)).filter(notNull),
  },
  {
    id: 'e_crl_time_format', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 5.1.2.4, 5.1.2.5, 5.1.2.6',
    description: 'CRL times are YYMMDDHHMMSSZ / YYYYMMDDHHMMSSZ',
    check: (c) => allTimes(c).map(([label, t]) => timeFormatProblem(label, t)).filter(notNull),
  },
  {
    id: 'e_crl_number_missing', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 5.2.3',
    description: 'the CRL has a cRLNumber extension',
    check: (c) => (ext(c, asn.id_ce_cRLNumber) ? [] : ['no cRLNumber extension']),
  },
  {
    id: 'e_crl_number_critical', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 5.2.3',
    description: 'cRLNumber is not critical',
    appliesTo: (c) => ext(c, asn.id_ce_cRLNumber) !== undefined,
    check: (c) => (ext(c, asn.id_ce_cRLNumber)!.critical ? ['cRLNumber is critical'] : []),
  },
  {
    id: 'e_crl_number_invalid', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 5.2.3',
    description: 'cRLNumber is a non-negative INTEGER of at most 20 octets',
    appliesTo: (c) => ext(c, asn.id_ce_cRLNumber) !== undefined,
    check: (c) => {
      const v = integerContents(ext(c, asn.id_ce_cRLNumber)!.extnValue.buffer);
      const p = serialProblems(v);
      return [...(p.negative ? ['cRLNumber is negative'] : []), ...(p.tooLong ? [`cRLNumber is ${v.length} octets`] : [])];
    },
  },
  {
    id: 'e_crl_aki_missing', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 5.2.1',
    description: 'the CRL has authorityKeyIdentifier',
    check: (c) => (ext(c, asn.id_ce_authorityKeyIdentifier) ? [] : ['no authorityKeyIdentifier extension']),
  },
  {
    id: 'e_crl_duplicate_extension', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 5.2, 4.2',
    description: 'no CRL extension appears more than once',
    check: (c) => duplicateOids(c.extensions).map((oid) => `CRL extension ${oid} appears more than once`),
  },
  {
    id: 'e_crl_unknown_critical_extension', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 5.2',
    description: 'the CRL carries no critical extension outside RFC 5280 section 5.2',
    check: (c) => c.extensions.filter((e) => e.critical && !KNOWN_CRL_EXTENSIONS.has(e.extnID)).map((e) => `unrecognized critical CRL extension ${e.extnID}`),
  },
  {
    id: 'w_crl_idp_not_critical', severity: 'warn', source: 'rfc5280', citation: 'RFC 5280 5.2.5',
    description: 'issuingDistributionPoint, when present, is critical',
    appliesTo: (c) => ext(c, asn.id_ce_issuingDistributionPoint) !== undefined,
    check: (c) => (ext(c, asn.id_ce_issuingDistributionPoint)!.critical ? [] : ['issuingDistributionPoint is not critical']),
  },
  {
    id: 'e_crl_revoked_list_empty', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 5.1.2.6',
    description: 'revokedCertificates is absent, not an empty list, when nothing is revoked',
    check: (c) => (c.raw.revokedListPresent && c.raw.revokedCount === 0 ? ['revokedCertificates is present but empty'] : []),
  },
  {
    id: 'e_crl_duplicate_serial', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 5.1.2.6',
    description: 'each serial number appears once in revokedCertificates',
    check: (c) => {
      const seen = new Set<string>();
      const dup = new Set<string>();
      for (const e of c.entries) {
        const s = hex(e.userCertificate);
        (seen.has(s) ? dup : seen).add(s);
      }
      return [...dup].map((s) => `serial ${s} is listed more than once`);
    },
  },
  {
    id: 'w_crl_reason_unspecified', severity: 'warn', source: 'rfc5280', citation: 'RFC 5280 5.3.1',
    description: 'reasonCode is absent rather than unspecified (0)',
    check: (c) => c.entries.filter((e) => crlExtension(e.crlEntryExtensions, asn.id_ce_cRLReasons, asn.CRLReason)?.value.reason === asn.CRLReasons.unspecified)
      .map((e) => `entry ${hex(e.userCertificate)} has reasonCode unspecified`),
  },
  {
    id: 'e_crl_reason_invalid', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 5.3.1',
    description: 'reasonCode is one of the defined CRLReason values (not 7, not above 10)',
    check: (c) => c.entries.flatMap((e) => {
      const r: number | undefined = crlExtension(e.crlEntryExtensions, asn.id_ce_cRLReasons, asn.CRLReason)?.value.reason;
      return r !== undefined && (r === 7 || r < 0 || r > 10) ? [`entry ${hex(e.userCertificate)} has reasonCode ${r}`] : [];
    }),
  },
  {
    id: 'e_crl_entry_unknown_critical_extension', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 5.3',
    description: 'entries carry no critical extension outside RFC 5280 section 5.3',
    check: (c) => c.entries.flatMap((e) => (e.crlEntryExtensions ?? []).filter((x) => x.critical && !KNOWN_ENTRY_EXTENSIONS.has(x.extnID))
      .map((x) => `entry ${hex(e.userCertificate)}: unrecognized critical extension ${x.extnID}`)),
  },
  {
    id: 'e_crl_issuer_name_mismatch', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 5.1.2.3',
    description: 'the CRL issuer is the issuer certificate\'s subject',
    appliesTo: (c) => c.issuer !== undefined,
    check: (c) => (bytesEqual(nameDer(c.tbs.issuer), nameDer(c.issuer!.cert.tbsCertificate.subject)) ? [] : ['CRL issuer name differs from the issuer certificate subject']),
  },
  {
    id: 'e_crl_aki_mismatch', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 5.2.1',
    description: 'the CRL authorityKeyIdentifier is the issuer certificate\'s subjectKeyIdentifier',
    appliesTo: (c) => c.issuer?.ext.subjectKeyIdentifier !== undefined && ext(c, asn.id_ce_authorityKeyIdentifier) !== undefined,
    check: (c) => {
      const aki = crlExtension(c.extensions, asn.id_ce_authorityKeyIdentifier, asn.AuthorityKeyIdentifier)!.value.keyIdentifier;
      const ski = c.issuer!.ext.subjectKeyIdentifier!.value;
      return aki && bytesEqual(new Uint8Array(aki.buffer), new Uint8Array(ski.buffer)) ? [] : ['CRL authorityKeyIdentifier does not match the issuer subjectKeyIdentifier'];
    },
  },
  {
    id: 'e_crl_issuer_no_crl_sign', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.2.1.3, 5',
    description: 'the issuer certificate asserts cRLSign',
    appliesTo: (c) => c.issuer?.ext.keyUsage !== undefined,
    check: (c) => ((keyUsageBits(c.issuer!.ext.keyUsage!.value) & asn.KeyUsageFlags.cRLSign) !== 0 ? [] : ['issuer keyUsage lacks cRLSign']),
  },
];
