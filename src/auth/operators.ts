/**
 * Operators: named people or systems with a role, owning API tokens.
 * Deprovisioning disables the operator and revokes every token it holds in
 * one transaction, and token authentication also checks the operator, so
 * its tokens stop working at once on every node.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { ApiTokenRecord, OperatorRecord, TokenRole } from '../core/types.js';
import { RampartError } from '../core/errors.js';
import type { OperatorStore, TokenStore } from '../storage/store.js';
import { TOKEN_ROLES, type TokenService } from './tokens.js';

export const OPERATOR_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export class OperatorService {
  constructor(private readonly o: { store: OperatorStore & TokenStore; tokens: TokenService; clock: Clock }) {}

  async add(name: string, role: TokenRole): Promise<OperatorRecord> {
    if (!OPERATOR_NAME.test(name)) throw new RampartError('malformed', `operator name "${name.slice(0, 80)}" must be 1-64 of A-Z a-z 0-9 . _ @ -`);
    if (!TOKEN_ROLES.includes(role)) throw new RampartError('malformed', `role must be one of ${TOKEN_ROLES.join(', ')}`);
    const op: OperatorRecord = { id: `op_${randomBytes(6).toString('hex')}`, name, role, createdAt: this.o.clock.now(), disabledAt: null };
    await this.o.store.insertOperator(op);
    return op;
  }

  list(): Promise<OperatorRecord[]> { return this.o.store.listOperators(); }

  async get(name: string): Promise<OperatorRecord> {
    const op = await this.o.store.getOperatorByName(name);
    if (!op) throw new RampartError('notFound', `no operator "${name.slice(0, 80)}"`);
    return op;
  }

  /** Disables the operator; every token it holds stops at once. */
  async remove(name: string): Promise<{ operator: OperatorRecord; revokedTokens: number }> {
    const op = await this.get(name);
    if (op.disabledAt) throw new RampartError('conflict', `operator "${name}" is already deprovisioned`);
    const now = this.o.clock.now();
    const tokens = (await this.o.store.listTokens()).filter((t) => t.operatorId === op.id && (!t.revokedAt || t.revokedAt > now) && (!t.expiresAt || t.expiresAt > now));
    await this.o.store.disableOperator(op.id, now);
    return { operator: { ...op, disabledAt: now }, revokedTokens: tokens.length };
  }

  /** A token for the operator, with its role. */
  async issueToken(name: string, expiresAt: Date | null): Promise<{ token: string; record: ApiTokenRecord }> {
    const op = await this.get(name);
    if (op.disabledAt) throw new RampartError('conflict', `operator "${name}" is deprovisioned`);
    return this.o.tokens.create(`operator:${op.name}`, op.role, expiresAt, op.id);
  }
}
