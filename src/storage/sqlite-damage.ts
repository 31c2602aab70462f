/**
 * Fault injection for drills and tests (never called by a serving node):
 * damages one b-tree page of a table or index in a SQLite file the way a
 * failing disk or a torn write would, by overwriting its first bytes (the
 * page header and cell pointers) on disk. The WAL is checkpointed into the
 * file first, so the damaged page is the one every new connection reads.
 * Connections already open may still hold the page in their cache.
 */
import Database from 'better-sqlite3';
import { closeSync, openSync, writeSync } from 'node:fs';

export interface DamagedPage { object: string; page: number; pageSize: number; offset: number; bytes: number }

export function damageSqlitePage(path: string, object: string, o: { bytes?: number } = {}): DamagedPage {
  const db = new Database(path, { fileMustExist: true });
  let page: number;
  let pageSize: number;
  try {
    db.pragma('busy_timeout = 5000');
    db.pragma('wal_checkpoint(TRUNCATE)');
    pageSize = db.pragma('page_size', { simple: true }) as number;
    const leaf = db.prepare("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno DESC LIMIT 1").get(object) as { pageno: number } | undefined;
    if (!leaf) throw new Error(`no b-tree page of "${object}" in ${path}`);
    page = leaf.pageno;
  } finally {
    db.close();
  }
  const bytes = o.bytes ?? 24;
  const offset = (page - 1) * pageSize;
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, Buffer.alloc(bytes, 0xa5), 0, bytes, offset);
  } finally {
    closeSync(fd);
  }
  return { object, page, pageSize, offset, bytes };
}
