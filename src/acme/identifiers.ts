/**
 * Identifiers in new orders (RFC 8555 §7.1.3, RFC 8738): syntax, wildcards,
 * canonical form and de-duplication, before any policy applies.
 */
import { isIP } from 'node:net';
import { canonicalIp, dnsNameProblem } from '../ra/policy.js';
import { AcmeError, type AcmeErrorType } from './problems.js';
import type { AcmeIdentifier } from '../storage/acme-records.js';

export interface IdentifierProblem { type: AcmeErrorType; detail: string; identifier: AcmeIdentifier }

/** Validates and canonicalizes the identifiers of a newOrder payload. */
export function parseOrderIdentifiers(input: unknown, max: number): AcmeIdentifier[] {
  if (!Array.isArray(input) || input.length === 0) throw new AcmeError('malformed', 'identifiers must be a non-empty array');
  if (input.length > max) throw new AcmeError('rejectedIdentifier', `an order may name at most ${max} identifiers, not ${input.length}`);
  const out: AcmeIdentifier[] = [];
  const problems: IdentifierProblem[] = [];
  for (const raw of input) {
    if (typeof raw !== 'object' || raw === null || typeof (raw as { type?: unknown }).type !== 'string' || typeof (raw as { value?: unknown }).value !== 'string') {
      throw new AcmeError('malformed', 'each identifier must be an object with string type and value');
    }
    const { type, value } = raw as { type: string; value: string };
    if (type === 'dns') {
      const name = value.toLowerCase();
      const problem = isIP(value) ? 'is an IP address: use an identifier of type "ip"' : dnsNameProblem(name);
      if (problem) { problems.push({ type: 'rejectedIdentifier', detail: `DNS name "${value}" ${problem}`, identifier: { type: 'dns', value } }); continue; }
      if (!out.some((i) => i.type === 'dns' && i.value === name)) out.push({ type: 'dns', value: name });
    } else if (type === 'ip') {
      const addr = canonicalIp(value);
      if (!addr || value.includes('/')) { problems.push({ type: 'malformed', detail: `"${value}" is not an IP address`, identifier: { type: 'ip', value } }); continue; }
      if (!out.some((i) => i.type === 'ip' && i.value === addr)) out.push({ type: 'ip', value: addr });
    } else {
      problems.push({ type: 'unsupportedIdentifier', detail: `identifier type "${type}" is not supported (dns, ip)`, identifier: { type: type as 'dns', value } });
    }
  }
  if (problems.length === 1) throw new AcmeError(problems[0]!.type, problems[0]!.detail, { subproblems: problems });
  if (problems.length > 1) throw new AcmeError('rejectedIdentifier', `${problems.length} identifiers were refused`, { subproblems: problems });
  return out;
}

/** Splits "*.example.com" into the authorized name and the wildcard flag. */
export function authzTarget(id: AcmeIdentifier): { identifier: AcmeIdentifier; wildcard: boolean } {
  if (id.type === 'dns' && id.value.startsWith('*.')) return { identifier: { type: 'dns', value: id.value.slice(2) }, wildcard: true };
  return { identifier: id, wildcard: false };
}

/** Reverse-DNS name of an IP address (RFC 8738 §6: tls-alpn-01 SNI for IP identifiers). */
export function reverseName(ip: string): string {
  if (isIP(ip) === 4) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  const full = canonicalExpandedV6(ip);
  return `${full.split('').reverse().join('.')}.ip6.arpa`;
}

function canonicalExpandedV6(ip: string): string {
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail !== undefined ? Array(8 - h.length - t.length).fill('0') : [];
  return [...h, ...fill, ...t].map((g) => g.padStart(4, '0')).join('');
}
