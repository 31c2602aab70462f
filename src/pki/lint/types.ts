/**
 * The linter's rule model: a rule is one small pure function with an id, a
 * severity, a citation (RFC 5280 section, CA/Browser Forum Baseline
 * Requirements section, RFC 6960 section), a predicate saying which inputs it
 * applies to, and a check that returns the problems it found (empty when the
 * input passes). The runner (lint.ts) turns those into sorted Findings.
 */

export type Severity = 'error' | 'warn' | 'notice';

export const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warn: 1, notice: 2 };

/** What a certificate is for: decides which rules apply. */
export const PROFILE_KINDS = [
  'tls-server', 'tls-client', 'code-signing', 'email', 'ocsp-signer', 'subordinate-ca', 'root-ca', 'unknown',
] as const;
export type ProfileKind = (typeof PROFILE_KINDS)[number];

export function isProfileKind(v: unknown): v is ProfileKind {
  return typeof v === 'string' && (PROFILE_KINDS as readonly string[]).includes(v);
}

export interface LintContext {
  /** The certificate's profile; 'unknown' applies only the rules that read what the certificate says of itself. */
  profile: ProfileKind;
  /**
   * Whether the CA/Browser Forum Baseline Requirements apply (rules whose
   * source is 'br'). Default: true for tls-server, false otherwise.
   */
  br?: boolean;
}

/** Which document a rule comes from. */
export type RuleSource = 'rfc5280' | 'br' | 'rfc6960' | 'x690';

export interface Finding {
  id: string;
  severity: Severity;
  source: RuleSource;
  citation: string;
  message: string;
}

export interface Rule<I> {
  /** zlint style: e_ (error), w_ (warn) or n_ (notice) prefix, then the subject. */
  id: string;
  severity: Severity;
  source: RuleSource;
  citation: string;
  /** One line: what the rule requires. */
  description: string;
  /** Whether the rule applies to this input (profile, CA or leaf, extension present...). Default: always. */
  appliesTo?: (input: I) => boolean;
  /** The problems found, one message each; empty when the input passes. */
  check: (input: I) => string[];
}

export function sortFindings(findings: Finding[]): Finding[] {
  return [...findings].sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || a.id.localeCompare(b.id) || a.message.localeCompare(b.message));
}

/** Runs the rules over one input; a rule that throws becomes an error finding of its own id. */
export function runRules<I>(rules: readonly Rule<I>[], input: I, skip: (rule: Rule<I>) => boolean = () => false): Finding[] {
  const out: Finding[] = [];
  for (const rule of rules) {
    if (skip(rule)) continue;
    let messages: string[];
    try {
      if (rule.appliesTo && !rule.appliesTo(input)) continue;
      messages = rule.check(input);
    } catch (e) {
      out.push({ id: rule.id, severity: 'error', source: rule.source, citation: rule.citation, message: `could not check: ${(e as Error).message}` });
      continue;
    }
    for (const message of messages) out.push({ id: rule.id, severity: rule.severity, source: rule.source, citation: rule.citation, message });
  }
  return sortFindings(out);
}

/** Raised when the bytes are not a certificate, CRL or OCSP response at all (nothing to lint). */
export class LintDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LintDecodeError';
  }
}
