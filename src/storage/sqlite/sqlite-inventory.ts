/**
 * The SQLite inventory queries (list page, total, export batch), synchronous
 * on one better-sqlite3 connection. They run in the reader worker
 * (sqlite-reader.ts) on its own read-only connection, or on the main thread
 * for an in-memory database (which no other connection can open). A name
 * search goes through the FTS5 trigram index `certificates_search` (an
 * external-content index of the `search` column, kept by triggers in the
 * same transaction as each insert): a phrase of the lower-cased needle
 * matches exactly the rows whose search text contains it.
 */
import type Database from 'better-sqlite3';
import type { CertificateFilter } from '../../core/types.js';
import type { Row } from '../row-mapping.js';
import { checkFilter, filterConditions, nameNeedle } from '../inventory-query.js';
import { formatRows, type ExportTextOptions } from '../inventory-format.js';

export interface InventoryQuery {
  filter: CertificateFilter;
  nowMs: number;
  /** Count at most this many matches plus one (a page total); absent: count all. */
  countCap?: number;
}

/** Columns of an export row (no DER unless the PEM is asked for). */
const LIGHT_COLUMNS = 'c.seq, c.serial, c.issuer_id, c.profile, c.subject, c.sans, c.not_before, c.not_after, c.status, c.revoked_at, c.revocation_reason, c.created_at, c.requester';

const ftsPhrase = (name: string): string => `"${nameNeedle(name).replace(/"/g, '""')}"`;

function parts(q: InventoryQuery): { from: string; where: string[]; args: Record<string, unknown>; seqCol: string } {
  checkFilter(q.filter);
  const args: Record<string, unknown> = {};
  let i = 0;
  const p = (v: string | number) => { const k = `p${i++}`; args[k] = v; return `@${k}`; };
  const where = filterConditions(q.filter, new Date(q.nowMs), p, 'c');
  if (!q.filter.name) return { from: 'certificates c', where, args, seqCol: 'c.seq' };
  // Joined from the FTS table, so that it yields rowids in order and honours rowid > cursor itself.
  where.unshift(`certificates_search MATCH ${p(ftsPhrase(q.filter.name))}`);
  return { from: 'certificates_search JOIN certificates c ON c.seq = certificates_search.rowid', where, args, seqCol: 'certificates_search.rowid' };
}

const statements = new WeakMap<Database.Database, Map<string, Database.Statement>>();
function prep(db: Database.Database, sql: string): Database.Statement {
  let cache = statements.get(db);
  if (!cache) statements.set(db, (cache = new Map()));
  let st = cache.get(sql);
  if (!st) {
    if (cache.size >= 200) cache.clear();
    cache.set(sql, (st = db.prepare(sql)));
  }
  return st;
}

export function countMatches(db: Database.Database, q: InventoryQuery): number {
  const { from, where, args } = parts(q);
  const matches = `${from}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`;
  const sql = q.countCap === undefined ? `SELECT count(*) AS n FROM ${matches}` : `SELECT count(*) AS n FROM (SELECT 1 FROM ${matches} LIMIT ${Math.trunc(q.countCap) + 1})`;
  return Number((prep(db, sql).get(args) as Row).n);
}

/** Up to `limit` matching rows with seq > afterSeq, in seq order; `der` false leaves the DER out. */
export function selectRows(db: Database.Database, q: InventoryQuery, afterSeq: number, limit: number, der = true): Row[] {
  const { from, where, args, seqCol } = parts(q);
  const all = [...where, `${seqCol} > @afterSeq`];
  const sql = `SELECT ${der ? 'c.*' : LIGHT_COLUMNS} FROM ${from} WHERE ${all.join(' AND ')} ORDER BY ${seqCol} LIMIT @limit`;
  return prep(db, sql).all({ ...args, afterSeq, limit }) as Row[];
}

/** One export batch as finished text, with how many rows it holds and the seq to continue after. */
export function textBatch(db: Database.Database, q: InventoryQuery, afterSeq: number, limit: number, fmt: ExportTextOptions): { text: string; rows: number; lastSeq: number } {
  const rows = selectRows(db, q, afterSeq, limit, fmt.pem);
  return { text: formatRows(rows, fmt), rows: rows.length, lastSeq: rows.length ? Number(rows[rows.length - 1]!.seq) : afterSeq };
}

/** The query plan of a page query (bench and tests: which index each filter uses). */
export function explainPage(db: Database.Database, q: InventoryQuery): string[] {
  const { from, where, args, seqCol } = parts(q);
  const all = [...where, `${seqCol} > @afterSeq`];
  const sql = `EXPLAIN QUERY PLAN SELECT c.* FROM ${from} WHERE ${all.join(' AND ')} ORDER BY ${seqCol} LIMIT @limit`;
  return (db.prepare(sql).all({ ...args, afterSeq: 0, limit: 51 }) as Array<{ detail: string }>).map((r) => r.detail);
}
