/**
 * PostgreSQL's own evidence of damaged files, for the integrity check
 * (database-integrity.ts):
 *
 * - `postgres.read`: every table of Rampart's schema read sequentially (index
 *   scans off), so every heap page passes the server's page checks: with data
 *   checksums on (`initdb -k`) a damaged page fails with "invalid page in
 *   block …" (SQLSTATE XX001) and is counted in checksum_failures;
 * - `postgres.checksums`: `pg_stat_database.checksum_failures` of this
 *   database (cumulative until `pg_stat_reset()`), and whether checksums are on;
 * - `postgres.amcheck`: with the amcheck extension installed (by a superuser,
 *   with EXECUTE granted to Rampart's role: docs/runbooks/database-corruption.md),
 *   `bt_index_check` on every B-tree index and `verify_heapam` on every table.
 *
 * Each statement runs with statement_timeout set to what is left of the budget.
 */
import type { Sql } from 'postgres';
import { MAX_PROBLEMS, isCorruptionError, type DatabaseIntegrityOptions, type IntegrityFinding } from '../database-integrity.js';
import { transaction, type PgPool } from './pg-pool.js';

interface Relation { oid: number; name: string; kind: 'r' | 'i' }

export async function postgresIntegrity(pool: PgPool, o: DatabaseIntegrityOptions): Promise<IntegrityFinding[]> {
  const deadline = Date.now() + o.budgetMs;
  const left = (): number => Math.max(1000, deadline - Date.now());
  const sql = pool.sql;
  let rels: Relation[];
  try {
    rels = (await sql<Array<{ oid: number; name: string; kind: 'r' | 'i' }>>`
      SELECT c.oid::int AS oid, c.relname AS name, c.relkind AS kind
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_am am ON am.oid = c.relam
      WHERE n.nspname = current_schema() AND (c.relkind = 'r' OR (c.relkind = 'i' AND am.amname = 'btree'))
      ORDER BY c.relkind DESC, c.relname`).map((r) => ({ ...r }));
  } catch (e) {
    return [{ check: 'postgres.read', status: 'error', detail: `could not list Rampart's tables: ${(e as Error).message}` }];
  }
  const tables = rels.filter((r) => r.kind === 'r');
  const indexes = rels.filter((r) => r.kind === 'i');
  const out: IntegrityFinding[] = [];
  out.push(await readTables(sql, tables, deadline, left));
  out.push(await checksums(sql));
  out.push(await amcheck(sql, tables, indexes, o, deadline, left));
  return out;
}

async function readTables(sql: Sql, tables: Relation[], deadline: number, left: () => number): Promise<IntegrityFinding> {
  const problems: string[] = [];
  let read = 0;
  let errors = 0;
  for (const t of tables) {
    if (Date.now() >= deadline) break;
    try {
      await transaction(sql, async (tx) => {
        await tx.unsafe(`SET LOCAL statement_timeout = ${left()}; SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off; SET LOCAL enable_bitmapscan = off`);
        await tx.unsafe(`SELECT count(*) FROM ${quoteIdent(t.name)}`);
      });
      read++;
    } catch (e) {
      const corrupt = isCorruptionError(e);
      if (!corrupt) errors++;
      problems.push(corrupt ? `table ${t.name}: ${(e as Error).message}` : `table ${t.name}: could not read (${(e as Error).message})`);
    }
  }
  const corrupt = problems.filter((p) => !p.includes('could not read ('));
  if (corrupt.length) return { check: 'postgres.read', status: 'corrupt', detail: `${corrupt.length} table(s) cannot be read: ${corrupt[0]}`, problems: problems.slice(0, MAX_PROBLEMS) };
  if (errors || read < tables.length) {
    return { check: 'postgres.read', status: 'error', detail: `read ${read} of ${tables.length} tables${errors ? `; ${errors} failed: ${problems[0]}` : ' before the time budget ran out'}`, problems };
  }
  return { check: 'postgres.read', status: 'ok', detail: `every page of ${tables.length} tables read` };
}

