/** Subject public key rules (BR 6.1.5, 6.1.6, 7.1.3.1). */
import { AsnConvert } from '@peculiar/asn1-schema';
import { ECParameters } from '@peculiar/asn1-ecc';
import { RSAPublicKey } from '@peculiar/asn1-rsa';
import { OID } from '../algorithms.js';
import type { CertificateInput } from './certificate-input.js';
import type { Rule } from './types.js';

const CURVES: Record<string, string> = { [OID.p256]: 'P-256', [OID.p384]: 'P-384' };

function rsaBits(c: CertificateInput): number {
  const key = AsnConvert.parse(c.tbs.subjectPublicKeyInfo.subjectPublicKey, RSAPublicKey);
  let m = new Uint8Array(key.modulus);
  while (m.length > 0 && m[0] === 0) m = m.subarray(1);
  return m.length === 0 ? 0 : (m.length - 1) * 8 + (32 - Math.clz32(m[0]!));
}

const alg = (c: CertificateInput) => c.tbs.subjectPublicKeyInfo.algorithm.algorithm;

export const publicKeyRules: Rule<CertificateInput>[] = [
  {
    id: 'e_spki_algorithm_not_allowed', severity: 'error', source: 'br', citation: 'BR 6.1.5, 7.1.3.1',
    description: 'the subject key is RSA or ECDSA',
    check: (c) => ([OID.rsaEncryption, OID.ecPublicKey] as string[]).includes(alg(c)) ? [] : [`subject key algorithm ${alg(c)} is neither rsaEncryption nor id-ecPublicKey`],
  },
  {
    id: 'e_rsa_key_too_small', severity: 'error', source: 'br', citation: 'BR 6.1.5',
    description: 'an RSA modulus is at least 2048 bits',
    appliesTo: (c) => alg(c) === OID.rsaEncryption,
    check: (c) => {
      const bits = rsaBits(c);
      return bits >= 2048 ? [] : [`RSA modulus is ${bits} bits`];
    },
  },
  {
    id: 'e_ec_curve_not_allowed', severity: 'error', source: 'br', citation: 'BR 6.1.5, 7.1.3.1.2',
    description: 'an ECDSA key is on P-256 or P-384 (named curve)',
    appliesTo: (c) => alg(c) === OID.ecPublicKey,
    check: (c) => {
      const raw = c.tbs.subjectPublicKeyInfo.algorithm.parameters;
      if (!raw) return ['ECDSA key without curve parameters'];
      const params = AsnConvert.parse(raw, ECParameters);
      if (!params.namedCurve) return ['ECDSA key with explicit (not named) curve parameters'];
      return CURVES[params.namedCurve] ? [] : [`ECDSA curve ${params.namedCurve} is not P-256 or P-384`];
    },
  },
];
