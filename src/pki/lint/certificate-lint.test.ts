/**
 * Each certificate rule: a certificate built to break it fails it, and the
 * clean baselines (a BR TLS server leaf, a root CA, a subordinate CA, a
 * client certificate) pass every rule.
 */
import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as asn from '@peculiar/asn1-x509';
import {
  ALG, DAY, buildTestCertificate, ecKey, ext, leafSpec, policies, rawExt, rawName, rootSpec, rsaKey, type CertSpec,
} from './fixtures.js';
import { CERTIFICATE_RULES, formatFindings, guessProfile, lintCertificate, LintDecodeError, type ProfileKind } from './index.js';
import { parseDn } from '../names.js';

const T0 = Date.UTC(2026, 0, 1);
const replace = (oid: string, e: asn.Extension | null) => (exts: asn.Extension[]) => {
  const out = exts.filter((x) => x.extnID !== oid);
  return e ? [...out, e] : out;
};
const withPolicy = (f: (e: asn.Extension[]) => asn.Extension[]) => (e: asn.Extension[]) => [...f(e), policies('2.23.140.1.2.1')];
const leafTemplate = leafSpec().template;
const subCa = (o: Partial<CertSpec> = {}) => leafSpec({
  template: { ...leafTemplate, ca: { pathLen: 0 }, keyUsage: ['keyCertSign', 'cRLSign'], extKeyUsage: undefined, san: undefined },
  subject: parseDn('CN=Sub CA, O=Rampart Tests'), extensions: undefined, ...o,
});

function ids(der: Uint8Array, profile: ProfileKind) {
  return lintCertificate(der, { profile }).map((f) => f.id);
}

describe('certificate lint: clean baselines', () => {
  for (const [name, der, profile] of [
    ['BR TLS server leaf', buildTestCertificate(leafSpec()), 'tls-server'],
    ['root CA', buildTestCertificate(rootSpec()), 'root-ca'],
    ['subordinate CA', buildTestCertificate(subCa()), 'subordinate-ca'],
    ['TLS client leaf', buildTestCertificate(leafSpec({ template: { ...leafTemplate, extKeyUsage: [asn.id_kp_clientAuth] } })), 'tls-client'],
    ['RSA-2048 leaf', buildTestCertificate(leafSpec({ key: rsaKey(2048) })), 'tls-server'],
  ] as const) {
    it(`${name} has no findings`, () => {
      const findings = lintCertificate(der, { profile });
      assert.deepEqual(findings, [], formatFindings(findings));
      assert.equal(guessProfile(der), profile);
    });
  }
});

interface Case { rule: string; profile?: ProfileKind; der: () => Uint8Array }
const gt = (d: number) => new asn.Time({ generalTime: new Date(d) });

