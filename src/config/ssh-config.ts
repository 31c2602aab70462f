/**
 * Configuration of the SSH certificate authority (`ssh` in the config file,
 * issue 21). SSH CAs themselves are created by an operator (`rampart ssh ca
 * create`); profiles say what may be issued under them: which principals each
 * requester may ask for, how long a certificate may live, and which critical
 * options and extensions it may carry. Nobody may ask for any principal until
 * `principals` names them (secure by default).
 */
import { z } from 'zod';

export const SSH_CRITICAL_OPTION_NAMES = ['force-command', 'source-address', 'verify-required'] as const;
export const SSH_EXTENSION_NAMES = ['no-touch-required', 'permit-X11-forwarding', 'permit-agent-forwarding', 'permit-port-forwarding', 'permit-pty', 'permit-user-rc'] as const;

const caName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: 'must be 1-63 of a-z 0-9 -, starting with a letter or digit' });
const principal = z.string().min(1).max(255).regex(/^[^\s,*?]+$|^\*$/, { message: 'a principal has no spaces, commas or wildcards ("*" alone means any)' });
const requesterKey = z.string().regex(/^(\*|role:[a-z]+|token:[A-Za-z0-9_-]{1,64}|operator:[A-Za-z0-9._@-]{1,64})$/, {
  message: 'must be "*", "role:<role>", "token:<token id>" or "operator:<name>"',
});

export const sshProfileSchema = z.strictObject({
  type: z.enum(['user', 'host']).describe('Certificate type this profile issues.'),
  ca: caName.describe('Name of the SSH CA that signs (created with `rampart ssh ca create <name> --type user|host`).'),
  maxValiditySeconds: z.number().int().min(60).max(5 * 366 * 86_400).default(86_400).describe('Longest lifetime a request may ask for.'),
  defaultValiditySeconds: z.number().int().min(60).max(5 * 366 * 86_400).optional().describe('Lifetime when the request names none. Default: 8 hours, or maxValiditySeconds when that is shorter.'),
  principals: z.record(requesterKey, z.array(principal).max(1000)).default({})
    .describe('Which principals (user names, host names) each requester may ask for: keys "*", "role:<role>", "token:<id>", "operator:<name>"; the value "*" allows any. Empty: no one may ask for any.'),
  criticalOptions: z.array(z.enum(SSH_CRITICAL_OPTION_NAMES)).default(['force-command', 'source-address']).describe('Critical options a request may set (user certificates).'),
  extensions: z.array(z.enum(SSH_EXTENSION_NAMES)).default([...SSH_EXTENSION_NAMES]).describe('Extensions a request may ask for (user certificates).'),
  defaultExtensions: z.array(z.enum(SSH_EXTENSION_NAMES)).default(['permit-pty', 'permit-agent-forwarding', 'permit-port-forwarding', 'permit-X11-forwarding', 'permit-user-rc'])
    .describe('Extensions of a user certificate whose request names none (as ssh-keygen -s does).'),
}).superRefine((p, ctx) => {
  if (p.defaultValiditySeconds !== undefined && p.defaultValiditySeconds > p.maxValiditySeconds) ctx.addIssue({ code: 'custom', path: ['defaultValiditySeconds'], message: `must not exceed maxValiditySeconds (${p.maxValiditySeconds})` });
  const extra = p.defaultExtensions.filter((e) => !p.extensions.includes(e));
  if (extra.length) ctx.addIssue({ code: 'custom', path: ['defaultExtensions'], message: `${extra.join(', ')} is not among the allowed extensions` });
});

export type SshProfile = z.output<typeof sshProfileSchema>;

export const sshSchema = z.strictObject({
  profiles: z.record(z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/), sshProfileSchema).default({})
    .describe('SSH certificate profiles by name (POST /api/v1/ssh/certificates names one).'),
  knownHostsPatterns: z.array(z.string().min(1).max(253).regex(/^[^\s,]+$/)).min(1).default(['*'])
    .describe('Host patterns of the @cert-authority known_hosts line served for host CAs (GET /ssh/<ca>.known_hosts).'),
}).describe('SSH certificate authority: user and host certificates, KRLs (docs/runbooks/ssh-certificates.md).');
