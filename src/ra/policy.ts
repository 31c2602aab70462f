/**
 * The certificate profile policy engine: a pure function from (profile, CSR,
 * request options) to the final, normalized names and lifetime, or a
 * RampartError('policyViolation') naming the rule that refused.
 *
 * Name patterns (case-insensitive, matched label by label):
 *   '*'               any name
 *   '*.example.com'   exactly one extra label (also the literal '*.example.com')
 *   '**.example.com'  one or more extra labels, any depth
 *   'web-*.example.com', 'db?.example.com'
 *                     '*' / '?' inside a label match any run / one character of
 *                     that label only (never a dot)
 *   anything else     that exact name
 * Denied patterns are checked first and win. A wildcard name is denied when
 * any name it would cover is denied.
 */
import { BlockList, isIP } from 'node:net';
import { domainToUnicode } from 'node:url';
import { RampartError } from '../core/errors.js';
import type { ParsedCsr } from '../pki/csr.js';

export interface ProfilePolicy {
  description: string;
  allowedNames: string[];
  deniedNames: string[];
  allowIpSans: boolean;
  /** CIDR ranges (IPv4 and IPv6) IP SANs must fall into. */
  allowedIpRanges: string[];
  maxValidityDays: number;
  defaultValidityDays: number;
  keyTypes: {
    ecdsa: { allowed: boolean; curves: ('P-256' | 'P-384')[] };
    rsa: { allowed: boolean; minBits: number };
  };
  /** Extended key usage names (keys of EKU_OIDS), e.g. 'serverAuth'. */
  ekus: string[];
  requireSan: boolean;
  maxSans: number;
  /** Whether email (rfc822Name) SANs may be requested (their domain must match allowedNames). */
  allowEmailSans?: boolean;
  /** Key usage names; default digitalSignature (+ keyEncipherment for RSA keys). */
  keyUsages?: string[];
  /** certificatePolicies OIDs. */
  policies?: string[];
  /** What of the CSR subject reaches the certificate (see config/schema.ts profileSchema.subject). */
  subject?: SubjectPolicy;
}

export interface SubjectPolicy {
  allowedAttributes: string[];
  otherAttributes: 'drop' | 'refuse';
  commonName: 'san' | 'keep' | 'drop';
  commonNameNotInSans: 'refuse' | 'add';
}

/** Subject policy of a profile that does not state one: the TLS server rules. */
export const DEFAULT_SUBJECT_POLICY: SubjectPolicy = { allowedAttributes: [], otherAttributes: 'drop', commonName: 'san', commonNameNotInSans: 'refuse' };

/** Short names of subject attribute OIDs (the names profiles use). */
export const SUBJECT_ATTRIBUTE_OIDS: Record<string, string> = {
  CN: '2.5.4.3', C: '2.5.4.6', L: '2.5.4.7', ST: '2.5.4.8', street: '2.5.4.9', O: '2.5.4.10', OU: '2.5.4.11', title: '2.5.4.12',
  postalCode: '2.5.4.17', serialNumber: '2.5.4.5', SN: '2.5.4.4', GN: '2.5.4.42', emailAddress: '1.2.840.113549.1.9.1',
  DC: '0.9.2342.19200300.100.1.25', UID: '0.9.2342.19200300.100.1.1',
};
const NAME_OF_OID = new Map(Object.entries(SUBJECT_ATTRIBUTE_OIDS).map(([k, v]) => [v, k]));

export type PolicyRule =
  | 'allowedNames' | 'deniedNames' | 'ipSans' | 'allowedIpRanges' | 'maxValidityDays' | 'keyType'
  | 'rsaMinBits' | 'ecdsaCurve' | 'requireSan' | 'maxSans' | 'dnsSyntax' | 'sanType' | 'subjectAttribute' | 'commonName' | 'emailSyntax';

export interface PolicyRequest {
  csr: ParsedCsr;
  /** Names requested in the API body, in addition to the CSR's. */
  sans?: { dns?: string[]; ip?: string[] };
  validityDays?: number;
  /**
   * The names were validated (ACME): the subject carries the commonName at
   * most, whatever the profile lets through over REST.
   */
  validatedNamesOnly?: boolean;
}