const CASES: Case[] = [
  { rule: 'e_serial_number_not_positive', der: () => buildTestCertificate(leafSpec({ serial: new Uint8Array([0x80, 1, 2, 3, 4, 5, 6, 7, 8, 9]) })) },
  { rule: 'e_serial_number_zero', der: () => buildTestCertificate(leafSpec({ serial: new Uint8Array([0]) })) },
  { rule: 'e_serial_number_longer_than_20_octets', der: () => buildTestCertificate(leafSpec({ serial: new Uint8Array(21).fill(0x41) })) },
  { rule: 'e_serial_number_not_minimal', der: () => buildTestCertificate(leafSpec({ serial: new Uint8Array([0, 0x12, 1, 2, 3, 4, 5, 6, 7, 8]) })) },
  { rule: 'w_serial_number_low_entropy', der: () => buildTestCertificate(leafSpec({ serial: new Uint8Array([0x01, 0x02]) })) },
  { rule: 'e_validity_not_before_after_not_after', der: () => buildTestCertificate(leafSpec({ notAfter: new asn.Time(new Date(T0 - DAY)) })) },
  { rule: 'e_validity_time_wrong_type', der: () => buildTestCertificate(leafSpec({ notBefore: gt(T0) })) },
  // A UTCTime cannot say 2050 or later (YY >= 50 reads as 19YY): a root meant to end in 2051 ends in 1951.
  { rule: 'e_validity_not_before_after_not_after', profile: 'root-ca', der: () => buildTestCertificate(rootSpec({ notAfter: new asn.Time({ utcTime: new Date(Date.UTC(2051, 0, 1)) }) })) },
  { rule: 'e_validity_time_wrong_type', profile: 'root-ca', der: () => buildTestCertificate(rootSpec({ notAfter: gt(Date.UTC(2049, 0, 1)) })) },
  { rule: 'e_validity_time_format', profile: 'root-ca', der: () => buildTestCertificate(rootSpec({ notAfter: gt(Date.UTC(2060, 0, 1, 0, 0, 0, 500)) })) },
  { rule: 'e_sub_cert_validity_over_398_days', der: () => buildTestCertificate(leafSpec({ notAfter: new asn.Time(new Date(T0 + 398 * DAY)) })) },
  { rule: 'e_cert_extensions_require_v3', der: () => buildTestCertificate(leafSpec({ version: asn.Version.v1 })) },
  { rule: 'e_signature_algorithm_mismatch', der: () => buildTestCertificate(leafSpec({ outerAlg: ALG.ecdsaSha384 })) },
  { rule: 'e_signature_hash_weak', der: () => buildTestCertificate(leafSpec({ tbsAlg: ALG.ecdsaSha1, outerAlg: ALG.ecdsaSha1 })) },
  { rule: 'e_sub_cert_san_missing', der: () => buildTestCertificate(leafSpec({ template: { ...leafTemplate, san: undefined } })) },
  { rule: 'e_subject_empty_without_san', profile: 'tls-client', der: () => buildTestCertificate(leafSpec({ subject: new asn.Name([]), template: { ...leafTemplate, san: undefined } })) },
  {
    rule: 'e_ext_san_not_critical_without_subject', der: () => buildTestCertificate(leafSpec({
      subject: new asn.Name([]),
      extensions: withPolicy(replace(asn.id_ce_subjectAltName, ext(asn.id_ce_subjectAltName, false, new asn.SubjectAlternativeName([new asn.GeneralName({ dNSName: 'www.example.com' })])))),
    })),
  },
  {
    rule: 'w_ext_san_critical_with_subject', der: () => buildTestCertificate(leafSpec({
      extensions: withPolicy(replace(asn.id_ce_subjectAltName, ext(asn.id_ce_subjectAltName, true, new asn.SubjectAlternativeName([new asn.GeneralName({ dNSName: 'www.example.com' })])))),
    })),
  },
  { rule: 'e_ext_san_empty', der: () => buildTestCertificate(leafSpec({ extensions: withPolicy(replace(asn.id_ce_subjectAltName, ext(asn.id_ce_subjectAltName, false, new asn.SubjectAlternativeName([])))) })) },
  { rule: 'e_ext_san_empty', der: () => buildTestCertificate(leafSpec({ template: { ...leafTemplate, san: { dns: ['www.example.com'], uri: [''] } } })) },
  ...['www_x.example.com', '*.*.example.com', 'www.*.example.com', 'w*.example.com', '*.com', '-a.example.com', 'a..example.com', 'www.example.com.', 'ünicode.example.com', '']
    .map((bad): Case => ({ rule: 'e_san_dns_name_malformed', der: () => buildTestCertificate(leafSpec({ subject: parseDn('O=Example'), template: { ...leafTemplate, san: { dns: [bad] } } })) })),
  {
    rule: 'e_san_ip_address_length', der: () => buildTestCertificate(leafSpec({
      subject: parseDn('O=Example'),
      extensions: withPolicy(replace(asn.id_ce_subjectAltName, rawExt(asn.id_ce_subjectAltName, false, new asn1js.Sequence({
        value: [new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 7 }, valueHex: new Uint8Array([10, 0, 1]) })],
      }).toBER()))),
    })),
  },
  { rule: 'e_sub_cert_cn_not_in_san', der: () => buildTestCertificate(leafSpec({ subject: parseDn('CN=other.example.com') })) },
  { rule: 'e_ca_key_usage_missing', profile: 'root-ca', der: () => buildTestCertificate(rootSpec({ extensions: replace(asn.id_ce_keyUsage, null) })) },
  { rule: 'e_ca_key_usage_not_critical', profile: 'root-ca', der: () => buildTestCertificate(rootSpec({ extensions: replace(asn.id_ce_keyUsage, ext(asn.id_ce_keyUsage, false, new asn.KeyUsage(asn.KeyUsageFlags.keyCertSign | asn.KeyUsageFlags.cRLSign))) })) },
  { rule: 'e_ca_key_usage_no_key_cert_sign', profile: 'subordinate-ca', der: () => buildTestCertificate(subCa({ template: { ...subCa().template, ca: {}, keyUsage: ['cRLSign', 'digitalSignature'] } })) },
  { rule: 'e_sub_cert_key_usage_cert_sign', der: () => buildTestCertificate(leafSpec({ template: { ...leafTemplate, keyUsage: ['digitalSignature', 'keyCertSign'] } })) },
  { rule: 'e_key_usage_empty', der: () => buildTestCertificate(leafSpec({ template: { ...leafTemplate, keyUsage: [] } })) },
  { rule: 'e_ca_basic_constraints_missing', profile: 'root-ca', der: () => buildTestCertificate(rootSpec({ extensions: replace(asn.id_ce_basicConstraints, null) })) },
  { rule: 'e_ca_basic_constraints_not_critical', profile: 'root-ca', der: () => buildTestCertificate(rootSpec({ extensions: replace(asn.id_ce_basicConstraints, ext(asn.id_ce_basicConstraints, false, new asn.BasicConstraints({ cA: true }))) })) },
  { rule: 'e_ca_basic_constraints_ca_false', profile: 'subordinate-ca', der: () => buildTestCertificate(subCa({ extensions: replace(asn.id_ce_basicConstraints, ext(asn.id_ce_basicConstraints, true, new asn.BasicConstraints({}))) })) },
  { rule: 'e_sub_cert_basic_constraints_ca_true', der: () => buildTestCertificate(leafSpec({ template: { ...leafTemplate, ca: {} } })) },
  { rule: 'e_path_len_without_key_cert_sign', profile: 'tls-client', der: () => buildTestCertificate(leafSpec({ extensions: withPolicy(replace(asn.id_ce_basicConstraints, ext(asn.id_ce_basicConstraints, true, new asn.BasicConstraints({ pathLenConstraint: 0 })))) })) },
  { rule: 'e_sub_cert_eku_missing', der: () => buildTestCertificate(leafSpec({ template: { ...leafTemplate, extKeyUsage: undefined } })) },
  { rule: 'e_sub_cert_eku_server_auth_missing', der: () => buildTestCertificate(leafSpec({ template: { ...leafTemplate, extKeyUsage: [asn.id_kp_clientAuth] } })) },
  { rule: 'e_sub_cert_eku_any', der: () => buildTestCertificate(leafSpec({ template: { ...leafTemplate, extKeyUsage: [asn.id_kp_serverAuth, asn.anyExtendedKeyUsage] } })) },
  { rule: 'w_eku_any_critical', profile: 'unknown', der: () => buildTestCertificate(leafSpec({ extensions: replace(asn.id_ce_extKeyUsage, ext(asn.id_ce_extKeyUsage, true, new asn.ExtendedKeyUsage([asn.anyExtendedKeyUsage]))) })) },
  { rule: 'e_ocsp_signer_eku_missing', profile: 'ocsp-signer', der: () => buildTestCertificate(leafSpec({ template: { ...leafTemplate, extKeyUsage: [asn.id_kp_clientAuth] } })) },
  { rule: 'e_aki_missing', der: () => buildTestCertificate(leafSpec({ extensions: withPolicy(replace(asn.id_ce_authorityKeyIdentifier, null)) })) },
  { rule: 'e_aki_critical', der: () => buildTestCertificate(leafSpec({ extensions: (e) => [...e.map((x) => (x.extnID === asn.id_ce_authorityKeyIdentifier ? new asn.Extension({ ...x, critical: true }) : x)), policies('2.23.140.1.2.1')] })) },
  { rule: 'e_aki_no_key_identifier', der: () => buildTestCertificate(leafSpec({ extensions: withPolicy(replace(asn.id_ce_authorityKeyIdentifier, ext(asn.id_ce_authorityKeyIdentifier, false, new asn.AuthorityKeyIdentifier({ authorityCertSerialNumber: new Uint8Array([1]).buffer })))) })) },
  { rule: 'e_ca_ski_missing', profile: 'subordinate-ca', der: () => buildTestCertificate(subCa({ extensions: replace(asn.id_ce_subjectKeyIdentifier, null) })) },
  { rule: 'e_ski_critical', profile: 'root-ca', der: () => buildTestCertificate(rootSpec({ extensions: (e) => e.map((x) => (x.extnID === asn.id_ce_subjectKeyIdentifier ? new asn.Extension({ ...x, critical: true }) : x)) })) },
  { rule: 'e_aia_ocsp_not_http', der: () => buildTestCertificate(leafSpec({ template: { ...leafTemplate, ocspUrls: ['https://ocsp.example.com/'] } })) },
  { rule: 'e_aia_ca_issuers_not_http', der: () => buildTestCertificate(leafSpec({ template: { ...leafTemplate, caIssuersUrls: ['ldap://ca.example.com/cn=ca'] } })) },
  { rule: 'e_aia_critical', der: () => buildTestCertificate(leafSpec({ extensions: (e) => [...e.map((x) => (x.extnID === asn.id_pe_authorityInfoAccess ? new asn.Extension({ ...x, critical: true }) : x)), policies('2.23.140.1.2.1')] })) },
  { rule: 'e_crl_dp_not_http', der: () => buildTestCertificate(leafSpec({ template: { ...leafTemplate, crlUrls: ['https://crl.example.com/x.crl'] } })) },
  { rule: 'e_sub_cert_certificate_policies_missing', der: () => buildTestCertificate(leafSpec({ extensions: undefined })) },
  { rule: 'w_sub_cert_no_reserved_policy', der: () => buildTestCertificate(leafSpec({ extensions: (e) => [...e, policies('1.3.6.1.4.1.99999.1')] })) },
  { rule: 'e_ext_duplicate', der: () => buildTestCertificate(leafSpec({ extensions: (e) => [...e, policies('2.23.140.1.2.1'), e.find((x) => x.extnID === asn.id_ce_subjectKeyIdentifier)!] })) },
  { rule: 'e_ext_undecodable', der: () => buildTestCertificate(leafSpec({ extensions: withPolicy(replace(asn.id_ce_keyUsage, rawExt(asn.id_ce_keyUsage, true, new asn1js.OctetString({ valueHex: new Uint8Array([0]) }).toBER()))) })) },
  { rule: 'w_ext_unknown_critical', der: () => buildTestCertificate(leafSpec({ extensions: (e) => [...e, policies('2.23.140.1.2.1'), rawExt('1.3.6.1.4.1.99999.7', true, new asn1js.Null().toBER())] })) },
  { rule: 'e_rsa_key_too_small', der: () => buildTestCertificate(leafSpec({ key: rsaKey(1024) })) },
  { rule: 'e_ec_curve_not_allowed', der: () => buildTestCertificate(leafSpec({ key: ecKey('P-521') })) },
  { rule: 'e_ec_curve_not_allowed', der: () => buildTestCertificate(leafSpec({ key: ecKey('secp256k1') })) },
  { rule: 'e_spki_algorithm_not_allowed', der: () => {
    const ed = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' });
    const s = leafSpec();
    return buildTestCertificate({ ...s, key: { ...s.key, spki: new Uint8Array(ed) } });
  } },
  { rule: 'e_subject_country_not_iso3166', der: () => buildTestCertificate(leafSpec({ subject: rawName([['2.5.4.3', new asn.AttributeValue({ utf8String: 'www.example.com' })], ['2.5.4.6', new asn.AttributeValue({ printableString: 'de' })]]) })) },
  { rule: 'e_subject_country_not_iso3166', der: () => buildTestCertificate(leafSpec({ subject: rawName([['2.5.4.3', new asn.AttributeValue({ utf8String: 'www.example.com' })], ['2.5.4.6', new asn.AttributeValue({ printableString: 'DEU' })]]) })) },
  { rule: 'e_subject_attribute_empty', der: () => buildTestCertificate(leafSpec({ subject: rawName([['2.5.4.3', new asn.AttributeValue({ utf8String: 'www.example.com' })], ['2.5.4.10', new asn.AttributeValue({ utf8String: '' })]]) })) },
  { rule: 'e_issuer_empty', der: () => buildTestCertificate(leafSpec({ issuerName: new asn.Name([]) })) },
];

