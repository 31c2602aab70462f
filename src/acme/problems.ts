/**
 * ACME error types (RFC 8555 §6.7, RFC 8737, RFC 9773) and the error class
 * the ACME code throws. The ACME front end turns an AcmeError into an
 * application/problem+json reply with the error's HTTP status.
 */
import type { AcmeIdentifier, AcmeProblem } from '../storage/acme-records.js';

export const ACME_ERRORS = {
  accountDoesNotExist: 400,
  alreadyReplaced: 409,
  alreadyRevoked: 400,
  badCSR: 400,
  badNonce: 400,
  badPublicKey: 400,
  badRevocationReason: 400,
  badSignatureAlgorithm: 400,
  caa: 403,
  compound: 403,
  connection: 400,
  dns: 400,
  externalAccountRequired: 400,
  incorrectResponse: 403,
  invalidContact: 400,
  malformed: 400,
  orderNotReady: 403,
  rateLimited: 429,
  rejectedIdentifier: 400,
  serverInternal: 500,
  tls: 400,
  unauthorized: 403,
  unsupportedContact: 400,
  unsupportedIdentifier: 400,
  userActionRequired: 403,
} as const;

export type AcmeErrorType = keyof typeof ACME_ERRORS;

export const ACME_URN = 'urn:ietf:params:acme:error:';

export class AcmeError extends Error {
  constructor(
    readonly type: AcmeErrorType,
    message: string,
    readonly options: {
      status?: number;
      /** Seconds for Retry-After (rateLimited). */
      retryAfter?: number;
      subproblems?: Array<{ type: AcmeErrorType; detail: string; identifier?: AcmeIdentifier }>;
      /** Extra problem members (e.g. algorithms for badSignatureAlgorithm). */
      extra?: Record<string, unknown>;
    } = {},
  ) {
    super(message);
    this.name = 'AcmeError';
  }

  get status(): number { return this.options.status ?? ACME_ERRORS[this.type]; }

  toProblem(): AcmeProblem & Record<string, unknown> {
    return {
      type: ACME_URN + this.type,
      detail: this.message,
      status: this.status,
      ...(this.options.subproblems?.length ? {
        subproblems: this.options.subproblems.map((s) => ({ type: ACME_URN + s.type, detail: s.detail, ...(s.identifier ? { identifier: s.identifier } : {}) })),
      } : {}),
      ...this.options.extra,
    };
  }
}

export function isAcmeError(e: unknown): e is AcmeError {
  return e instanceof AcmeError;
}
