/** Error classification for better-sqlite3's SqliteError codes. */

/** A UNIQUE or PRIMARY KEY violation. */
export const isUniqueViolation = (e: unknown): boolean => {
  const c = (e as { code?: unknown } | null)?.code;
  return c === 'SQLITE_CONSTRAINT_UNIQUE' || c === 'SQLITE_CONSTRAINT_PRIMARYKEY';
};
