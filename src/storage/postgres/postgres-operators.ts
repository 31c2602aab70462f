/** Operators in PostgreSQL (the OperatorStore part of PostgresStore); every write safe to repeat after an unknown commit. */
import type { OperatorRecord } from '../../core/types.js';
import { RampartError } from '../../core/errors.js';
import { toOperator } from '../row-mapping.js';
import { errorCode, transaction, type PgPool } from './pg-pool.js';

export class PostgresOperators {
  constructor(private readonly pool: PgPool) {}

  async insert(op: OperatorRecord): Promise<void> {
    await this.pool.run('insertOperator', async (sql, a) => {
      if (a.retried) {
        const [mine] = await sql`SELECT id FROM operators WHERE id = ${op.id}`;
        if (mine) return;
      }
      try {
        await sql`INSERT INTO operators (id, name, role, created_at, disabled_at)
          VALUES (${op.id}, ${op.name}, ${op.role}, ${op.createdAt.getTime()}, ${op.disabledAt?.getTime() ?? null})`;
      } catch (e) {
        if (errorCode(e) === '23505') throw new RampartError('conflict', `an operator named "${op.name}" already exists`);
        throw e;
      }
    });
  }

  async get(id: string): Promise<OperatorRecord | null> {
    const [r] = await this.pool.run('getOperator', (sql) => sql`SELECT * FROM operators WHERE id = ${id}`);
    return r ? toOperator(r) : null;
  }

  async byName(name: string): Promise<OperatorRecord | null> {
    const [r] = await this.pool.run('getOperatorByName', (sql) => sql`SELECT * FROM operators WHERE name = ${name}`);
    return r ? toOperator(r) : null;
  }

  async list(): Promise<OperatorRecord[]> {
    return (await this.pool.run('listOperators', (sql) => sql`SELECT * FROM operators ORDER BY name COLLATE "C"`)).map(toOperator);
  }

  /** One transaction: the operator is disabled and every token of it revoked. */
  async disable(id: string, at: Date): Promise<boolean> {
    return this.pool.run('disableOperator', (sql, a) => transaction(sql, async (tx) => {
      const done = await tx`UPDATE operators SET disabled_at = ${at.getTime()} WHERE id = ${id} AND disabled_at IS NULL RETURNING id`;
      if (done.length === 1) {
        await tx`UPDATE api_tokens SET revoked_at = ${at.getTime()} WHERE operator_id = ${id} AND (revoked_at IS NULL OR revoked_at > ${at.getTime()})`;
        return true;
      }
      if (!a.retried) return false;
      const [r] = await tx`SELECT disabled_at FROM operators WHERE id = ${id}`;
      return r !== undefined && r.disabled_at !== null && Number(r.disabled_at) === at.getTime();
    }));
  }
}
