/**
 * The certificate inventory's filters, shared by both stores: validation,
 * the SQL conditions (each store adds its own name-search clause), and the
 * opaque page cursor, which carries the total counted for the first page so
 * that later pages never count again.
 */
import { RampartError } from '../core/errors.js';
import type { CertificateFilter, Page } from '../core/types.js';

/** Shortest `name` the trigram indexes can answer (FTS5 trigram, pg_trgm): shorter ones are refused. */
export const MIN_NAME_LENGTH = 3;
/** Rows per batch of an export (one query each, keyset on seq). */
export const EXPORT_BATCH = 1000;

/** The needle a name search looks for: the stored `search` column is lower-cased subject and SANs, one per line. */
export const nameNeedle = (name: string): string => name.toLowerCase();

/** Refuses a filter the indexes cannot answer (RampartError 'malformed', a 400). */
export function checkFilter(filter: CertificateFilter): void {
  if (filter.name && [...nameNeedle(filter.name)].length < MIN_NAME_LENGTH) {
    throw new RampartError('malformed', `name must be at least ${MIN_NAME_LENGTH} characters (the search index works on trigrams); got "${filter.name}"`);
  }
  const days = filter.expiringWithinDays;
  if (days !== undefined && !(Number.isInteger(days) && days >= 0 && days <= 36500)) {
    throw new RampartError('malformed', `expiringWithinDays must be a whole number from 0 to 36500 (got ${String(days)})`);
  }
  if (filter.status !== undefined && !['good', 'revoked', 'expired'].includes(filter.status)) {
    throw new RampartError('malformed', `status must be good, revoked or expired (got "${String(filter.status)}")`);
  }
}

/**
 * The conditions of every filter but `name`, ANDed, with values bound
 * through `p` (which returns the placeholder), columns of `table` when given.
 */
export function filterConditions(filter: CertificateFilter, now: Date, p: (v: string | number) => string, table = ''): string[] {
  const t = table ? `${table}.` : '';
  const where: string[] = [];
  let nowRef: string | undefined;
  const nowP = () => (nowRef ??= p(now.getTime()));
  if (filter.status === 'good') where.push(`${t}status = 'good' AND ${t}not_after > ${nowP()}`);
  else if (filter.status === 'revoked') where.push(`${t}status = 'revoked'`);
  else if (filter.status === 'expired') where.push(`${t}not_after <= ${nowP()}`);
  if (filter.expiringWithinDays !== undefined) {
    where.push(`${t}status = 'good' AND ${t}not_after > ${nowP()} AND ${t}not_after <= ${p(now.getTime() + filter.expiringWithinDays * 86_400_000)}`);
  }
  if (filter.issuerId) where.push(`${t}issuer_id = ${p(filter.issuerId)}`);
  if (filter.profile) where.push(`${t}profile = ${p(filter.profile)}`);
  return where.map((w) => `(${w})`);
}

/**
 * A page's total is counted up to this many matches and then reported as
 * "10,000+" (`totalCapped`): counting every match of a broad filter at ten
 * million rows costs seconds, a capped count a few milliseconds. The export
 * (or `countCertificates` for the whole inventory) gives exact numbers.
 */
export const TOTAL_COUNT_CAP = 10_000;

/** A first-page total: exact below the cap. */
export interface PageTotal {
  total: number;
  capped: boolean;
}

/** The total of `counted` matches (counted with a LIMIT of cap + 1). */
export function cappedTotal(counted: number, cap: number): PageTotal {
  return counted > cap ? { total: cap, capped: true } : { total: counted, capped: false };
}

export interface PageCursor {
  /** Rows with seq above this come next. */
  afterSeq: number;
  /** The total counted for the first page (absent in a cursor from an older node: then it is counted again). */
  total?: PageTotal;
}

/** `<seq>.<total>` or `<seq>.<cap>+`: opaque to clients. */
export function encodeCursor(afterSeq: number, total: PageTotal): string {
  return `${afterSeq}.${total.total}${total.capped ? '+' : ''}`;
}

export function decodeCursor(cursor: string | undefined): PageCursor {
  if (cursor === undefined || cursor === '') return { afterSeq: 0 };
  const m = /^([0-9]{1,18})(?:\.([0-9]{1,18})(\+?))?$/.exec(cursor);
  if (!m) throw new RampartError('malformed', `"${cursor}" is not a cursor returned by this API`);
  return { afterSeq: Number(m[1]), ...(m[2] !== undefined ? { total: { total: Number(m[2]), capped: m[3] === '+' } } : {}) };
}

/** The page as the store returns it, from the rows fetched (limit + 1 of them) and the total. */
export function pageOf<R, T>(rows: R[], limit: number, total: PageTotal, seqOf: (r: R) => number, map: (r: R) => T): Page<T> {
  const more = rows.length > limit;
  const items = rows.slice(0, limit);
  return {
    items: items.map(map),
    total: total.total,
    ...(total.capped ? { totalCapped: true } : {}),
    nextCursor: more ? encodeCursor(seqOf(items[items.length - 1]!), total) : null,
  };
}
