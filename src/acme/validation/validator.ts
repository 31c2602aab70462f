/**
 * The contract between the ACME order logic and challenge validation. A
 * validator checks one challenge once and either resolves (valid) or throws
 * an AcmeError whose type is one of connection, dns, incorrectResponse, tls,
 * unauthorized or malformed (invalid, with a detail for the client).
 */
import type { AcmeIdentifier, ChallengeType } from '../../storage/acme-records.js';

export interface ValidationInput {
  /** The identifier as authorized (no "*." prefix). */
  identifier: AcmeIdentifier;
  token: string;
  /** token + "." + base64url(JWK thumbprint of the account key). */
  keyAuthorization: string;
}

export interface ChallengeValidator {
  validate(type: ChallengeType, input: ValidationInput): Promise<void>;
}

export interface ValidationSettings {
  /** host:port strings; empty = system resolvers. */
  dnsResolvers: string[];
  timeoutSeconds: number;
  httpPort: number;
  tlsPort: number;
  /** Tests only: connect http-01 and tls-alpn-01 here instead of resolving the identifier. */
  connectAddress?: string;
  maxRedirects: number;
}
