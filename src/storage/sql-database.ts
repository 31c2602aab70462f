/**
 * PostgreSQL as the layers above storage may see it: a pool with retries
 * behind the SqlDatabase interface, for code that talks to a database other
 * than through the Store (the region monitor, failover and failback reach each
 * region's database, promote it, read its replication state). The concrete
 * pool and store stay inside storage/.
 */
import type { Sql, TransactionSql } from 'postgres';
import { PgPool, transaction as pgTransaction, type PgPoolOptions, type RetryEvent, type TargetSessionAttrs } from './postgres/pg-pool.js';
import { PostgresStore } from './postgres/postgres-store.js';
import type { Store } from './store.js';

export type { Sql, TransactionSql, RetryEvent, TargetSessionAttrs };

export interface SqlDatabase {
  /** Runs `fn`, retrying transient errors for the pool's retry budget. */
  run<T>(op: string, fn: (sql: Sql) => Promise<T>): Promise<T>;
  /** Runs `fn` once, failing after `timeoutMs`. */
  once<T>(op: string, fn: (sql: Sql) => Promise<T>, timeoutMs: number): Promise<T>;
  close(): Promise<void>;
}

export type SqlDatabaseOptions = PgPoolOptions;

export function openSqlDatabase(o: SqlDatabaseOptions): SqlDatabase {
  return new PgPool(o);
}

/** A Store on a PostgreSQL database (reconciliation and audit on another region's database). */
export function openPostgresStore(o: SqlDatabaseOptions): Store {
  return new PostgresStore(o);
}

/** The store's own PostgreSQL pool, or null for a store that is not on PostgreSQL. */
export function sqlDatabaseOf(store: Store): SqlDatabase | null {
  return store instanceof PostgresStore ? store.pool : null;
}

/**
 * A transaction that sends nothing more once its connection is lost (no
 * statement, COMMIT or ROLLBACK): see porsager/postgres#1208 in pg-pool.ts.
 */
export function transaction<T>(sql: Sql, fn: (tx: TransactionSql) => Promise<T>, options = ''): Promise<T> {
  return pgTransaction(sql, fn, options);
}

/**
 * Replaces every open pool's connections (after postgres.js wrote to a
 * dropped connection, see src/main/process-guard.ts); returns how many pools.
 */
export function recycleDatabaseConnections(): number {
  return PgPool.recycleAll();
}