export interface PolicyDecision {
  dns: string[];
  ip: string[];
  email: string[];
  validityDays: number;
  /** EKU names from the profile. */
  ekus: string[];
  /** The subject: OIDs of the CSR attributes kept (in CSR order), and the commonName (if any). */
  subject: { keep: string[]; commonName?: string };
  /** Subject attributes dropped from the CSR (their short names or OIDs), for the audit entry. */
  dropped: string[];
}

function violation(rule: PolicyRule, profile: string, message: string, name?: string): RampartError {
  const extra: Record<string, unknown> = { rule, profile };
  if (name !== undefined) extra.name = name;
  return new RampartError('policyViolation', `profile "${profile}": ${message}`, extra);
}

/** What the CSR's subject asks for is not acceptable: a 400 naming the attribute (the requester can fix the CSR). */
function subjectViolation(rule: PolicyRule, profile: string, message: string, name: string): RampartError {
  return new RampartError('badCsr', `profile "${profile}": ${message}`, { rule, profile, name });
}

// ---------------------------------------------------------------- DNS names

const LABEL_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Why `name` is not an acceptable DNS SAN, or undefined when it is. Expects
 * LDH labels (1..63 characters, total <= 253), an optional leading '*.'
 * wildcard label over at least two labels, ASCII only (IDNs as punycode),
 * no trailing dot and no all-numeric last label.
 */
export function dnsNameProblem(name: string): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'is empty';
  if (name.length > 253) return 'is longer than 253 characters';
  if (/[^\x21-\x7e]/.test(name)) return 'contains non-ASCII or whitespace characters (IDNs must be given as punycode, xn--...)';
  if (name.endsWith('.')) return 'must not end with a dot';
  const labels = name.toLowerCase().split('.');
  const wildcard = labels[0] === '*';
  const rest = wildcard ? labels.slice(1) : labels;
  if (wildcard && rest.length < 2) return 'wildcard must cover at least two labels (e.g. *.example.com)';
  for (const label of rest) {
    if (label.length === 0) return 'has an empty label';
    if (label.length > 63) return `has a label longer than 63 characters ("${label.slice(0, 20)}...")`;
    if (label.includes('*')) return "may only use '*' as the whole first label";
    if (label.includes('_')) return 'contains an underscore';
    if (!LABEL_RE.test(label)) return `has an invalid label "${label}" (letters, digits and inner hyphens only)`;
    if (label.startsWith('xn--') && domainToUnicode(label) === '') return `has an invalid punycode label "${label}"`;
  }
  if (/^[0-9]+$/.test(rest[rest.length - 1]!)) return 'has an all-numeric top-level label (IP addresses go in IP SANs)';
  return undefined;
}

/** A CN that should be treated as a DNS name: dotted and free of spaces or URL/email punctuation, or 'localhost'. */
function looksLikeHostname(cn: string): boolean {
  return cn.toLowerCase() === 'localhost' || /^[^\s@/:,;=]+\.[^\s@/:,;=]*$/.test(cn);
}

// ---------------------------------------------------------------- patterns

const labelRegexCache = new Map<string, RegExp>();

function labelMatches(patternLabel: string, label: string): boolean {
  if (patternLabel === '*') return true;
  if (!/[*?]/.test(patternLabel)) return patternLabel === label;
  let re = labelRegexCache.get(patternLabel);
  if (!re) {
    const src = patternLabel.replace(/[.+^${}()|[\]\\-]/g, '\\$&').replace(/\*/g, '[^.]*').replace(/\?/g, '[^.]');
    re = new RegExp(`^${src}$`);
    labelRegexCache.set(patternLabel, re);
  }
  return re.test(label);
}

/**
 * Whether `pattern` matches `name` (both case-insensitive). With
 * `wildcardCovers`, a leading '*' label of the name stands for every label it
 * could cover, so the answer is "does the pattern match any name the wildcard
 * certificate would be valid for" (used for denied patterns).
 */
