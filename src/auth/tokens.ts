/**
 * API bearer tokens. The secret is shown once at creation; only its SHA-256
 * is stored. Format: rmp_<id>_<secret>, so a token names its record without
 * revealing anything that helps to guess the secret.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { ApiTokenRecord, TokenRole } from '../core/types.js';
import type { TokenStore } from '../storage/store.js';

export const TOKEN_ROLES: readonly TokenRole[] = ['admin', 'operator', 'auditor', 'issuer', 'acme-admin'];

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export interface TokenServiceOptions {
  store: TokenStore;
  clock: Clock;
}

export class TokenService {
  constructor(private readonly opts: TokenServiceOptions) {}

  async create(name: string, role: TokenRole, expiresAt: Date | null = null): Promise<{ token: string; record: ApiTokenRecord }> {
    const id = randomBytes(6).toString('hex');
    const token = `rmp_${id}_${randomBytes(24).toString('base64url')}`;
    const record: ApiTokenRecord = { id, name, role, hash: hashToken(token), createdAt: this.opts.clock.now(), expiresAt, revokedAt: null };
    await this.opts.store.insertToken(record);
    return { token, record };
  }

  list(): Promise<ApiTokenRecord[]> {
    return this.opts.store.listTokens();
  }

  /** Returns the token's record when it is valid now, else null. */
  async authenticate(token: string): Promise<ApiTokenRecord | null> {
    if (!/^rmp_[0-9a-f]{12}_[A-Za-z0-9_-]{32}$/.test(token)) return null;
    const h = hashToken(token);
    const rec = await this.opts.store.findTokenByHash(h);
    if (!rec || !timingSafeEqual(Buffer.from(rec.hash, 'hex'), Buffer.from(h, 'hex'))) return null;
    const now = this.opts.clock.now();
    if (rec.revokedAt && rec.revokedAt <= now) return null;
    if (rec.expiresAt && rec.expiresAt <= now) return null;
    return rec;
  }
}
