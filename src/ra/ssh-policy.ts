/**
 * SSH profile policy: what a request may get under a profile (issue 21).
 * Pure checks; every refusal is a RampartError with a clear message (4xx)
 * and happens before anything is signed or stored.
 */
import type { Actor } from '../core/actor.js';
import { RampartError } from '../core/errors.js';
import type { SshProfile } from '../config/ssh-config.js';
import { SSH_CRITICAL_OPTIONS, SSH_EXTENSIONS, type SshCriticalOption, type SshExtension } from '../pki/ssh/ssh-certificate.js';

export interface SshRequest {
  publicKey: string;
  type: string;
  profile: string;
  principals: string[];
  keyId?: string;
  validitySeconds?: number;
  criticalOptions?: Record<string, string>;
  extensions?: string[];
}

export interface SshDecision {
  principals: string[];
  validitySeconds: number;
  criticalOptions: Partial<Record<SshCriticalOption, string>>;
  extensions: SshExtension[];
}

const refuse = (rule: string, message: string, profile: string): RampartError => new RampartError('policyViolation', message, { rule, profile });

/** The principals `actor` may ask for under `p` ("*" in the list: any). */
export function allowedPrincipals(p: SshProfile, actor: Actor): { any: boolean; names: Set<string> } {
  const keys = ['*', `role:${actor.role}`, actor.id];
  const names = new Set<string>();
  let any = false;
  for (const k of keys) {
    for (const v of p.principals[k] ?? []) {
      if (v === '*') any = true;
      else names.add(v);
    }
  }
  return { any, names };
}

const CIDR = /^(!?)([0-9a-fA-F:.]+)(\/[0-9]{1,3})?$/;

export function checkSshRequest(name: string, p: SshProfile, req: SshRequest, actor: Actor): SshDecision {
  if (req.type !== p.type) throw new RampartError('malformed', `profile "${name}" issues ${p.type} certificates, not ${req.type}`);
  const principals = [...new Set(req.principals)];
  if (principals.length === 0) throw new RampartError('malformed', 'name at least one principal (an empty list would make the certificate valid for any user or host)');
  const allowed = allowedPrincipals(p, actor);
  const denied = principals.filter((x) => !allowed.any && !allowed.names.has(x));
  if (denied.length) {
    throw refuse('principals', `${actor.id} may not ask for principal${denied.length > 1 ? 's' : ''} ${denied.join(', ')} under profile "${name}"${allowed.names.size ? ` (allowed: ${[...allowed.names].join(', ')})` : ' (no principals are allowed for this requester)'}`, name);
  }
  const validitySeconds = req.validitySeconds ?? Math.min(p.defaultValiditySeconds ?? 8 * 3600, p.maxValiditySeconds);
  if (validitySeconds > p.maxValiditySeconds) throw refuse('maxValidity', `validity ${validitySeconds} s exceeds the maximum of profile "${name}" (${p.maxValiditySeconds} s)`, name);
  const criticalOptions: SshDecision['criticalOptions'] = {};
  for (const [k, v] of Object.entries(req.criticalOptions ?? {})) {
    if (!(SSH_CRITICAL_OPTIONS as readonly string[]).includes(k)) throw new RampartError('malformed', `unknown critical option "${k}" (known: ${SSH_CRITICAL_OPTIONS.join(', ')})`);
    if (p.type === 'host') throw new RampartError('malformed', 'host certificates carry no critical options');
    if (!p.criticalOptions.includes(k as SshCriticalOption)) throw refuse('criticalOptions', `profile "${name}" does not allow the critical option ${k}`, name);
    if (k === 'source-address' && !v.split(',').every((c) => CIDR.test(c.trim()))) throw new RampartError('malformed', `source-address "${v}" is not a comma-separated list of addresses or CIDR blocks`);
    if (k === 'force-command' && (!v || /[\0\n]/.test(v))) throw new RampartError('malformed', 'force-command must be one non-empty line');
    criticalOptions[k as SshCriticalOption] = v;
  }
  let extensions: SshExtension[] = [];
  if (p.type === 'user') {
    for (const e of req.extensions ?? []) {
      if (!(SSH_EXTENSIONS as readonly string[]).includes(e)) throw new RampartError('malformed', `unknown extension "${e}" (known: ${SSH_EXTENSIONS.join(', ')})`);
      if (!p.extensions.includes(e as SshExtension)) throw refuse('extensions', `profile "${name}" does not allow the extension ${e}`, name);
    }
    extensions = req.extensions ? [...new Set(req.extensions)] as SshExtension[] : [...p.defaultExtensions];
  } else if (req.extensions?.length) {
    throw new RampartError('malformed', 'host certificates carry no extensions');
  }
  return { principals, validitySeconds, criticalOptions, extensions };
}
