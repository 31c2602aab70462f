/** Basic OCSP response rules (RFC 6960; RFC 5019; BR 4.9.10). */
import { AsnConvert, AsnParser } from '@peculiar/asn1-schema';
import * as ocsp from '@peculiar/asn1-ocsp';
import { weakSignatureProblem } from './signature-algorithm.js';
import { LintDecodeError, type Rule } from './types.js';

export interface OcspInput {
  der: Uint8Array;
  response: ocsp.OCSPResponse;
  /** The BasicOCSPResponse when responseBytes is id-pkix-ocsp-basic and decodes. */
  basic?: ocsp.BasicOCSPResponse;
  basicError?: string;
}

export function ocspInput(der: Uint8Array): OcspInput {
  let response: ocsp.OCSPResponse;
  try {
    response = AsnParser.parse(der, ocsp.OCSPResponse);
  } catch (e) {
    throw new LintDecodeError(`not a DER OCSP response: ${(e as Error).message}`);
  }
  const input: OcspInput = { der, response };
  const rb = response.responseBytes;
  if (rb && rb.responseType === ocsp.id_pkix_ocsp_basic) {
    try {
      input.basic = AsnConvert.parse(rb.response.buffer, ocsp.BasicOCSPResponse);
    } catch (e) {
      input.basicError = (e as Error).message;
    }
  }
  return input;
}

const successful = (o: OcspInput) => o.response.responseStatus === ocsp.OCSPResponseStatus.successful;
const validDate = (d: unknown) => d instanceof Date && !Number.isNaN(d.getTime());

export const ocspRules: Rule<OcspInput>[] = [
  {
    id: 'e_ocsp_successful_without_basic_response', severity: 'error', source: 'rfc6960', citation: 'RFC 6960 4.2.1',
    description: 'a successful response carries responseBytes of type id-pkix-ocsp-basic that decode',
    appliesTo: successful,
    check: (o) => {
      const rb = o.response.responseBytes;
      if (!rb) return ['successful response without responseBytes'];
      if (rb.responseType !== ocsp.id_pkix_ocsp_basic) return [`responseType is ${rb.responseType}, not id-pkix-ocsp-basic`];
      return o.basic ? [] : [`BasicOCSPResponse does not decode: ${o.basicError}`];
    },
  },
  {
    id: 'w_ocsp_error_with_response_bytes', severity: 'warn', source: 'rfc6960', citation: 'RFC 6960 2.3, 4.2.1',
    description: 'an error response (not successful) carries no responseBytes',
    appliesTo: (o) => !successful(o),
    check: (o) => (o.response.responseBytes ? [`status ${ocsp.OCSPResponseStatus[o.response.responseStatus] ?? o.response.responseStatus} with responseBytes`] : []),
  },
  {
    id: 'e_ocsp_produced_at_missing', severity: 'error', source: 'rfc6960', citation: 'RFC 6960 4.2.1, 4.2.2.1',
    description: 'ResponseData.producedAt is a valid time',
    appliesTo: (o) => o.basic !== undefined,
    check: (o) => (validDate(o.basic!.tbsResponseData.producedAt) ? [] : ['producedAt is missing or invalid']),
  },
  {
    id: 'w_ocsp_no_single_response', severity: 'warn', source: 'rfc6960', citation: 'RFC 6960 4.2.1',
    description: 'the response answers for at least one certificate',
    appliesTo: (o) => o.basic !== undefined,
    check: (o) => (o.basic!.tbsResponseData.responses.length > 0 ? [] : ['no SingleResponse']),
  },
  {
    id: 'e_ocsp_this_update_after_next_update', severity: 'error', source: 'rfc6960', citation: 'RFC 6960 2.4, 4.2.2.1',
    description: 'in each SingleResponse, thisUpdate is not after nextUpdate',
    appliesTo: (o) => o.basic !== undefined,
    check: (o) => o.basic!.tbsResponseData.responses.flatMap((r, i) => {
      if (!validDate(r.thisUpdate)) return [`response ${i}: thisUpdate is missing or invalid`];
      if (r.nextUpdate && r.thisUpdate.getTime() > r.nextUpdate.getTime()) return [`response ${i}: thisUpdate ${r.thisUpdate.toISOString()} is after nextUpdate ${r.nextUpdate.toISOString()}`];
      return [];
    }),
  },
  {
    id: 'w_ocsp_next_update_missing', severity: 'warn', source: 'br', citation: 'RFC 5019 2.2.4; BR 4.9.10',
    description: 'each SingleResponse has nextUpdate',
    appliesTo: (o) => o.basic !== undefined,
    check: (o) => o.basic!.tbsResponseData.responses.flatMap((r, i) => (r.nextUpdate ? [] : [`response ${i} has no nextUpdate`])),
  },
  {
    id: 'e_ocsp_signature_hash_weak', severity: 'error', source: 'br', citation: 'BR 7.1.3.2',
    description: 'the response signature does not use MD2, MD5 or SHA-1',
    appliesTo: (o) => o.basic !== undefined,
    check: (o) => weakSignatureProblem(o.basic!.signatureAlgorithm, 'OCSP response'),
  },
];
