/**
 * The database part of a backup, taken so that the counts in the manifest
 * describe exactly what was dumped:
 * - SQLite: an online backup (better-sqlite3 `backup`) to a file, and the
 *   counts read from that copy;
 * - PostgreSQL: one REPEATABLE READ transaction exports its snapshot; the
 *   counts and the WAL position are read in it and pg_dump --snapshot dumps
 *   that same snapshot (custom format).
 */
import { readFileSync } from 'node:fs';
import { SqliteStore } from '../storage/sqlite/sqlite-store.js';
import { PostgresStore } from '../storage/postgres/postgres-store.js';
import { transaction } from '../storage/postgres/pg-pool.js';
import type { Store } from '../storage/store.js';
import { conninfo, findPgBinary, runPgTool, type PgConnection } from './pg-tools.js';

export interface SnapshotFacts {
  position: { auditSeq: number; auditHead: string; certificates: number; walLsn?: string };
  counts: { certificates: number; revoked: number; auditEntries: number; issuers: number };
  crlNumbers: Record<string, string>;
}

export interface DatabaseSnapshot {
  partName: 'database.sqlite' | 'database.pgdump';
  data: Buffer;
  facts: SnapshotFacts;
}

/** Last CRL number allocated per issuer (the counters, not the saved CRLs). */
export async function readCrlCounters(store: Store): Promise<Record<string, bigint>> {
  const out: Record<string, bigint> = {};
  if (store instanceof SqliteStore) {
    for (const r of store.db.prepare('SELECT issuer_id, last_number FROM crl_counters').all() as Array<{ issuer_id: string; last_number: number }>) out[r.issuer_id] = BigInt(r.last_number);
  } else if (store instanceof PostgresStore) {
    const rows = await store.pool.run('crlCounters', (sql) => sql`SELECT issuer_id, last_number::text AS n FROM crl_counters`);
    for (const r of rows) out[String(r.issuer_id)] = BigInt(String(r.n));
  } else {
    throw new Error(`backups do not support the ${store.kind} store`);
  }
  return out;
}

/** Counts through the Store interface (used on the SQLite copy and after a restore). */
export async function storeFacts(store: Store): Promise<SnapshotFacts> {
  const c = await store.countCertificates();
  let n = 0;
  for await (const _ of store.iterateAudit()) n++;
  const last = await store.lastAudit();
  const issuers = (await store.listIssuers()).length;
  const counters = await readCrlCounters(store);
  return {
    position: { auditSeq: last?.seq ?? 0, auditHead: last?.hash ?? '', certificates: c.total },
    counts: { certificates: c.total, revoked: c.revoked, auditEntries: n, issuers },
    crlNumbers: Object.fromEntries(Object.entries(counters).map(([k, v]) => [k, v.toString()])),
  };
}

export async function snapshotSqlite(store: SqliteStore, tmpFile: string): Promise<DatabaseSnapshot> {
  await store.snapshot(tmpFile);
  const copy = new SqliteStore({ path: tmpFile });
  let facts: SnapshotFacts;
  try {
    facts = await storeFacts(copy);
    copy.db.pragma('journal_mode = DELETE');
  } finally {
    await copy.close();
  }
  return { partName: 'database.sqlite', data: readFileSync(tmpFile), facts };
}

export async function snapshotPostgres(store: PostgresStore, conn: PgConnection, tmpFile: string): Promise<DatabaseSnapshot> {
  const pgDump = findPgBinary('pg_dump');
  // transaction(): pg_dump runs while this transaction holds the snapshot open; if the connection
  // is lost meanwhile, nothing more may be sent on it (see pg-pool.ts).
  const facts = await store.pool.once('backup', (sql) => transaction(sql, async (tx) => {
    const [s] = await tx`SELECT pg_export_snapshot() AS snap, pg_current_wal_lsn()::text AS lsn`;
    const [c] = await tx`SELECT count(*)::int AS total, (count(*) FILTER (WHERE status = 'revoked'))::int AS revoked FROM certificates`;
    const [a] = await tx`SELECT count(*)::int AS n, COALESCE(max(seq), 0)::int AS seq FROM audit_log`;
    const [h] = await tx`SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1`;
    const [i] = await tx`SELECT count(*)::int AS n FROM issuers`;
    const counters = await tx`SELECT issuer_id, last_number::text AS n FROM crl_counters`;
    await runPgTool(pgDump, ['--format=custom', '--no-owner', '--no-privileges', `--snapshot=${String(s!.snap)}`, `--file=${tmpFile}`, `--dbname=${conninfo(conn)}`], conn.password);
    const f: SnapshotFacts = {
      position: { auditSeq: Number(a!.seq), auditHead: h ? String(h.hash) : '', certificates: Number(c!.total), walLsn: String(s!.lsn) },
      counts: { certificates: Number(c!.total), revoked: Number(c!.revoked), auditEntries: Number(a!.n), issuers: Number(i!.n) },
      crlNumbers: Object.fromEntries(counters.map((r) => [String(r.issuer_id), String(r.n)])),
    };
    return f;
  }, 'isolation level repeatable read read only'), 6 * 3_600_000);
  return { partName: 'database.pgdump', data: readFileSync(tmpFile), facts: facts as SnapshotFacts };
}
