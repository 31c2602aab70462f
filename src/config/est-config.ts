/**
 * Configuration of EST (RFC 7030) on the HTTPS listener (`est` in the config
 * file; env e.g. RAMPART_EST__PROFILE=client). Enrollment is authenticated
 * by an API token over HTTP basic auth, re-enrollment by the certificate
 * being renewed (mutual TLS); each label of /.well-known/est/<label>/ maps to
 * a certificate profile, the path without a label to `profile`.
 */
import { z } from 'zod';

/** RFC 7030 3.2.2 operation names: a label must not look like one. */
export const EST_OPERATIONS = ['cacerts', 'simpleenroll', 'simplereenroll', 'csrattrs', 'serverkeygen', 'fullcmc'] as const;

const label = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, { message: 'EST labels are 1-63 letters, digits, . _ - (one path segment)' })
  .refine((s) => !(EST_OPERATIONS as readonly string[]).includes(s), { message: `an EST label must not be an operation name (${EST_OPERATIONS.join(', ')})` });

export const estSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Serve EST (RFC 7030) under /.well-known/est on the HTTPS listener.'),
  profile: z.string().min(1).max(63).optional()
    .describe("Certificate profile of /.well-known/est/<operation> (no label). Default: 'client' while that profile exists; else only labels are served."),
  labels: z.record(label, z.string().min(1).max(63)).default({})
    .describe('Optional labels: /.well-known/est/<label>/<operation> issues under the profile named here (label: profile).'),
  reenroll: z.boolean().default(true).describe('Accept simplereenroll: a client renews the certificate it presents over mutual TLS (same subject and SANs, same profile).'),
}).describe('EST enrollment (RFC 7030).');

export type EstConfig = z.output<typeof estSchema>;

export const EST_DEFAULT_PROFILE = 'client';

/** The profile of the paths without a label: est.profile, else 'client' when it is configured, else none (404). */
export function estDefaultProfile(c: EstConfig, profiles: Record<string, unknown>): string | null {
  return c.profile ?? (Object.prototype.hasOwnProperty.call(profiles, EST_DEFAULT_PROFILE) ? EST_DEFAULT_PROFILE : null);
}

/** The profiles an EST configuration names (the default and every label's), for validation against `profiles`. */
export function estProfileRefs(c: EstConfig): Array<{ path: (string | number)[]; profile: string }> {
  return [
    ...(c.profile === undefined ? [] : [{ path: ['est', 'profile'], profile: c.profile }]),
    ...Object.entries(c.labels).map(([l, p]) => ({ path: ['est', 'labels', l], profile: p })),
  ];
}
