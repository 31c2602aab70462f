/**
 * Where a backup's database is restored into, as the backup layer sees it:
 * a SQLite file in a staging directory, or an empty PostgreSQL database.
 * Both are a Store (restore checks it through the interface) with the few
 * extra operations restore needs.
 */
import { SqliteStore } from './sqlite/sqlite-store.js';
import { PostgresStore } from './postgres/postgres-store.js';
import type { PgConnection } from './pg-tools.js';
import type { Store } from './store.js';

export interface SqliteRestoreTarget extends Store {
  /** Folds the WAL into the main file, so the file can be moved into place alone. */
  checkpoint(): void;
}

export interface PostgresRestoreTarget extends Store {
  /** Tables in the public schema (a restore goes only into an empty database). */
  countTables(): Promise<number>;
  /** Leaves the database as empty as it was before the restore. */
  dropEverything(): Promise<void>;
}

export function openSqliteRestoreTarget(path: string): SqliteRestoreTarget {
  const store = new SqliteStore({ path });
  return Object.assign(store, { checkpoint: () => { store.db.pragma('wal_checkpoint(TRUNCATE)'); } });
}

export function openPostgresRestoreTarget(conn: PgConnection): PostgresRestoreTarget {
  const store = new PostgresStore({ ...conn, retryForMs: 5000, max: 2 });
  return Object.assign(store, {
    countTables: async () => {
      const [t] = await store.pool.run('restoreEmpty', (sql) => sql`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`);
      return Number(t!.n);
    },
    dropEverything: async () => {
      await store.pool.run('restoreUndo', (sql) => sql.unsafe('DROP SCHEMA public CASCADE; CREATE SCHEMA public'));
    },
  });
}
