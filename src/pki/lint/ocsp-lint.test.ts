/** Basic OCSP response checks: a clean response passes, each broken one fails its rule. */
import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as ocsp from '@peculiar/asn1-ocsp';
import { ALG, DAY, buildTestOcspResponse, ocspSpec } from './fixtures.js';
import { formatFindings, lintOcspResponse, LintDecodeError, OCSP_RULES } from './index.js';

const T0 = Date.UTC(2026, 0, 1);

describe('OCSP response lint', () => {
  it('a clean successful response and a plain error response have no findings', () => {
    const good = lintOcspResponse(buildTestOcspResponse(ocspSpec()));
    assert.deepEqual(good, [], formatFindings(good));
    assert.deepEqual(lintOcspResponse(buildTestOcspResponse(ocspSpec({ status: ocsp.OCSPResponseStatus.unauthorized, bytes: false }))), []);
  });
  const cases: [string, () => Uint8Array][] = [
    ['e_ocsp_successful_without_basic_response', () => buildTestOcspResponse(ocspSpec({ bytes: false }))],
    ['e_ocsp_successful_without_basic_response', () => buildTestOcspResponse(ocspSpec({ bytes: ocsp.id_pkix_ocsp_basic }))],
    ['e_ocsp_successful_without_basic_response', () => buildTestOcspResponse(ocspSpec({ bytes: '1.3.6.1.4.1.99999.9' }))],
    ['w_ocsp_error_with_response_bytes', () => buildTestOcspResponse(ocspSpec({ status: ocsp.OCSPResponseStatus.tryLater }))],
    ['e_ocsp_this_update_after_next_update', () => buildTestOcspResponse(ocspSpec({ thisUpdate: new Date(T0 + 5 * DAY), nextUpdate: new Date(T0) }))],
    ['w_ocsp_next_update_missing', () => buildTestOcspResponse(ocspSpec({ nextUpdate: undefined }))],
    ['e_ocsp_signature_hash_weak', () => buildTestOcspResponse(ocspSpec({ alg: ALG.ecdsaSha1 }))],
    // producedAt is mandatory in the ASN.1: a response without a valid one does not decode as a BasicOCSPResponse.
    ['e_ocsp_successful_without_basic_response', () => buildTestOcspResponse(ocspSpec({ thisUpdate: new Date(Number.NaN), nextUpdate: undefined }))],
  ];
  for (const [rule, der] of cases) {
    it(rule, () => {
      let bytes: Uint8Array;
      try { bytes = der(); } catch { return; } // an encoder that refuses the broken value is fine too
      const findings = lintOcspResponse(bytes);
      assert.ok(findings.some((f) => f.id === rule), `expected ${rule}, got:\n${formatFindings(findings)}`);
    });
  }
  it('every OCSP rule but the ones the ASN.1 parser already enforces has a breaking case', () => {
    const covered = new Set(cases.map((c) => c[0]));
    assert.deepEqual(OCSP_RULES.map((r) => r.id).filter((id) => !covered.has(id)), ['e_ocsp_produced_at_missing', 'w_ocsp_no_single_response']);
  });
  it('garbage is a LintDecodeError', () => {
    assert.throws(() => lintOcspResponse(new Uint8Array([0x04, 0x00])), LintDecodeError);
  });
});
