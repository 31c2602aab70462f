/**
 * RFC 5280 section 5.3.1 CRLReason codes. Value 7 is unused by the RFC and is
 * therefore not a valid code.
 */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;

export type RevocationReasonName = keyof typeof REVOCATION_REASONS;
export type RevocationReasonCode = (typeof REVOCATION_REASONS)[RevocationReasonName];

const BY_CODE = new Map<number, RevocationReasonName>(
  (Object.entries(REVOCATION_REASONS) as [RevocationReasonName, number][]).map(([name, code]) => [code, name]),
);
/** Case-insensitive, separator-insensitive lookup ("key-compromise", "KEY_COMPROMISE", "keyCompromise"). */
const BY_FOLDED_NAME = new Map<string, RevocationReasonCode>(
  (Object.entries(REVOCATION_REASONS) as [RevocationReasonName, RevocationReasonCode][]).map(([name, code]) => [fold(name), code]),
);

function fold(s: string): string {
  return s.replace(/[\s_-]+/g, '').toLowerCase();
}

export function isRevocationReasonCode(code: unknown): code is RevocationReasonCode {
  return typeof code === 'number' && BY_CODE.has(code);
}

/**
 * Resolves a reason given as a code (number or decimal string) or a name
 * ("keyCompromise", "key-compromise", "KEY_COMPROMISE"). Returns null when it
 * is not an RFC 5280 reason.
 */
export function reasonFromName(value: string | number): RevocationReasonCode | null {
  if (typeof value === 'number') return isRevocationReasonCode(value) ? value : null;
  const s = value.trim();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    return isRevocationReasonCode(n) ? n : null;
  }
  return BY_FOLDED_NAME.get(fold(s)) ?? null;
}

/** The RFC 5280 name of a reason code, or null when the code is not defined. */
export function reasonName(code: number): RevocationReasonName | null {
  return BY_CODE.get(code) ?? null;
}

/** Alias kept for callers that think in CRL terms. */
export const crlReasonName = reasonName;