export function matchesNamePattern(pattern: string, name: string, wildcardCovers = false): boolean {
  const p = pattern.toLowerCase().split('.');
  const n = name.toLowerCase().split('.');
  if (p.length === 1 && p[0] === '*') return true;
  const nameIsWild = wildcardCovers && n[0] === '*';
  if (p[0] === '**') {
    const suffix = p.slice(1);
    if (n.length <= suffix.length) return false;
    const tail = n.slice(n.length - suffix.length);
    return suffix.every((l, i) => labelMatches(l, tail[i]!));
  }
  if (p.length !== n.length) return false;
  return p.every((l, i) => (i === 0 && nameIsWild) || labelMatches(l, n[i]!));
}

// ---------------------------------------------------------------- IPs

/** Canonical text form of an IP address (RFC 5952 for IPv6), or undefined when it is not one. */
export function canonicalIp(ip: string): string | undefined {
  if (typeof ip !== 'string') return undefined;
  const family = isIP(ip);
  if (family === 4) return ip.split('.').map((o) => String(Number(o))).join('.');
  if (family === 6 && !ip.includes('%')) return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  return undefined;
}

/**
 * One BlockList per address family: node's BlockList on its own would let an
 * IPv6 range such as '::/0' match IPv4 addresses (through ::ffff:0:0/96) and
 * IPv4 ranges match IPv4-mapped IPv6 addresses.
 */
function ipRanges(cidrs: string[]): { v4: BlockList; v6: BlockList } {
  const lists = { v4: new BlockList(), v6: new BlockList() };
  for (const cidr of cidrs) {
    const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
    const family = m ? isIP(m[1]!) : 0;
    if (!m || family === 0) throw new Error(`invalid CIDR range in profile: "${cidr}"`);
    if (family === 4) lists.v4.addSubnet(m[1]!, Number(m[2]), 'ipv4');
    else lists.v6.addSubnet(m[1]!, Number(m[2]), 'ipv6');
  }
  return lists;
}

// ---------------------------------------------------------------- checks

function checkKey(profile: string, policy: ProfilePolicy, key: ParsedCsr['key']): void {
  const kt = policy.keyTypes;
  if (key.type === 'ecdsa') {
    if (!kt.ecdsa.allowed) throw violation('keyType', profile, 'ECDSA keys are not allowed');
    if (!(kt.ecdsa.curves as string[]).includes(key.curve)) {
      throw violation('ecdsaCurve', profile, `ECDSA curve ${key.curve} is not allowed (allowed: ${kt.ecdsa.curves.join(', ') || 'none'})`);
    }
  } else if (key.type === 'rsa') {
    if (!kt.rsa.allowed) throw violation('keyType', profile, 'RSA keys are not allowed');
    if (key.bits < kt.rsa.minBits) throw violation('rsaMinBits', profile, `RSA key has ${key.bits} bits; at least ${kt.rsa.minBits} required`);
  } else {
    throw violation('keyType', profile, `key algorithm ${key.oid} is not allowed (allowed: ${allowedKeyTypes(policy)})`);
  }
}

function allowedKeyTypes(policy: ProfilePolicy): string {
  const out: string[] = [];
  if (policy.keyTypes.ecdsa.allowed) out.push(`ECDSA ${policy.keyTypes.ecdsa.curves.join('/')}`);
  if (policy.keyTypes.rsa.allowed) out.push(`RSA >= ${policy.keyTypes.rsa.minBits}`);
  return out.join(', ') || 'none';
}

function checkValidity(profile: string, policy: ProfilePolicy, requested: number | undefined): number {
  const days = requested ?? policy.defaultValidityDays;
  if (!Number.isInteger(days) || days < 1 || days > policy.maxValidityDays) {
    throw violation('maxValidityDays', profile,
      `validity of ${String(days)} days is not allowed (must be a whole number of days from 1 to ${policy.maxValidityDays})`);
  }
  return days;
}

function addUnique(list: string[], value: string): void {
  if (!list.includes(value)) list.push(value);
}

function checkDnsName(profile: string, policy: ProfilePolicy, name: string): void {
  for (const pattern of policy.deniedNames) {
    if (matchesNamePattern(pattern, name, true)) {
      throw violation('deniedNames', profile, `name "${name}" is denied (pattern "${pattern}")`, name);
    }
  }
  if (!policy.allowedNames.some((pattern) => matchesNamePattern(pattern, name))) {
    throw violation('allowedNames', profile, `name "${name}" is not allowed (allowed: ${policy.allowedNames.join(', ') || 'none'})`, name);
  }
}

