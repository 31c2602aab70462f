/**
 * What the synthetic inventory's certificate number `index` looks like,
 * decided only by (seed, count, index): its serial, names, validity, key and
 * whether and how it was revoked. Same seed and count, same inventory, on
 * any number of worker threads.
 *
 * Certificates are planned in the order a CA that issued them over time
 * would have stored them: the first `expiredFraction` of the indexes are the
 * expired ones, ending over the last two years in index order; the others
 * end within their lifetime from now, in index order for each lifetime.
 * So each validity index (not_after) of the store grows at a few places, as
 * under real issuance, instead of at a random page per certificate: at 5M
 * rows random notAfters made the two expiry indexes ~40-60 µs of every
 * insert, on the one thread that writes.
 */
import { createHash } from 'node:crypto';

export interface SyntheticSpec {
  seed: string;
  /** "Now" of the load (epoch ms): expired certificates end before it, the others after it. */
  nowMs: number;
  revokedFraction: number;
  expiredFraction: number;
  /** The issuing CA's notAfter (epoch ms): no certificate outlives it. */
  issuerNotAfterMs: number;
  /** How many subject keys the inventory shares (certificates reuse a small set of keys). */
  keyCount: number;
  /** How many certificates the inventory has (where an index falls in issuance order). */
  count: number;
}

export interface PlannedCertificate {
  serial: Uint8Array;
  commonName: string;
  dns: string[];
  organization: string | null;
  notBefore: Date;
  notAfter: Date;
  keyIndex: number;
  revocation: { at: Date; reason: number } | null;
}

const DAY = 86_400_000;
const WORDS = ['alpha', 'api', 'app', 'auth', 'billing', 'cache', 'cdn', 'core', 'data', 'db', 'edge', 'gateway', 'git', 'grafana', 'hr',
  'identity', 'ingest', 'intranet', 'jenkins', 'kafka', 'ldap', 'log', 'mail', 'metrics', 'mq', 'nas', 'office', 'ops', 'pay', 'portal',
  'proxy', 'queue', 'redis', 'registry', 'search', 'shop', 'sso', 'storage', 'vault', 'vpn', 'web', 'wiki', 'worker', 'www'];
const ZONES = ['example.com', 'example.net', 'example.org', 'corp.example', 'internal.example', 'prod.example.com', 'staging.example.com', 'eu.example.com', 'us.example.com', 'lab.example.net'];
const ORGS = ['Example Corp', 'Example Payments', 'Example Labs', 'Example Retail'];
/** Lifetimes in days and their weights: mostly 90-day, some 30-day and one-year (<= 397, CA/B BR). */
const LIFETIMES: Array<[number, number]> = [[90, 0.6], [30, 0.15], [397, 0.25]];
/** Revocation reasons and their weights (RFC 5280 codes: unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation). */
const REASONS: Array<[number, number]> = [[0, 0.3], [1, 0.1], [3, 0.1], [4, 0.3], [5, 0.2]];

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

/**
 * xoshiro128** over the 16 bytes the seed hash leaves after the serial: fast (32-bit integer
 * arithmetic; the BigInt xorshift128+ it replaced cost ~4 µs a certificate in allocations),
 * deterministic, plenty for test data.
 */
class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(bytes: Buffer) {
    this.a = bytes.readInt32BE(0) | 1;
    this.b = bytes.readInt32BE(4);
    this.c = bytes.readInt32BE(8);
    this.d = bytes.readInt32BE(12);
  }

  next(): number {
    const out = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return out / 2 ** 32;
  }

  pick<T>(list: readonly T[]): T { return list[Math.floor(this.next() * list.length)]!; }

  weighted(list: ReadonlyArray<[number, number]>): number {
    let r = this.next();
    for (const [v, w] of list) { if ((r -= w) < 0) return v; }
    return list[list.length - 1]![0];
  }
}

function seeded(seed: string, index: number): Buffer {
  return createHash('sha256').update(`rampart-synthetic\n${seed}\n${index}`).digest();
}

const loadPrefixes = new Map<string, Buffer>();

/** Eight bytes that every serial of the load of `seed` starts with (positive, non-zero first octet, as core/serial.ts makes them). */
function loadPrefix(seed: string): Buffer {
  let p = loadPrefixes.get(seed);
  if (!p) {
    p = createHash('sha256').update(`rampart-synthetic-load\n${seed}`).digest().subarray(0, 8);
    p[0] = (p[0]! & 0x3f) | 0x40;
    if (loadPrefixes.size > 64) loadPrefixes.clear();
    loadPrefixes.set(seed, p);
  }
  return p;
}

/**
 * The serial of certificate `index`, 16 bytes: the load's prefix (from the
 * seed), the index (4 bytes, big-endian) and 4 bytes of the certificate's
 * own hash. Serials of one load therefore ascend with the index, and a load
 * appends to the serial indexes instead of writing a random page of each
 * per certificate (at millions of rows that was most of the store's time);
 * the last bytes, and so the CRL shard (the last hex digit), stay uniform.
 * Not CSPRNG output: these are test data, never issued certificates.
 */
function serialOf(seed: string, index: number, h: Buffer): Uint8Array {
  const serial = new Uint8Array(16);
  serial.set(loadPrefix(seed), 0);
  new DataView(serial.buffer).setUint32(8, index);
  serial.set(h.subarray(0, 4), 12);
  return serial;
}

export function planCertificate(spec: SyntheticSpec, index: number): PlannedCertificate {
  const h = seeded(spec.seed, index);
  const serial = serialOf(spec.seed, index, h);
  const rnd = new Random(h.subarray(16));
  const host = `${rnd.pick(WORDS)}-${index.toString(36)}`;
  const zone = `${rnd.pick(WORDS)}.${rnd.pick(ZONES)}`;
  const commonName = `${host}.${zone}`;
  const dns = [commonName];
  const extra = Math.floor(rnd.next() * 3);
  for (let i = 0; i < extra; i++) dns.push(`${rnd.pick(WORDS)}${i}.${host}.${zone}`);
  const organization = rnd.next() < 0.3 ? rnd.pick(ORGS) : null;
  const lifetime = rnd.weighted(LIFETIMES) * DAY;
  const expiredCount = Math.round(spec.count * spec.expiredFraction);
  const expired = index < expiredCount;
  // Where the certificate falls among its kind (0 first, 1 last), a second's jitter per certificate.
  const at = expired ? (index + rnd.next()) / expiredCount : (index - expiredCount + rnd.next()) / (spec.count - expiredCount);
  // Expired: ended over the last two years (at least a second ago). Valid: ends within its lifetime from now (issued at most `lifetime` ago).
  let notAfterMs = expired ? spec.nowMs - Math.max(1000, Math.ceil((1 - at) * 730 * DAY)) : spec.nowMs + Math.max(1000, Math.ceil(at * lifetime));
  notAfterMs = Math.min(Math.floor(notAfterMs / 1000) * 1000, spec.issuerNotAfterMs);
  const notBefore = new Date(notAfterMs - lifetime);
  const notAfter = new Date(notAfterMs);
  const keyIndex = Math.floor(rnd.next() * spec.keyCount);
  let revocation: PlannedCertificate['revocation'] = null;
  if (rnd.next() < spec.revokedFraction) {
    const end = Math.min(spec.nowMs, notAfterMs);
    const at = Math.floor((notBefore.getTime() + rnd.next() * (end - notBefore.getTime())) / 1000) * 1000;
    revocation = { at: new Date(at), reason: rnd.weighted(REASONS) };
  }
  return { serial, commonName, dns, organization, notBefore, notAfter, keyIndex, revocation };
}
