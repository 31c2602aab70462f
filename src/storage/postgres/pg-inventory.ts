/** The inventory filter as PostgreSQL SQL (postgres-store.ts lists and exports with it). */
import type { CertificateFilter } from '../../core/types.js';
import { checkFilter, filterConditions, nameNeedle } from '../inventory-query.js';

/** The inventory filter as PostgreSQL conditions: a name is a LIKE the pg_trgm GIN index answers (backslash is LIKE's default escape). */
export function pgInventoryWhere(filter: CertificateFilter, now: Date): { where: string[]; args: Array<string | number> } {
  checkFilter(filter);
  const args: Array<string | number> = [];
  const p = (v: string | number) => { args.push(v); return `$${args.length}`; };
  const where = filterConditions(filter, now, p);
  if (filter.name) where.unshift(`search LIKE ${p(`%${nameNeedle(filter.name).replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`)}`);
  return { where, args };
}

/** Rows matching `where` after a seq ($n+1), in seq order, at most $n+2 of them. */
export function pgPageSql(where: string[], nArgs: number, cols: string): string {
  return `SELECT ${cols} FROM certificates WHERE ${[...where, `seq > $${nArgs + 1}`].join(' AND ')} ORDER BY seq LIMIT $${nArgs + 2}`;
}