/**
 * Checks one name or address against a profile before any CSR exists (ACME
 * newOrder): the same syntax, allow/deny and IP range rules as checkRequest.
 * Throws RampartError('policyViolation') like checkRequest.
 */
export function checkIdentifier(profileName: string, policy: ProfilePolicy, id: { type: 'dns' | 'ip'; value: string }): void {
  if (id.type === 'dns') {
    const problem = dnsNameProblem(id.value);
    if (problem) throw violation('dnsSyntax', profileName, `DNS name "${id.value}" ${problem}`, id.value);
    checkDnsName(profileName, policy, id.value.toLowerCase());
    return;
  }
  const addr = canonicalIp(id.value);
  if (!addr) throw violation('ipSans', profileName, `"${id.value}" is not a valid IP address`, id.value);
  if (!policy.allowIpSans) throw violation('ipSans', profileName, 'IP address subjectAltNames are not allowed', addr);
  const ranges = ipRanges(policy.allowedIpRanges);
  const inRange = isIP(addr) === 4 ? ranges.v4.check(addr, 'ipv4') : ranges.v6.check(addr, 'ipv6');
  if (!inRange) {
    throw violation('allowedIpRanges', profileName, `IP address ${addr} is outside the allowed ranges (${policy.allowedIpRanges.join(', ') || 'none'})`, addr);
  }
}

/**
 * Applies a profile to a request. Returns the final subjectAltNames
 * (lower-case, de-duplicated DNS names; canonical IPs; email addresses), the
 * subject (what of the CSR's subject is kept, per the profile's subject
 * policy), the lifetime and the EKU names, or throws
 * RampartError('policyViolation', ..., { rule, profile, name? }).
 * Requested EKUs in the CSR are ignored: the profile decides.
 */
