/**
 * The DNS provider interface used by cross-region failover
 * (`rampart failover region --to B`): after the new region has taken over,
 * the service name is pointed at it through one of these providers (a JSON
 * file, an external command, Route 53; see create-dns-provider.ts).
 *
 * Also the checks every provider runs on a change before touching anything,
 * so that a bad change is refused with a clear message and nothing is written.
 */
import { isIP } from 'node:net';

import { DNS_RECORD_TYPES, DNS_TTL_MAX, DNS_TTL_MIN, isDnsName, type DnsRecordType } from '../../config/dns-config.js';

export { DNS_RECORD_TYPES, DNS_TTL_MAX, DNS_TTL_MIN, isDnsName, type DnsRecordType };

/** One record set to put in place: `name` `type` → `targets`, with the region and why. */
export interface DnsChange {
  name: string;
  type: DnsRecordType;
  ttl: number;
  targets: string[];
  /** The region the name now points at. */
  region: string;
  /** Why (e.g. "failover from eu-west to eu-central by alice"). */
  reason: string;
}

export interface DnsUpdateResult {
  /** The provider's kind ('file', 'exec', 'route53'). */
  provider: string;
  name: string;
  /** The record's values before the change, null when there was none or it is unknown. */
  previous: string[] | null;
  targets: string[];
  /** What the provider did, for the operator (change id, command output, file). */
  detail: string;
}

export interface DnsProvider {
  readonly kind: string;
  /** The values of the record `name` `type` now, null when there is none or the provider cannot tell. */
  current(name: string, type: DnsChange['type']): Promise<string[] | null>;
  /** Puts the record set in place (create or replace); throws when it could not. */
  update(change: DnsChange): Promise<DnsUpdateResult>;
}

const MAX_REGION = 64;
const MAX_REASON = 1024;


/** Lower case, without the trailing dot: the form names are compared (and stored by the file provider) in. */
export function normalizeDnsName(name: string): string {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  return n.toLowerCase();
}

/** The fully qualified form with a trailing dot (as Route 53 returns names). */
export function fqdn(name: string): string {
  return `${normalizeDnsName(name)}.`;
}

/**
 * Throws an Error saying what is wrong when `change` is not a valid change:
 * name a DNS name; type A, AAAA or CNAME; ttl an integer 1..86400; targets
 * non-empty and without duplicates, IPv4 addresses for A, IPv6 addresses for
 * AAAA, exactly one host name for CNAME; region and reason strings without
 * control characters.
 */
export function validateDnsChange(change: DnsChange): void {
  const where = `DNS change for ${JSON.stringify(change?.name)}`;
  if (change === null || typeof change !== 'object') throw new Error('DNS change must be an object');
  if (typeof change.name !== 'string' || !isDnsName(change.name)) {
    throw new Error(`DNS change: name ${JSON.stringify(change.name)} is not a DNS name (e.g. ca.example.com, trailing dot optional)`);
  }
  if (isIP(stripDot(change.name)) !== 0) throw new Error(`${where}: the name must be a DNS name, not an IP address`);
  if (!(DNS_RECORD_TYPES as readonly string[]).includes(change.type)) {
    throw new Error(`${where}: type ${JSON.stringify(change.type)} is not supported (A, AAAA or CNAME)`);
  }
  if (!Number.isInteger(change.ttl) || change.ttl < DNS_TTL_MIN || change.ttl > DNS_TTL_MAX) {
    throw new Error(`${where}: ttl ${JSON.stringify(change.ttl)} must be an integer from ${DNS_TTL_MIN} to ${DNS_TTL_MAX} seconds`);
  }
  if (!Array.isArray(change.targets) || change.targets.length === 0) {
    throw new Error(`${where}: targets must list at least one ${change.type === 'CNAME' ? 'host name' : 'address'}`);
  }
  for (const t of change.targets) {
    if (typeof t !== 'string') throw new Error(`${where}: target ${JSON.stringify(t)} is not a string`);
  }
  switch (change.type) {
    case 'A':
      for (const t of change.targets) {
        if (isIP(t) !== 4) throw new Error(`${where}: A record target ${JSON.stringify(t)} is not an IPv4 address`);
      }
      break;
    case 'AAAA':
      for (const t of change.targets) {
        if (isIP(t) !== 6 || t.includes('%')) throw new Error(`${where}: AAAA record target ${JSON.stringify(t)} is not an IPv6 address`);
      }
      break;
    case 'CNAME': {
      if (change.targets.length !== 1) {
        throw new Error(`${where}: a CNAME record has exactly one target, got ${change.targets.length}`);
      }
      const t = change.targets[0]!;
      if (isIP(stripDot(t)) !== 0 || !isDnsName(t)) {
        throw new Error(`${where}: CNAME target ${JSON.stringify(t)} is not a host name`);
      }
      if (normalizeDnsName(t) === normalizeDnsName(change.name)) {
        throw new Error(`${where}: a CNAME record cannot point at its own name`);
      }
      break;
    }
  }
  const seen = new Set(change.targets.map((t) => t.toLowerCase()));
  if (seen.size !== change.targets.length) throw new Error(`${where}: targets contain duplicates: ${change.targets.join(', ')}`);
  checkText(where, 'region', change.region, MAX_REGION, true);
  checkText(where, 'reason', change.reason, MAX_REASON, false);
}

function stripDot(s: string): string {
  return s.endsWith('.') ? s.slice(0, -1) : s;
}

function checkText(where: string, field: string, v: unknown, max: number, required: boolean): void {
  if (typeof v !== 'string') throw new Error(`${where}: ${field} must be a string`);
  if (required && v.trim() === '') throw new Error(`${where}: ${field} must not be empty`);
  if (v.length > max) throw new Error(`${where}: ${field} is longer than ${max} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v)) throw new Error(`${where}: ${field} must not contain control characters (newlines included)`);
}
