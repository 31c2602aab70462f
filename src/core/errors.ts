/**
 * One error table for the whole project: a stable code, the HTTP status it
 * maps to, and the problem type URN. Only the HTTP front ends turn these into
 * RFC 7807 problem documents; nothing else knows about HTTP.
 */
export const ERRORS = {
  malformed: { http: 400, title: 'Malformed request' },
  badCsr: { http: 400, title: 'Bad certificate signing request' },
  badSignature: { http: 400, title: 'Bad signature' },
  policyViolation: { http: 403, title: 'Request refused by certificate profile policy' },
  unknownProfile: { http: 400, title: 'Unknown certificate profile' },
  unauthorized: { http: 401, title: 'Authentication required' },
  forbidden: { http: 403, title: 'Not permitted for this role' },
  notFound: { http: 404, title: 'Not found' },
  conflict: { http: 409, title: 'Conflict' },
  alreadyRevoked: { http: 409, title: 'Certificate already revoked' },
  idempotencyMismatch: { http: 422, title: 'Idempotency key reused with a different request' },
  payloadTooLarge: { http: 413, title: 'Request body too large' },
  unsupportedMediaType: { http: 415, title: 'Unsupported media type' },
  rateLimited: { http: 429, title: 'Too many requests' },
  unavailable: { http: 503, title: 'Service unavailable' },
  notWritable: { http: 503, title: 'This node does not accept writes now (standby or fenced)' },
  fenced: { http: 503, title: 'Leader-only write refused: this node no longer holds the lease' },
  internal: { http: 500, title: 'Internal error' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class RampartError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra members for the problem document (e.g. the policy rule that refused). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'RampartError';
  }
  get http(): number { return ERRORS[this.code].http; }
  get type(): string { return `urn:rampart:error:${this.code}`; }
  get title(): string { return ERRORS[this.code].title; }
}

export function isRampartError(e: unknown): e is RampartError {
  return e instanceof RampartError;
}