async function checksums(sql: Sql): Promise<IntegrityFinding> {
  try {
    const [on] = await sql<Array<{ v: string }>>`SELECT current_setting('data_checksums') AS v`;
    const [st] = await sql<Array<{ failures: string | null; last: Date | null }>>`
      SELECT checksum_failures::text AS failures, checksum_last_failure AS last FROM pg_stat_database WHERE datname = current_database()`;
    const failures = Number(st?.failures ?? 0);
    if (failures > 0) {
      return {
        check: 'postgres.checksums', status: 'corrupt',
        detail: `pg_stat_database.checksum_failures = ${failures} for this database (last ${st?.last?.toISOString() ?? 'unknown'}): pages on disk do not match their checksums. `
          + 'The count stays until SELECT pg_stat_reset() after the repair.',
        problems: [`checksum_failures=${failures}`],
      };
    }
    if (on?.v !== 'on') return { check: 'postgres.checksums', status: 'skipped', detail: 'data checksums are off on this cluster (initdb -k, or pg_checksums --enable while it is stopped): damaged heap pages may go unnoticed' };
    return { check: 'postgres.checksums', status: 'ok', detail: 'data checksums on; no checksum failures recorded for this database' };
  } catch (e) {
    return { check: 'postgres.checksums', status: 'error', detail: `could not read pg_stat_database: ${(e as Error).message}` };
  }
}

async function amcheck(sql: Sql, tables: Relation[], indexes: Relation[], o: DatabaseIntegrityOptions, deadline: number, left: () => number): Promise<IntegrityFinding> {
  let installed: boolean;
  try {
    installed = (await sql`SELECT 1 FROM pg_extension WHERE extname = 'amcheck'`).length > 0;
  } catch (e) {
    return { check: 'postgres.amcheck', status: 'error', detail: `could not look for amcheck: ${(e as Error).message}` };
  }
  if (!installed) {
    return { check: 'postgres.amcheck', status: 'skipped', detail: 'the amcheck extension is not installed in this database (as a superuser: CREATE EXTENSION amcheck; GRANT EXECUTE ON FUNCTION bt_index_check(regclass), verify_heapam(regclass, boolean, boolean, text, bigint, bigint) TO <rampart role>)' };
  }
  const problems: string[] = [];
  let errors = 0;
  let done = 0;
  const run = async (what: string, q: (tx: Sql) => Promise<string[]>): Promise<void> => {
    try {
      const found = await transaction(sql, async (tx) => {
        await tx.unsafe(`SET LOCAL statement_timeout = ${left()}`);
        return q(tx as unknown as Sql);
      });
      problems.push(...found.map((f) => `${what}: ${f}`));
      done++;
    } catch (e) {
      if (isCorruptionError(e)) { problems.push(`${what}: ${(e as Error).message}`); done++; } else { errors++; problems.push(`${what}: could not check (${(e as Error).message})`); }
    }
  };
  for (const i of indexes) {
    if (Date.now() >= deadline) break;
    await run(`index ${i.name}`, async (tx) => { await tx`SELECT bt_index_check(${i.oid}::oid::regclass)`; return []; });
  }
  for (const t of tables) {
    if (Date.now() >= deadline) break;
    await run(`table ${t.name}`, async (tx) => (await tx<Array<{ blkno: string; offnum: number | null; msg: string }>>`
      SELECT blkno::text, offnum, msg FROM verify_heapam(${t.oid}::oid::regclass, on_error_stop => false, check_toast => ${o.level === 'full'}) LIMIT ${MAX_PROBLEMS}`)
      .map((r) => `block ${r.blkno}${r.offnum !== null ? ` offset ${r.offnum}` : ''}: ${r.msg}`));
  }
  const corrupt = problems.filter((p) => !p.includes(': could not check ('));
  const total = indexes.length + tables.length;
  if (corrupt.length) return { check: 'postgres.amcheck', status: 'corrupt', detail: `amcheck found ${corrupt.length} problem(s): ${corrupt[0]}`, problems: problems.slice(0, MAX_PROBLEMS) };
  if (errors || done < total) return { check: 'postgres.amcheck', status: 'error', detail: `amcheck checked ${done} of ${total} relations${errors ? `; ${errors} failed: ${problems[0]}` : ' before the time budget ran out'}`, problems };
  return { check: 'postgres.amcheck', status: 'ok', detail: `bt_index_check on ${indexes.length} indexes and verify_heapam on ${tables.length} tables: no problems` };
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