export function checkRequest(profileName: string, policy: ProfilePolicy, req: PolicyRequest): PolicyDecision {
  const { csr } = req;
  checkKey(profileName, policy, csr.key);
  const validityDays = checkValidity(profileName, policy, req.validityDays);
  const sp = policy.subject ?? DEFAULT_SUBJECT_POLICY;

  if (csr.san.email.length && !policy.allowEmailSans) {
    throw violation('sanType', profileName, 'email (rfc822Name) subjectAltNames are not allowed by this profile', csr.san.email[0]);
  }
  if (csr.san.uri.length) {
    throw violation('sanType', profileName, 'URI subjectAltNames are not supported', csr.san.uri[0]);
  }

  const dnsIn = [...csr.san.dns, ...(req.sans?.dns ?? [])];
  const ipIn = [...csr.san.ip, ...(req.sans?.ip ?? [])];

  const dns: string[] = [];
  for (const name of dnsIn) {
    const problem = dnsNameProblem(name);
    if (problem) throw violation('dnsSyntax', profileName, `DNS name "${String(name)}" ${problem}`, String(name));
    addUnique(dns, name.toLowerCase());
  }
  const ip: string[] = [];
  for (const addr of ipIn) {
    const canonical = canonicalIp(addr);
    if (!canonical) throw violation('ipSans', profileName, `"${String(addr)}" is not a valid IP address`, String(addr));
    addUnique(ip, canonical);
  }
  const email: string[] = [];
  for (const addr of csr.san.email) {
    const problem = emailProblem(addr);
    if (problem) throw violation('emailSyntax', profileName, `email address "${String(addr)}" ${problem}`, String(addr));
    addUnique(email, addr.replace(/@.*$/, (d) => d.toLowerCase()));
  }

  // The commonName (CA/B BR 7.1.4.3: when present, one of the SANs).
  let commonName: string | undefined;
  const cn = csr.commonName;
  if (cn !== undefined && sp.commonName === 'keep' && !req.validatedNamesOnly) {
    commonName = cn;
  } else if (cn !== undefined && sp.commonName !== 'drop') {
    const asIp = canonicalIp(cn);
    const asDns = asIp ? undefined : cn.toLowerCase();
    const inSans = asIp ? ip.includes(asIp) : dns.includes(asDns!);
    if (inSans) {
      commonName = cn;
    } else if (sp.commonNameNotInSans === 'add' && (asIp || looksLikeHostname(cn))) {
      if (asIp) ip.push(asIp);
      else {
        const problem = dnsNameProblem(cn);
        if (problem) throw violation('dnsSyntax', profileName, `DNS name "${cn}" ${problem}`, cn);
        dns.push(asDns!);
      }
      commonName = cn;
    } else {
      throw subjectViolation('commonName', profileName,
        `commonName "${cn}" is not one of the certificate's subjectAltNames (${[...dns, ...ip].join(', ') || 'none'}): put it in the subjectAltName too, or leave the commonName out`, cn);
    }
  }

  // Other subject attributes: only what the profile lets through, and never over ACME.
  const allowed = new Set((req.validatedNamesOnly ? [] : sp.allowedAttributes).map((n) => SUBJECT_ATTRIBUTE_OIDS[n] ?? n));
  const keep: string[] = [];
  const dropped: string[] = [];
  for (const type of csr.subjectTypes ?? csr.subjectName.flatMap((rdn) => rdn.map((atv) => atv.type))) {
    if (type === SUBJECT_ATTRIBUTE_OIDS.CN) continue;
    const label = NAME_OF_OID.get(type) ?? type;
    if (allowed.has(type)) { addUnique(keep, type); continue; }
    if (sp.otherAttributes === 'refuse' && !req.validatedNamesOnly) {
      throw subjectViolation('subjectAttribute', profileName,
        `subject attribute ${label} is not allowed (allowed: ${sp.allowedAttributes.join(', ') || 'none besides commonName'})`, label);
    }
    addUnique(dropped, label);
  }
  if (cn !== undefined && commonName === undefined) addUnique(dropped, 'CN');

  const total = dns.length + ip.length + email.length;
  if (total === 0 && (policy.requireSan || (keep.length === 0 && commonName === undefined))) {
    throw violation('requireSan', profileName, policy.requireSan
      ? 'at least one DNS or IP subjectAltName is required (a commonName that is not a hostname does not count)'
      : 'the request names nothing: empty subject and no subjectAltName');
  }
  if (total > policy.maxSans) {
    throw violation('maxSans', profileName, `${total} subjectAltNames requested; at most ${policy.maxSans} allowed`);
  }

  for (const name of dns) checkDnsName(profileName, policy, name);
  for (const addr of email) checkDnsName(profileName, policy, addr.slice(addr.lastIndexOf('@') + 1).toLowerCase());

  if (ip.length) {
    if (!policy.allowIpSans) throw violation('ipSans', profileName, 'IP address subjectAltNames are not allowed', ip[0]);
    const ranges = ipRanges(policy.allowedIpRanges);
    for (const addr of ip) {
      const inRange = isIP(addr) === 4 ? ranges.v4.check(addr, 'ipv4') : ranges.v6.check(addr, 'ipv6');
      if (!inRange) {
        throw violation('allowedIpRanges', profileName,
          `IP address ${addr} is outside the allowed ranges (${policy.allowedIpRanges.join(', ') || 'none'})`, addr);
      }
    }
  }

  return {
    dns, ip, email, validityDays, ekus: [...policy.ekus],
    subject: commonName === undefined ? { keep } : { keep, commonName },
    dropped,
  };
}

/** Why `addr` is not an acceptable email SAN (local@domain, ASCII, the domain a DNS name), or undefined. */
function emailProblem(addr: string): string | undefined {
  if (typeof addr !== 'string' || addr.length === 0) return 'is empty';
  if (addr.length > 254) return 'is longer than 254 characters';
  const at = addr.lastIndexOf('@');
  if (at < 1 || at === addr.length - 1) return 'is not local@domain';
  if (/[^\x21-\x7e]/.test(addr)) return 'contains non-ASCII or whitespace characters';
  const d = dnsNameProblem(addr.slice(at + 1));
  return d ? `has a domain that ${d}` : undefined;
}
