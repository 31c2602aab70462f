/** Validity period rules (RFC 5280 4.1.2.5; BR 6.3.2). */
import type { CertificateInput } from './certificate-input.js';
import { brTlsServer } from './certificate-input.js';
import { timeFormatProblem, timeTypeProblem } from './time-encoding.js';
import type { Rule } from './types.js';

const MAX_SUBSCRIBER_SECONDS = 398 * 86_400;
const nonNull = <T>(x: T | null): x is T => x !== null;

export const validityRules: Rule<CertificateInput>[] = [
  {
    id: 'e_validity_not_before_after_not_after', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.1.2.5',
    description: 'notBefore is before notAfter',
    check: (c) => {
      const nb = c.tbs.validity.notBefore.getTime();
      const na = c.tbs.validity.notAfter.getTime();
      return nb.getTime() < na.getTime() ? [] : [`notBefore ${nb.toISOString()} is not before notAfter ${na.toISOString()}`];
    },
  },
  {
    id: 'e_validity_time_wrong_type', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.1.2.5',
    description: 'dates through 2049 are UTCTime, from 2050 GeneralizedTime',
    check: (c) => [timeTypeProblem('notBefore', c.raw.notBefore), timeTypeProblem('notAfter', c.raw.notAfter)].filter(nonNull),
  },
  {
    id: 'e_validity_time_format', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.1.2.5.1, 4.1.2.5.2',
    description: 'UTCTime is YYMMDDHHMMSSZ, GeneralizedTime YYYYMMDDHHMMSSZ (Zulu, seconds, no fraction)',
    check: (c) => [timeFormatProblem('notBefore', c.raw.notBefore), timeFormatProblem('notAfter', c.raw.notAfter)].filter(nonNull),
  },
  {
    id: 'e_sub_cert_validity_over_398_days', severity: 'error', source: 'br', citation: 'BR 6.3.2',
    description: 'a subscriber TLS server certificate is valid for at most 398 days',
    appliesTo: brTlsServer,
    check: (c) => {
      // BR 1.6.1 "Validity Period": notBefore to notAfter inclusive, so one second more than the difference.
      const seconds = (c.tbs.validity.notAfter.getTime().getTime() - c.tbs.validity.notBefore.getTime().getTime()) / 1000 + 1;
      return seconds > MAX_SUBSCRIBER_SECONDS ? [`validity period is ${(seconds / 86_400).toFixed(2)} days (max 398)`] : [];
    },
  },
];
