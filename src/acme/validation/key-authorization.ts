/**
 * Key authorization digests shared by the challenge validators:
 * dns-01 (RFC 8555 §8.4) publishes base64url(SHA-256(keyAuthorization)) in a
 * TXT record; tls-alpn-01 (RFC 8737 §3) carries the raw 32-byte SHA-256 in
 * the certificate's acmeIdentifier extension.
 */
import { createHash } from 'node:crypto';

/** The raw 32-byte SHA-256 of the key authorization (tls-alpn-01). */
export function keyAuthorizationSha256(keyAuthorization: string): Buffer {
  return createHash('sha256').update(keyAuthorization, 'utf8').digest();
}

/** base64url(SHA-256(keyAuthorization)), unpadded: the dns-01 TXT record value. */
export function keyAuthorizationDigest(keyAuthorization: string): string {
  return keyAuthorizationSha256(keyAuthorization).toString('base64url');
}
