/** Each CRL rule: a CRL built to break it fails it, and a clean CRL passes all of them. */
import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as asn1js from 'asn1js';
import * as asn from '@peculiar/asn1-x509';
import { parseDn } from '../names.js';
import {
  ALG, DAY, buildTestCrl, buildTestCertificate, crlAki, crlIdp, crlNumber, crlSpec, ext, issuingCaCertificate, randomSerial, rawExt, revoked, rootSpec,
} from './fixtures.js';
import { CRL_RULES, formatFindings, lintCrl, LintDecodeError } from './index.js';

const T0 = Date.UTC(2026, 0, 1);
const ISSUER = issuingCaCertificate();

describe('CRL lint', () => {
  it('a clean CRL has no findings, with and without its issuer certificate', () => {
    const der = buildTestCrl(crlSpec());
    assert.deepEqual(lintCrl(der), [], formatFindings(lintCrl(der)));
    assert.deepEqual(lintCrl(der, ISSUER), [], formatFindings(lintCrl(der, ISSUER)));
    const empty = buildTestCrl(crlSpec({ entries: undefined }));
    assert.deepEqual(lintCrl(empty, ISSUER), []);
  });

  const dup = randomSerial();
  const cases: [rule: string, der: () => Uint8Array, issuer?: Uint8Array][] = [
    ['e_crl_version_not_v2', () => buildTestCrl(crlSpec({ version: undefined }))],
    ['e_crl_signature_algorithm_mismatch', () => buildTestCrl(crlSpec({ outerAlg: ALG.ecdsaSha384 }))],
    ['e_crl_signature_hash_weak', () => buildTestCrl(crlSpec({ tbsAlg: ALG.ecdsaSha1, outerAlg: ALG.ecdsaSha1 }))],
    ['e_crl_next_update_missing', () => buildTestCrl(crlSpec({ nextUpdate: undefined }))],
    ['e_crl_this_update_not_before_next_update', () => buildTestCrl(crlSpec({ nextUpdate: new asn.Time(new Date(T0)) }))],
    ['e_crl_time_wrong_type', () => buildTestCrl(crlSpec({ thisUpdate: new asn.Time({ generalTime: new Date(T0 + DAY) }) }))],
    ['e_crl_time_format', () => buildTestCrl(crlSpec({ nextUpdate: new asn.Time({ generalTime: new Date(Date.UTC(2060, 0, 1, 0, 0, 0, 250)) }) }))],
    ['e_crl_number_missing', () => buildTestCrl(crlSpec({ extensions: [crlAki()] }))],
    ['e_crl_number_critical', () => buildTestCrl(crlSpec({ extensions: [crlAki(), crlNumber(3, true)] }))],
    ['e_crl_number_invalid', () => buildTestCrl(crlSpec({ extensions: [crlAki(), rawExt(asn.id_ce_cRLNumber, false, new asn1js.Integer({ value: -1 }).toBER())] }))],
    ['e_crl_aki_missing', () => buildTestCrl(crlSpec({ extensions: [crlNumber(1)] }))],
    ['e_crl_duplicate_extension', () => buildTestCrl(crlSpec({ extensions: [crlAki(), crlNumber(1), crlNumber(2)] }))],
    ['e_crl_unknown_critical_extension', () => buildTestCrl(crlSpec({ extensions: [crlAki(), crlNumber(1), rawExt('1.3.6.1.4.1.99999.3', true, new asn1js.Null().toBER())] }))],
    ['w_crl_idp_not_critical', () => buildTestCrl(crlSpec({ extensions: [crlAki(), crlNumber(1), crlIdp(false)] }))],
    ['e_crl_revoked_list_empty', () => buildTestCrl(crlSpec({ entries: [] }))],
    ['e_crl_duplicate_serial', () => buildTestCrl(crlSpec({ entries: [revoked(dup, 1), revoked(randomSerial()), revoked(dup, 4)] }))],
    ['w_crl_reason_unspecified', () => buildTestCrl(crlSpec({ entries: [revoked(randomSerial(), 0)] }))],
    ['e_crl_reason_invalid', () => buildTestCrl(crlSpec({ entries: [revoked(randomSerial(), 7)] }))],
    ['e_crl_entry_unknown_critical_extension', () => {
      const e = revoked(randomSerial());
      e.crlEntryExtensions = [rawExt('1.3.6.1.4.1.99999.4', true, new asn1js.Null().toBER())];
      return buildTestCrl(crlSpec({ entries: [e] }));
    }],
    ['e_crl_issuer_name_mismatch', () => buildTestCrl(crlSpec({ issuerName: parseDn('CN=Someone Else') })), ISSUER],
    ['e_crl_aki_mismatch', () => buildTestCrl(crlSpec()), buildTestCertificate(rootSpec({ subject: crlSpec().issuerName, issuerName: crlSpec().issuerName }))],
    ['e_crl_issuer_no_crl_sign', () => buildTestCrl(crlSpec()), buildTestCertificate(rootSpec({
      subject: crlSpec().issuerName, issuerName: crlSpec().issuerName,
      extensions: (e) => e.map((x) => (x.extnID === asn.id_ce_keyUsage ? ext(asn.id_ce_keyUsage, true, new asn.KeyUsage(asn.KeyUsageFlags.keyCertSign)) : x)),
    }))],
  ];
  for (const [rule, der, issuer] of cases) {
    it(`${rule}`, () => {
      const findings = lintCrl(der(), issuer);
      assert.ok(findings.some((f) => f.id === rule), `expected ${rule}, got:\n${formatFindings(findings)}`);
    });
  }
  it('every CRL rule has a breaking case here', () => {
    const covered = new Set(cases.map((c) => c[0]));
    assert.deepEqual(CRL_RULES.map((r) => r.id).filter((id) => !covered.has(id)), []);
  });
  it('garbage is a LintDecodeError', () => {
    assert.throws(() => lintCrl(new Uint8Array([0x30, 0x00])), LintDecodeError);
  });
});
