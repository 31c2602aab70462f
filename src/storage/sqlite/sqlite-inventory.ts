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
  /**
   * The filter matched fewer rows than the page total's cap (the first
   * page's count says so): a page then reads the matches' seqs from the
   * filter's range index, sorts them, and fetches its rows, instead of
   * walking seq order past the rows that do not match.
   */
  few?: boolean;
}

/** Columns of an export row (no DER unless the PEM is asked for). */
const LIGHT_COLUMNS = 'c.seq, c.serial, c.issuer_id, c.profile, c.subject, c.sans, c.not_before, c.not_after, c.status, c.revoked_at, c.revocation_reason, c.created_at, c.requester';

/**
 * The index whose range holds exactly the matches of a filter made only of
 * expiry and status conditions (SQLite keeps no statistics here, so its
 * planner walks seq order whenever a page asks for it):
 * - `status: expired` is `not_after <= now`: certificates_expiry;
 * - `status: good` and `expiringWithinDays` are `status = 'good'` and a
 *   not_after range: certificates_status_expiry (status, not_after).
 * With issuer, profile or name conditions the range holds more than the
 * matches, and the planner's own choice stands.
 */
function rangeIndexOf(f: CertificateFilter): string | undefined {
  if (f.name || f.issuerId || f.profile) return undefined;
  if (f.expiringWithinDays !== undefined || f.status === 'good') return 'certificates_status_expiry';
  if (f.status === 'expired') return 'certificates_expiry';
  return undefined;
}

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
  const { sql, args } = countSql(q);
  return Number((prep(db, sql).get(args) as Row).n);
}

function countSql(q: InventoryQuery): { sql: string; args: Record<string, unknown> } {
  const { from: walked, where, args } = parts(q);
  // Counted in the range index alone (no row is read): at 10M certificates a
  // status=good total read 10,000 rows for their not_after (87 ms, cold).
  const index = rangeIndexOf(q.filter);
  // A name alone is counted in the FTS index alone: it holds exactly the rowids
  // of existing rows (kept by the insert and delete triggers, or behind them
  // while a bulk load's index is pending, never ahead), so the join read 10,001
  // certificate rows for nothing (1M, cold cache: 62 ms against 21 ms).
  const nameOnly = q.filter.name !== undefined && where.length === 1;
  const from = index ? `certificates c INDEXED BY ${index}` : nameOnly ? 'certificates_search' : walked;
  const matches = `${from}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`;
  const sql = q.countCap === undefined ? `SELECT count(*) AS n FROM ${matches}` : `SELECT count(*) AS n FROM (SELECT 1 FROM ${matches} LIMIT ${Math.trunc(q.countCap) + 1})`;
  return { sql, args };
}

/**
 * Rows a name query reads in seq order after its cursor before it asks the
 * FTS index for the rest. FTS5 reaches a rowid inside a term's doclist by
 * walking it (~45 ns an entry and trigram, measured at 1M: a page after rowid
 * 500k of `name=example` took 115 ms, 240 ms cold, and grows with the
 * inventory; an export of such a name, batch after batch, grew with its
 * square), while a needle that matches many rows fills a page within a few
 * rows of the cursor. Past this window (~10-20 ms of rows) the needle is
 * sparse enough for its doclists to be short.
 */
const NAME_WALK_WINDOW = 16_384;

/** Up to `limit` matching rows with seq > afterSeq, in seq order; `der` false leaves the DER out. */
export function selectRows(db: Database.Database, q: InventoryQuery, afterSeq: number, limit: number, der = true): Row[] {
  const columns = der ? 'c.*' : LIGHT_COLUMNS;
  let from = afterSeq;
  let walked: Row[] = [];
  // A name that may match many rows (a page whose total hit its cap, an export batch): every match in the
  // window after the cursor, tested as the index would (the lower-cased search text contains the needle);
  // the index is asked only for what the window did not hold. A name with few matches goes to the index.
  if (q.filter.name && q.few !== true) {
    const walk = nameWalkSql(q, columns);
    const windowEnd = afterSeq + NAME_WALK_WINDOW;
    walked = prep(db, walk.sql).all({ ...walk.args, afterSeq, windowEnd, limit }) as Row[];
    if (walked.length >= limit) return walked;
    from = windowEnd;
  }
  const { sql, args } = pageSql(q, columns);
  const rest = prep(db, sql).all({ ...args, afterSeq: from, limit: limit - walked.length }) as Row[];
  return walked.length ? walked.concat(rest) : rest;
}

function nameWalkSql(q: InventoryQuery, columns: string): { sql: string; args: Record<string, unknown> } {
  checkFilter(q.filter);
  const args: Record<string, unknown> = { needle: nameNeedle(q.filter.name!) };
  let i = 0;
  const p = (v: string | number) => { const k = `p${i++}`; args[k] = v; return `@${k}`; };
  const where = [...filterConditions(q.filter, new Date(q.nowMs), p, 'c'), 'c.seq > @afterSeq', 'c.seq <= @windowEnd', 'instr(c.search, @needle) > 0'];
  return { sql: `SELECT ${columns} FROM certificates c WHERE ${where.join(' AND ')} ORDER BY c.seq LIMIT @limit`, args };
}

function pageSql(q: InventoryQuery, columns: string): { sql: string; args: Record<string, unknown> } {
  const { from, where, args, seqCol } = parts(q);
  const all = [...where, `${seqCol} > @afterSeq`];
  const index = q.few ? rangeIndexOf(q.filter) : undefined;
  if (index) {
    // The page's seqs from the index alone (fewer than the count cap to sort), then its rows by seq.
    const seqs = `SELECT c.seq FROM certificates c INDEXED BY ${index} WHERE ${all.join(' AND ')} ORDER BY c.seq LIMIT @limit`;
    return { sql: `SELECT ${columns} FROM certificates c WHERE c.seq IN (${seqs}) ORDER BY c.seq`, args };
  }
  return { sql: `SELECT ${columns} FROM ${from} WHERE ${all.join(' AND ')} ORDER BY ${seqCol} LIMIT @limit`, args };
}

/** One export batch as finished text, with how many rows it holds and the seq to continue after. */
export function textBatch(db: Database.Database, q: InventoryQuery, afterSeq: number, limit: number, fmt: ExportTextOptions): { text: string; rows: number; lastSeq: number } {
  const rows = selectRows(db, q, afterSeq, limit, fmt.pem);
  return { text: formatRows(rows, fmt), rows: rows.length, lastSeq: rows.length ? Number(rows[rows.length - 1]!.seq) : afterSeq };
}

/** The query plan of a count (tests: which index each filter counts in). */
export function explainCount(db: Database.Database, q: InventoryQuery): string[] {
  const { sql, args } = countSql(q);
  return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(args) as Array<{ detail: string }>).map((r) => r.detail);
}

/** The query plan of a page query (bench and tests: which index each filter uses). */
export function explainPage(db: Database.Database, q: InventoryQuery): string[] {
  const { sql: page, args } = pageSql(q, 'c.*');
  const sql = `EXPLAIN QUERY PLAN ${page}`;
  return (db.prepare(sql).all({ ...args, afterSeq: 0, limit: 51 }) as Array<{ detail: string }>).map((r) => r.detail);
}
