/**
 * Picks and constructs the Store the configuration asks for: the embedded
 * SQLite file, or a PostgreSQL database shared by the nodes of a cluster.
 * The store is returned unmigrated and unconnected (PostgreSQL connects on
 * first use); callers run migrate() before anything else.
 */
import type { RampartConfig } from '../config/schema.js';
import { PostgresStore, type RetryEvent } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './store.js';

export interface CreateStoreOptions {
  /** Where the database password variable is read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** PostgreSQL: called before each retry of a transient error (logging, metrics). */
  onRetry?: (e: RetryEvent) => void;
  /** PostgreSQL application_name, e.g. the node id (default 'rampart'). */
  applicationName?: string;
  /** PostgreSQL with database.monitor: ask pg_auto_failover's monitor for the primary (a running node; short-lived commands do not). */
  watchMonitor?: boolean;
  /** Called when the monitor names another primary, or cannot be asked. */
  onMonitor?: (e: { primary?: string; error?: unknown }) => void;
}

export function createStore(
  cfg: Pick<RampartConfig, 'database'>,
  paths: { dbPath: string },
  opts: CreateStoreOptions = {},
): Store {
  const db = cfg.database;
  switch (db.type) {
    case 'sqlite':
      return new SqliteStore({ path: paths.dbPath });
    case 'postgres': {
      if (!db.hosts || db.hosts.length === 0) throw new Error("database.hosts is required when database.type is 'postgres'");
      const password = (opts.env ?? process.env)[db.passwordEnv];
      return new PostgresStore({
        hosts: db.hosts,
        database: db.database,
        user: db.user,
        ...(password ? { password } : {}),
        targetSessionAttrs: db.targetSessionAttrs,
        max: db.poolMax,
        connectTimeoutSeconds: db.connectTimeoutSeconds,
        retryForMs: db.retryForSeconds * 1000,
        ...(db.monitor && opts.watchMonitor ? { monitor: { uri: db.monitor.uri, formation: db.monitor.formation, group: db.monitor.group, everyMs: db.monitor.everySeconds * 1000 } } : {}),
        ...(opts.onMonitor ? { onMonitor: opts.onMonitor } : {}),
        ...(opts.onRetry ? { onRetry: opts.onRetry } : {}),
        ...(opts.applicationName ? { applicationName: opts.applicationName } : {}),
      });
    }
    default: {
      const never: never = db.type;
      throw new Error(`unknown database type ${String(never)}`);
    }
  }
}
