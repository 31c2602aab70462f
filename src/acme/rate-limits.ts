/**
 * ACME rate limits, counted in the shared database so that they hold across
 * every node of a cluster: a sliding window of events per bucket. A check
 * and the event it allows are separate statements, so concurrent requests on
 * several nodes can overshoot a limit by the number of nodes at most.
 */
import { getDomain } from 'tldts';
import { isIP } from 'node:net';
import type { Clock } from '../core/clock.js';
import type { AcmeStore } from '../storage/store.js';
import { AcmeError } from './problems.js';

export interface Limit { count: number; windowSeconds: number }

export type LimitName = 'newOrdersPerAccount' | 'newAccountsPerIp' | 'certificatesPerRegisteredDomain' | 'requestsPerIp' | 'failedValidationsPerAccount';

export class RateLimiter {
  constructor(
    private readonly store: Pick<AcmeStore, 'countRateEvents' | 'addRateEvents' | 'pruneRateEvents'>,
    private readonly clock: Clock,
    private readonly limits: Record<LimitName, Limit>,
  ) {}

  enabled(name: LimitName): boolean { return this.limits[name].count > 0; }

  bucket(name: LimitName, key: string): string { return `${name}:${key}`; }

  /** Throws rateLimited (with Retry-After) when the bucket is full. */
  async check(name: LimitName, key: string, what: string): Promise<void> {
    const l = this.limits[name];
    if (l.count <= 0) return;
    const since = new Date(this.clock.now().getTime() - l.windowSeconds * 1000);
    const n = await this.store.countRateEvents(this.bucket(name, key), since);
    if (n >= l.count) {
      throw new AcmeError('rateLimited', `rate limit ${name} reached: ${n} ${what} in the last ${l.windowSeconds} s (limit ${l.count})`, {
        retryAfter: Math.max(1, Math.ceil(l.windowSeconds / l.count)),
      });
    }
  }

  async record(entries: Array<[LimitName, string]>): Promise<void> {
    const buckets = entries.filter(([n]) => this.enabled(n)).map(([n, k]) => this.bucket(n, k));
    if (buckets.length) await this.store.addRateEvents(buckets, this.clock.now());
  }

  async prune(): Promise<number> {
    const longest = Math.max(...Object.values(this.limits).map((l) => l.windowSeconds));
    return this.store.pruneRateEvents(new Date(this.clock.now().getTime() - longest * 1000));
  }
}

/** The registered domain (eTLD+1 by the public suffix list) of a name; an IP address is its own. */
export function registeredDomain(name: string): string {
  if (isIP(name)) return name;
  const bare = name.startsWith('*.') ? name.slice(2) : name;
  return getDomain(bare, { allowPrivateDomains: true }) ?? bare;
}
