import { keyIdentifier } from '../pki/certificate-builder.js';

/** A stable, readable issuer id: kind prefix plus the first 8 hex digits of the key identifier. */
export function issuerId(prefix: 'root' | 'int' | 'ocsp', spki: Uint8Array, notBefore: Date): string {
  const ski = keyIdentifier(spki).toString('hex').slice(0, 10);
  return `${prefix}-${ski}-${notBefore.getTime().toString(36)}`;
}
