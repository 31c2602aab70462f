/**
 * API bearer tokens. The secret is shown once at creation; only its SHA-256
 * is stored. Format: rmp_<id>_<secret>, so a token names its record without
 * revealing anything that helps to guess the secret.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { ApiTokenRecord, TokenRole } from '../core/types.js';
import type { OperatorStore, TokenStore } from '../storage/store.js';
import { RampartError } from '../core/errors.js';

export const TOKEN_ROLES: readonly TokenRole[] = ['admin', 'operator', 'auditor', 'issuer', 'acme-admin'];

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export interface TokenServiceOptions {
  store: TokenStore & OperatorStore;
  clock: Clock;
}

export class TokenService {
  constructor(private readonly opts: TokenServiceOptions) {}

  async create(name: string, role: TokenRole, expiresAt: Date | null = null, operatorId: string | null = null): Promise<{ token: string; record: ApiTokenRecord }> {
    const id = randomBytes(6).toString('hex');
    const token = `rmp_${id}_${randomBytes(24).toString('base64url')}`;
    const record: ApiTokenRecord = { id, name, role, hash: hashToken(token), createdAt: this.opts.clock.now(), expiresAt, revokedAt: null, operatorId };
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
    if (rec.operatorId) {
      // A deprovisioned operator's tokens stop at once (they are also revoked, in the same transaction).
      const op = await this.opts.store.getOperator(rec.operatorId);
      if (!op || op.disabledAt) return null;
    }
    return rec;
  }

  /**
   * Rotation: a new token with the same name, role, operator and lifetime;
   * the old one keeps working for `graceSeconds` (0: stops now), so clients
   * can switch without an outage.
   */
  async rotate(id: string, graceSeconds: number): Promise<{ token: string; record: ApiTokenRecord; oldRevokedAt: Date }> {
    const old = (await this.opts.store.listTokens()).find((t) => t.id === id);
    const now = this.opts.clock.now();
    if (!old || (old.revokedAt && old.revokedAt <= now) || (old.expiresAt && old.expiresAt <= now)) {
      throw new RampartError('notFound', `no active token ${id}`);
    }
    const lifetime = old.expiresAt ? old.expiresAt.getTime() - old.createdAt.getTime() : null;
    const made = await this.create(old.name, old.role, lifetime === null ? null : new Date(now.getTime() + lifetime), old.operatorId ?? null);
    const oldRevokedAt = new Date(now.getTime() + graceSeconds * 1000);
    await this.opts.store.revokeToken(id, oldRevokedAt);
    return { ...made, oldRevokedAt };
  }
}
