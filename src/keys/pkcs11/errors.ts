/**
 * Which PKCS#11 failures mean "this token is not usable now" (take it out of
 * the pool, retry the operation on another token, try it again later) and
 * which mean "this request is wrong" (report it, change nothing).
 */
import pkcs11js from 'pkcs11js';

/**
 * Device, slot, session and login failures, and the module's catch-alls.
 * Handle-invalid errors are here too: a token that lost its objects (SoftHSM2
 * answers CKR_OBJECT_HANDLE_INVALID once its token directory is gone) cannot
 * serve the key, and recovery finds the objects again when it comes back.
 */
const TOKEN_FAILURES = new Set<number>([
  pkcs11js.CKR_DEVICE_REMOVED, pkcs11js.CKR_DEVICE_ERROR, pkcs11js.CKR_DEVICE_MEMORY,
  pkcs11js.CKR_TOKEN_NOT_PRESENT, pkcs11js.CKR_TOKEN_NOT_RECOGNIZED, pkcs11js.CKR_SLOT_ID_INVALID,
  pkcs11js.CKR_SESSION_HANDLE_INVALID, pkcs11js.CKR_SESSION_CLOSED, pkcs11js.CKR_SESSION_COUNT,
  pkcs11js.CKR_USER_NOT_LOGGED_IN, pkcs11js.CKR_CRYPTOKI_NOT_INITIALIZED,
  pkcs11js.CKR_GENERAL_ERROR, pkcs11js.CKR_FUNCTION_FAILED, pkcs11js.CKR_HOST_MEMORY, pkcs11js.CKR_OPERATION_ACTIVE,
  pkcs11js.CKR_KEY_HANDLE_INVALID, pkcs11js.CKR_OBJECT_HANDLE_INVALID,
]);

/** Login failures that must not be retried automatically: every wrong attempt counts towards locking the PIN. */
const PIN_FAILURES = new Set<number>([
  pkcs11js.CKR_PIN_INCORRECT, pkcs11js.CKR_PIN_INVALID, pkcs11js.CKR_PIN_LEN_RANGE, pkcs11js.CKR_PIN_EXPIRED, pkcs11js.CKR_PIN_LOCKED,
]);

export function ckrCode(e: unknown): number | undefined {
  return e instanceof pkcs11js.Pkcs11Error ? e.code : undefined;
}

/** "CKR_GENERAL_ERROR in C_Sign" or the error message. */
export function describeError(e: unknown): string {
  if (e instanceof pkcs11js.Pkcs11Error) return `${e.message}${e.method ? ` in ${e.method}` : ''}`;
  return e instanceof Error ? e.message : String(e);
}

/** The token cannot be used now; nothing about the request itself. */
export class TokenUnavailable extends Error {
  constructor(message: string, readonly permanent = false) {
    super(message);
    this.name = 'TokenUnavailable';
  }
}

/** The module was re-initialized since the session was opened: reopen and try again on the same token. */
export class StaleSession extends Error {
  constructor() {
    super('the PKCS#11 module was re-initialized; sessions are reopened');
    this.name = 'StaleSession';
  }
}

/** The token is fine but cannot do this with this key: the pool tries the next token. */
export class TryNextToken extends Error {}

/** The token is fine but does not hold the key. */
export class KeyAbsent extends TryNextToken {
  constructor(readonly tokenName: string) {
    super(`does not hold the key`);
    this.name = 'KeyAbsent';
  }
}

/** This token's copy of the key may not leave it (another token's copy may). */
export class NotExtractable extends TryNextToken {
  constructor(message: string) {
    super(message);
    this.name = 'NotExtractable';
  }
}

export function isTokenFailure(e: unknown): boolean {
  if (e instanceof TokenUnavailable) return true;
  const code = ckrCode(e);
  if (code !== undefined) return TOKEN_FAILURES.has(code) || PIN_FAILURES.has(code);
  // A native failure that is not a CKR_ code (the module misbehaving) is the token's fault, not the request's.
  return e instanceof pkcs11js.NativeError;
}

export function isPinFailure(e: unknown): boolean {
  const code = ckrCode(e);
  return code !== undefined && PIN_FAILURES.has(code);
}
