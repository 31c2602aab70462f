/**
 * Where http-01 and tls-alpn-01 connect to and how the identifier is named
 * on the wire (RFC 8555 §8.3, RFC 8737 §3, RFC 8738 §§5–6), plus the mapping
 * of socket errors onto ACME error types shared by both validators.
 */
import { isIP } from 'node:net';
import { AcmeError } from '../problems.js';
import type { AcmeIdentifier } from '../../storage/acme-records.js';

/** Removes the brackets around an IPv6 literal ("[::1]" → "::1"). */
export function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** The canonical text form of an IP address (IPv6 compressed, lower case), or null if it is not one. */
export function canonicalIp(value: string): string | null {
  const v = stripBrackets(value.trim());
  const family = isIP(v);
  if (family === 4) return v.split('.').map((p) => String(Number(p))).join('.');
  if (family === 6) {
    try {
      return stripBrackets(new URL(`http://[${v}]/`).hostname);
    } catch {
      return null;
    }
  }
  return null;
}

/** Checks the identifier and returns its value as used on the wire (IP canonicalized, DNS lower-cased). */
export function checkIdentifier(identifier: AcmeIdentifier): string {
  const value = typeof identifier.value === 'string' ? identifier.value.trim() : '';
  if (identifier.type === 'ip') {
    const ip = canonicalIp(value);
    if (!ip || value.startsWith('[')) throw new AcmeError('malformed', `"${identifier.value}" is not a valid IP address identifier`);
    return ip;
  }
  if (identifier.type === 'dns') {
    const name = value.toLowerCase().replace(/\.$/, '');
    if (!name || name.length > 253 || name.startsWith('*.') || isIP(name) !== 0 || !/^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/.test(name)) {
      throw new AcmeError('malformed', `"${identifier.value}" is not a valid DNS identifier`);
    }
    return name;
  }
  throw new AcmeError('malformed', `unsupported identifier type "${String((identifier as { type: unknown }).type)}"`);
}

/** The host part of a URL for the identifier: IPv6 in brackets. */
export function urlHost(value: string): string {
  return isIP(value) === 6 ? `[${value}]` : value;
}

/** The address to open a connection to: the test-only override if set, else the host itself. */
export function connectHost(host: string, connectAddress: string | undefined): string {
  return connectAddress ? stripBrackets(connectAddress.trim()) : stripBrackets(host);
}

/**
 * The reverse-DNS name of an IP address (RFC 8738 §6), used as the TLS SNI
 * for tls-alpn-01: 127.0.0.1 → 1.0.0.127.in-addr.arpa, IPv6 by nibbles under ip6.arpa.
 */
export function reverseDnsName(ip: string): string {
  const v = canonicalIp(ip);
  if (!v) throw new AcmeError('malformed', `"${ip}" is not an IP address`);
  if (isIP(v) === 4) return `${v.split('.').reverse().join('.')}.in-addr.arpa`;
  return `${ipv6Bytes(v).toString('hex').split('').reverse().join('.')}.ip6.arpa`;
}

/** The 16 bytes of a canonical IPv6 address (embedded IPv4 tails allowed). */
export function ipv6Bytes(ip: string): Buffer {
  let text = ip;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail?.[1]) {
    const [a, b, c, d] = tail[1].split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, -tail[1].length) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16);
  }
  const [left = '', right] = text.split('::');
  const l = left ? left.split(':') : [];
  const r = right !== undefined && right !== '' ? right.split(':') : [];
  const groups = right === undefined ? l : [...l, ...Array<string>(8 - l.length - r.length).fill('0'), ...r];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** A short, safe rendering of untrusted text for a problem detail. */
export function quoteSnippet(text: string, max = 64): string {
  const s = text.length > max ? `${text.slice(0, max)}…` : text;
  return JSON.stringify(s);
}

/** Error codes that mean the name itself could not be resolved. */
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA', 'ENODATA']);

/** Maps a socket-level error to an AcmeError of type connection, dns or tls. */
export function networkError(e: unknown, what: string, timeoutSeconds: number, timedOut: boolean): AcmeError {
  if (e instanceof AcmeError) return e;
  const err = e as NodeJS.ErrnoException & { hostname?: string };
  const code = err?.code ?? '';
  if (timedOut || code === 'ABORT_ERR' || err?.name === 'AbortError') {
    return new AcmeError('connection', `${what}: timed out after ${timeoutSeconds}s`);
  }
  if (DNS_CODES.has(code)) return new AcmeError('dns', `${what}: DNS lookup failed for ${err.hostname ?? 'host'} (${code})`);
  if (code === 'ECONNREFUSED') return new AcmeError('connection', `${what}: connection refused`);
  if (code === 'ECONNRESET') return new AcmeError('connection', `${what}: connection reset by peer`);
  if (code === 'ETIMEDOUT') return new AcmeError('connection', `${what}: connection timed out`);
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return new AcmeError('connection', `${what}: host unreachable (${code})`);
  if (code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL') {
    return new AcmeError('tls', `${what}: the server refused the offered ALPN protocol (no_application_protocol alert)`);
  }
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || /SSL|TLS/.test(err?.message ?? '')) {
    const reason = (err as { reason?: unknown }).reason;
    return new AcmeError('tls', `${what}: TLS error: ${typeof reason === 'string' && reason ? reason : err.message}`);
  }
  if (code.startsWith('HPE_')) return new AcmeError('connection', `${what}: invalid HTTP response (${code})`);
  return new AcmeError('connection', `${what}: ${code ? `${code} ` : ''}${err?.message ?? String(e)}`.trim());
}
