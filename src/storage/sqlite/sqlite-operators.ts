/** Operators in SQLite (the OperatorStore part of SqliteStore). */
import type Database from 'better-sqlite3';
import type { OperatorRecord } from '../../core/types.js';
import { RampartError } from '../../core/errors.js';
import { toOperator, type Row } from '../row-mapping.js';

export class SqliteOperators {
  constructor(private readonly db: Database.Database) {}

  insert(op: OperatorRecord): void {
    try {
      this.db.prepare('INSERT INTO operators (id, name, role, created_at, disabled_at) VALUES (?, ?, ?, ?, ?)')
        .run(op.id, op.name, op.role, op.createdAt.getTime(), op.disabledAt?.getTime() ?? null);
    } catch (e) {
      if ((e as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT')) throw new RampartError('conflict', `an operator named "${op.name}" already exists`);
      throw e;
    }
  }

  get(id: string): OperatorRecord | null {
    const r = this.db.prepare('SELECT * FROM operators WHERE id = ?').get(id) as Row | undefined;
    return r ? toOperator(r) : null;
  }

  byName(name: string): OperatorRecord | null {
    const r = this.db.prepare('SELECT * FROM operators WHERE name = ?').get(name) as Row | undefined;
    return r ? toOperator(r) : null;
  }

  list(): OperatorRecord[] {
    return (this.db.prepare('SELECT * FROM operators ORDER BY name').all() as Row[]).map(toOperator);
  }

  /** One transaction: the operator is disabled and every token of it revoked. */
  disable(id: string, at: Date): boolean {
    return this.db.transaction(() => {
      const done = this.db.prepare('UPDATE operators SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL').run(at.getTime(), id).changes === 1;
      if (done) this.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE operator_id = ? AND (revoked_at IS NULL OR revoked_at > ?)').run(at.getTime(), id, at.getTime());
      return done;
    }).immediate();
  }
}
