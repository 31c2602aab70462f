/**
 * ACME (RFC 8555) objects as Rampart stores them. Every object that changes
 * carries a `version` so that updates are compare-and-set: two nodes serving
 * steps of the same order can never overwrite each other's result.
 */

export type AcmeIdentifierType = 'dns' | 'ip';
export interface AcmeIdentifier { type: AcmeIdentifierType; value: string }

/** An RFC 8555 problem document kept on an order, authorization or challenge. */
export interface AcmeProblem {
  type: string;
  detail: string;
  status?: number;
  subproblems?: Array<{ type: string; detail: string; identifier?: AcmeIdentifier }>;
}

export type AccountStatus = 'valid' | 'deactivated' | 'revoked';

export interface AcmeAccount {
  id: string;
  /** RFC 7638 SHA-256 thumbprint of the account key (base64url), unique. */
  keyThumbprint: string;
  /** The account's public JWK. */
  jwk: Record<string, unknown>;
  status: AccountStatus;
  contact: string[];
  /** External account binding key id used at creation, if any. */
  eabKid: string | null;
  /** Address the account was created from (rate limits, audit). */
  createdFromIp: string;
  createdAt: Date;
  version: number;
}

export type OrderStatus = 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';

export interface AcmeOrder {
  id: string;
  accountId: string;
  status: OrderStatus;
  expires: Date;
  identifiers: AcmeIdentifier[];
  authorizationIds: string[];
  notBefore: Date | null;
  notAfter: Date | null;
  error: AcmeProblem | null;
  /** Serial of the issued certificate once valid. */
  certificateSerial: string | null;
  /** ARI (RFC 9773): the certID of the certificate this order replaces. */
  replaces: string | null;
  /** The finalize CSR, kept while processing so that any node can finish the order. */
  csrDer: Uint8Array | null;
  /** When a node claimed the order for finalization (stale claims are finished by another node). */
  processingSince: Date | null;
  createdAt: Date;
  version: number;
}

export type ChallengeType = 'http-01' | 'dns-01' | 'tls-alpn-01';
export type ChallengeStatus = 'pending' | 'processing' | 'valid' | 'invalid';

export interface AcmeChallenge {
  id: string;
  type: ChallengeType;
  /** base64url, at least 128 bits of entropy. */
  token: string;
  status: ChallengeStatus;
  validated: Date | null;
  error: AcmeProblem | null;
}

export type AuthzStatus = 'pending' | 'valid' | 'invalid' | 'deactivated' | 'expired' | 'revoked';

export interface AcmeAuthorization {
  id: string;
  accountId: string;
  /** The identifier without any "*." prefix; `wildcard` says whether the order asked for "*.value". */
  identifier: AcmeIdentifier;
  wildcard: boolean;
  status: AuthzStatus;
  expires: Date;
  challenges: AcmeChallenge[];
  /** When a node started validating one of its challenges (stale validations are redone by another node). */
  processingSince: Date | null;
  createdAt: Date;
  version: number;
}

/** An external account binding key created by an operator (RFC 8555 §7.3.4). */
export interface EabKey {
  kid: string;
  /** The HMAC key sealed with the node secret (AES-256-GCM); never stored in clear. */
  sealedKey: Uint8Array;
  description: string;
  createdAt: Date;
  /** Account the key was bound to (a key binds one account only). */
  boundAccountId: string | null;
  revokedAt: Date | null;
}
