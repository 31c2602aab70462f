/**
 * ACME Renewal Information (RFC 9773): the certificate identifier
 * base64url(authorityKeyIdentifier) "." base64url(serial DER content) and the
 * suggested renewal window.
 */
import * as x509 from '@peculiar/x509';
import { AcmeError } from './problems.js';

export interface CertId { keyIdentifier: Buffer; serialHex: string; text: string }

export function parseCertId(text: string): CertId {
  const m = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(text);
  if (!m) throw new AcmeError('malformed', 'the renewal-info certificate identifier must be base64url(keyIdentifier).base64url(serial)');
  const keyIdentifier = Buffer.from(m[1]!, 'base64url');
  const serial = Buffer.from(m[2]!, 'base64url');
  if (keyIdentifier.length === 0 || serial.length === 0 || serial.length > 20) throw new AcmeError('malformed', 'the certificate identifier has an empty key identifier or a bad serial');
  let i = 0;
  while (i < serial.length - 1 && serial[i] === 0) i++;
  return { keyIdentifier, serialHex: serial.subarray(i).toString('hex'), text };
}

/** The ARI certID of a certificate (its AKI keyIdentifier and serial). */
export function certIdOf(der: Uint8Array): string {
  const cert = new x509.X509Certificate(new Uint8Array(der));
  const aki = cert.extensions.find((e) => e.type === '2.5.29.35') as x509.AuthorityKeyIdentifierExtension | undefined;
  if (!aki?.keyId) throw new Error('certificate has no authority key identifier');
  const serial = Buffer.from(cert.serialNumber, 'hex');
  const withSign = serial[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), serial]) : serial;
  return `${Buffer.from(aki.keyId, 'hex').toString('base64url')}.${withSign.toString('base64url')}`;
}

export function authorityKeyIdOf(der: Uint8Array): Buffer | null {
  const cert = new x509.X509Certificate(new Uint8Array(der));
  const aki = cert.extensions.find((e) => e.type === '2.5.29.35') as x509.AuthorityKeyIdentifierExtension | undefined;
  return aki?.keyId ? Buffer.from(aki.keyId, 'hex') : null;
}

/**
 * Suggested window: from `fraction` of the lifetime to halfway between that
 * and expiry; for a revoked certificate, the window is already open.
 */
export function renewalWindow(notBefore: Date, notAfter: Date, fraction: number, revoked: boolean, now: Date): { start: Date; end: Date } {
  if (revoked) return { start: new Date(now.getTime() - 3_600_000), end: new Date(now.getTime() - 60_000) };
  const life = notAfter.getTime() - notBefore.getTime();
  const start = notBefore.getTime() + life * fraction;
  const end = start + (notAfter.getTime() - start) / 2;
  return { start: new Date(start), end: new Date(end) };
}
