/**
 * SQLite's own check of a database file, on a read-only connection of its
 * own (WAL: it reads one consistent snapshot beside the writer). quick_check
 * verifies every page of every b-tree, free lists and record formats in time
 * linear in the file; integrity_check also matches every index entry with its
 * table row. Synchronous: call from a worker thread (database-integrity.ts).
 */
import Database from 'better-sqlite3';
import { MAX_PROBLEMS, isCorruptionError, type DatabaseIntegrityOptions, type IntegrityFinding } from '../database-integrity.js';

export function sqliteIntegrity(path: string, o: DatabaseIntegrityOptions): IntegrityFinding[] {
  const check = o.level === 'full' ? 'sqlite.integrity_check' : 'sqlite.quick_check';
  if (path === ':memory:') return [{ check, status: 'skipped', detail: 'an in-memory database has no file to check' }];
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    const rows = db.pragma(`${o.level === 'full' ? 'integrity_check' : 'quick_check'}(${MAX_PROBLEMS})`) as Array<Record<string, unknown>>;
    const messages = rows.map((r) => String(Object.values(r)[0]));
    if (messages.length === 1 && messages[0] === 'ok') return [{ check, status: 'ok', detail: `PRAGMA ${check.slice(7)}: ok` }];
    return [{ check, status: 'corrupt', detail: `PRAGMA ${check.slice(7)} found ${messages.length >= MAX_PROBLEMS ? `at least ${MAX_PROBLEMS}` : messages.length} problem(s): ${messages[0]}`, problems: messages }];
  } catch (e) {
    const message = (e as Error).message;
    return [{ check, status: isCorruptionError(e) ? 'corrupt' : 'error', detail: `PRAGMA ${check.slice(7)} failed: ${message}`, problems: [message] }];
  } finally {
    db?.close();
  }
}
