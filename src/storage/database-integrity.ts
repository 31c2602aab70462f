/**
 * What the database engine itself says about its files (the storage half of
 * the integrity check; src/integrity adds the application-level checks).
 *
 * SQLite: `PRAGMA quick_check` (or `integrity_check`) on a read-only
 * connection of its own. PostgreSQL: data checksum failures
 * (`pg_stat_database.checksum_failures`), a sequential read of every table
 * (so a page whose checksum fails is read and counted), and the `amcheck`
 * extension (`bt_index_check` on every index, `verify_heapam` on every
 * table) when it is installed.
 *
 * These checks block the calling thread (SQLite) or keep a connection busy
 * for as long as they read (PostgreSQL): call them from a worker thread, as
 * src/integrity/integrity-worker.ts does, never from the thread that
 * answers OCSP.
 */
export type FindingStatus = 'ok' | 'corrupt' | 'skipped' | 'error';

export interface IntegrityFinding {
  /** e.g. 'sqlite.quick_check', 'postgres.checksums', 'postgres.amcheck', 'certificates'. */
  check: string;
  /** ok; corrupt (damage found); skipped (not available here, with why); error (could not run: not a finding about the data). */
  status: FindingStatus;
  detail: string;
  /** What is damaged, at most ~100 lines (the engine's messages, the serials). */
  problems?: string[];
}

export type IntegrityLevel = 'quick' | 'full';

export interface DatabaseIntegrityOptions {
  /** SQLite: quick_check (page structure, no index-to-table cross-check) or integrity_check (all of it). PostgreSQL: 'full' adds verify_heapam's TOAST check. */
  level: IntegrityLevel;
  /** Stop after this much time; what was not checked is reported as skipped. */
  budgetMs: number;
}

/** Capability of every Store: the engine's own check of its files. Blocks or occupies the caller: run it in a worker thread. */
export interface DatabaseIntegrityCapable {
  databaseIntegrity(o: DatabaseIntegrityOptions): Promise<IntegrityFinding[]>;
}

/** Most problems a finding lists. */
export const MAX_PROBLEMS = 100;

/** An error message that means damaged data rather than an unreachable database (SQLite and PostgreSQL wordings). */
export function looksCorrupt(message: string): boolean {
  return /malformed|corrupt|not a database|invalid page|checksum|could not read block|index .* contains|unexpected zero page|XX001|XX002/i.test(message);
}

/** PostgreSQL SQLSTATE class XX (data_corrupted XX001, index_corrupted XX002) or a corrupt-sounding message. */
export function isCorruptionError(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  if (code === 'XX001' || code === 'XX002' || code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') return true;
  return looksCorrupt((e as Error)?.message ?? String(e));
}
