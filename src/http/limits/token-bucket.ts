/**
 * Token buckets keyed by client address or API token, in memory per node.
 *
 * - A bucket holds up to `burst` tokens and gains `ratePerSecond` per second;
 *   a request takes one. An empty bucket answers with the seconds until the
 *   next token (Retry-After). A key seen for the first time starts full, so
 *   a bucket that was forgotten is the same as one that refilled.
 * - Bounded: at most `maxKeys` buckets. The Map keeps insertion order and a
 *   touched key is moved to the end, so the first key is the least recently
 *   seen and is the one evicted. A flood from many source addresses costs a
 *   fixed amount of memory; its only effect is that old, idle buckets are
 *   forgotten (they would have refilled anyway).
 * - Per node, not cluster-wide: N nodes behind a load balancer allow N times
 *   the rate. That is deliberate: no database round trip on every request,
 *   and the limits keep working when the database does not.
 * - Time comes from performance.now() (monotonic), so clock steps do not
 *   empty or fill buckets.
 */
import { credentialOf } from '../credentials.js';
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { BucketLimit } from '../../config/limits-config.js';

export type TakeResult = { ok: true } | { ok: false; retryAfterSeconds: number };

interface Bucket { tokens: number; at: number }

const OK: TakeResult = { ok: true };

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private evictedCount = 0;

  constructor(
    private readonly limit: BucketLimit,
    private readonly maxKeys: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** False when the limit is turned off (ratePerSecond 0): take() always allows. */
  get enabled(): boolean { return this.limit.ratePerSecond > 0; }
  get size(): number { return this.buckets.size; }
  get evicted(): number { return this.evictedCount; }

  /** Takes `cost` tokens from the key's bucket, or says how long to wait. */
  take(key: string, cost = 1): TakeResult {
    if (!this.enabled) return OK;
    const b = this.refill(key);
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return OK;
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((cost - b.tokens) / this.limit.ratePerSecond)) };
  }

  /** Whether the key's bucket holds a token, without taking it (for limits on outcomes, such as failed logins). */
  peek(key: string): TakeResult {
    if (!this.enabled) return OK;
    const b = this.buckets.get(key);
    if (!b) return OK;
    const tokens = Math.min(this.limit.burst, b.tokens + ((this.now() - b.at) / 1000) * this.limit.ratePerSecond);
    return tokens >= 1 ? OK : { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / this.limit.ratePerSecond)) };
  }

  clear(): void { this.buckets.clear(); }

  private refill(key: string): Bucket {
    const now = this.now();
    let b = this.buckets.get(key);
    if (b) {
      this.buckets.delete(key); // re-inserted below: most recently seen goes last
      b.tokens = Math.min(this.limit.burst, b.tokens + ((now - b.at) / 1000) * this.limit.ratePerSecond);
      b.at = now;
    } else {
      b = { tokens: this.limit.burst, at: now };
      while (this.buckets.size >= this.maxKeys) {
        const oldest = this.buckets.keys().next().value as string;
        this.buckets.delete(oldest);
        this.evictedCount++;
      }
    }
    this.buckets.set(key, b);
    return b;
  }
}

/**
 * The rate-limit key of a client address. IPv4 (also IPv4-mapped IPv6) is the
 * address itself; IPv6 is its /64 prefix, since one host or customer usually
 * gets a whole /64 and could otherwise rotate through 2^64 fresh buckets.
 */
export function addressKey(ip: string): string {
  if (ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4) return ip.slice(7);
  const bare = ip.split('%')[0]!;
  if (isIP(bare) !== 6) return ip;
  const [head, tail] = bare.includes('::') ? bare.split('::') as [string, string] : [bare, undefined];
  const groups = (s: string | undefined) => (s ? s.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : []);
  const h = groups(head);
  const t = groups(tail);
  const full = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return `${full.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}

/**
 * The rate-limit key of an API token: a digest of the whole bearer
 * credential, not its readable id (rmp_<id>_…), so that someone who knows
 * another client's token id cannot empty that client's bucket with made-up
 * secrets. A valid token maps to exactly one key, bearer or basic auth (EST).
 */
export function tokenKey(authorization: string | undefined): string | null {
  // EST sends the token as the basic-auth password: the same token, the same bucket.
  const token = credentialOf(authorization, ['bearer', 'basic']);
  return token === null ? null : createHash('sha256').update(token).digest('base64url').slice(0, 22);
}