describe('certificate lint: each rule catches a certificate built to break it', () => {
  for (const c of CASES) {
    it(`${c.rule}${c.profile ? ` (${c.profile})` : ''}`, () => {
      const der = c.der();
      const found = ids(der, c.profile ?? 'tls-server');
      assert.ok(found.includes(c.rule), `expected ${c.rule}, got:\n${formatFindings(lintCertificate(der, { profile: c.profile ?? 'tls-server' }))}`);
    });
  }
  it('every certificate rule has a breaking case here', () => {
    const covered = new Set(CASES.map((c) => c.rule));
    assert.deepEqual(CERTIFICATE_RULES.map((r) => r.id).filter((id) => !covered.has(id)), []);
  });
  it('rule ids are unique and carry a prefix matching their severity', () => {
    const all = CERTIFICATE_RULES.map((r) => r.id);
    assert.equal(new Set(all).size, all.length);
    for (const r of CERTIFICATE_RULES) assert.equal(r.id[0], r.severity[0], r.id);
  });
});

describe('certificate lint: context', () => {
  it('BR rules are off when br is false, and for non-TLS-server profiles by default', () => {
    const der = buildTestCertificate(leafSpec({ extensions: undefined, notAfter: new asn.Time(new Date(T0 + 500 * DAY)) }));
    assert.ok(ids(der, 'tls-server').includes('e_sub_cert_certificate_policies_missing'));
    const noBr = lintCertificate(der, { profile: 'tls-server', br: false }).map((f) => f.id);
    assert.ok(!noBr.includes('e_sub_cert_certificate_policies_missing'));
    assert.ok(!noBr.includes('e_sub_cert_validity_over_398_days'));
  });
  it('findings are sorted errors first', () => {
    const der = buildTestCertificate(leafSpec({ serial: new Uint8Array([1]), subject: parseDn('CN=nope.example.com'), extensions: (e) => [...e, policies('1.2.3.4')] }));
    const sev = lintCertificate(der, 'tls-server').map((f) => f.severity);
    assert.ok(sev.length >= 3);
    assert.deepEqual(sev, [...sev].sort((a, b) => ['error', 'warn', 'notice'].indexOf(a) - ['error', 'warn', 'notice'].indexOf(b)));
  });
  it('a self-signed root may omit the AKI; a leaf may not', () => {
    const root = buildTestCertificate(rootSpec({ extensions: replace(asn.id_ce_authorityKeyIdentifier, null) }));
    assert.deepEqual(lintCertificate(root, 'root-ca'), []);
  });
  it('garbage is a LintDecodeError, not a finding', () => {
    assert.throws(() => lintCertificate(new Uint8Array([1, 2, 3]), 'tls-server'), LintDecodeError);
    assert.throws(() => lintCertificate(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), 'tls-server'), LintDecodeError);
  });
  it('guessProfile reads basicConstraints and EKU', () => {
    assert.equal(guessProfile(buildTestCertificate(leafSpec({ template: { ...leafTemplate, extKeyUsage: [asn.id_kp_OCSPSigning] } }))), 'ocsp-signer');
    assert.equal(guessProfile(buildTestCertificate(leafSpec({ template: { ...leafTemplate, extKeyUsage: undefined } }))), 'unknown');
  });
});
