/** Serial number rules (RFC 5280 4.1.2.2; BR 7.1). */
import type { CertificateInput } from './certificate-input.js';
import { brTlsServer } from './certificate-input.js';
import type { Rule } from './types.js';

/** Lints the raw contents octets of an INTEGER serial number. */
export function serialProblems(s: Uint8Array): { negative: boolean; zero: boolean; tooLong: boolean; notMinimal: boolean } {
  return {
    negative: s.length > 0 && (s[0]! & 0x80) !== 0,
    zero: s.every((b) => b === 0),
    tooLong: s.length > 20,
    notMinimal: s.length > 1 && ((s[0] === 0x00 && (s[1]! & 0x80) === 0) || (s[0] === 0xff && (s[1]! & 0x80) !== 0)),
  };
}

export const serialRules: Rule<CertificateInput>[] = [
  {
    id: 'e_serial_number_not_positive', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.1.2.2',
    description: 'the serial number is a positive integer',
    check: (c) => (serialProblems(c.raw.serial).negative ? ['serial number is negative'] : []),
  },
  {
    id: 'e_serial_number_zero', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.1.2.2',
    description: 'the serial number is not zero',
    check: (c) => (serialProblems(c.raw.serial).zero ? ['serial number is zero'] : []),
  },
  {
    id: 'e_serial_number_longer_than_20_octets', severity: 'error', source: 'rfc5280', citation: 'RFC 5280 4.1.2.2',
    description: 'the serial number is at most 20 octets',
    check: (c) => (serialProblems(c.raw.serial).tooLong ? [`serial number is ${c.raw.serial.length} octets`] : []),
  },
  {
    id: 'e_serial_number_not_minimal', severity: 'error', source: 'x690', citation: 'X.690 8.3.2 (DER); RFC 5280 4.1',
    description: 'the serial number INTEGER is minimally encoded',
    check: (c) => (serialProblems(c.raw.serial).notMinimal ? ['serial number INTEGER has a redundant leading octet'] : []),
  },
  {
    id: 'w_serial_number_low_entropy', severity: 'warn', source: 'br', citation: 'BR 7.1',
    description: 'the serial number has room for 64 bits of CSPRNG output (at least 9 octets)',
    appliesTo: brTlsServer,
    check: (c) => (c.raw.serial.length < 9 ? [`serial number is ${c.raw.serial.length} octets: too short for 64 random bits`] : []),
  },
];
