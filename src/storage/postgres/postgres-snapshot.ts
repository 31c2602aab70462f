/**
 * The PostgreSQL database part of a backup: one REPEATABLE READ transaction
 * exports its snapshot; the counts and the WAL position are read in it and
 * pg_dump --snapshot dumps that same snapshot (custom format).
 */
import type { DatabaseSnapshot, SnapshotFacts, SnapshotProgress } from '../store.js';
import { watchFileGrowth } from '../file-growth.js';
import { conninfo, findPgBinary, runPgTool, type PgConnection } from '../pg-tools.js';
import { transaction, type PgPool } from './pg-pool.js';

export async function snapshotPostgres(pool: PgPool, conn: PgConnection, tmpFile: string, onProgress?: SnapshotProgress): Promise<DatabaseSnapshot> {
  const pgDump = findPgBinary('pg_dump');
  // transaction(): pg_dump runs while this transaction holds the snapshot open; if the connection
  // is lost meanwhile, nothing more may be sent on it (see pg-pool.ts).
  const facts = await pool.once('backup', (sql) => transaction(sql, async (tx) => {
    const [s] = await tx`SELECT pg_export_snapshot() AS snap, pg_current_wal_lsn()::text AS lsn`;
    const [c] = await tx`SELECT count(*)::int AS total, (count(*) FILTER (WHERE status = 'revoked'))::int AS revoked FROM certificates`;
    const [a] = await tx`SELECT count(*)::int AS n, COALESCE(max(seq), 0)::int AS seq FROM audit_log`;
    const [h] = await tx`SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1`;
    const [i] = await tx`SELECT count(*)::int AS n FROM issuers`;
    const counters = await tx`SELECT issuer_id, last_number::text AS n FROM crl_counters`;
    // The dump is compressed: its size is not known in advance (no total, no ETA).
    const stop = watchFileGrowth(tmpFile, undefined, onProgress);
    await runPgTool(pgDump, ['--format=custom', '--no-owner', '--no-privileges', `--snapshot=${String(s!.snap)}`, `--file=${tmpFile}`, `--dbname=${conninfo(conn)}`], conn.password).finally(stop);
    const f: SnapshotFacts = {
      position: { auditSeq: Number(a!.seq), auditHead: h ? String(h.hash) : '', certificates: Number(c!.total), walLsn: String(s!.lsn) },
      counts: { certificates: Number(c!.total), revoked: Number(c!.revoked), auditEntries: Number(a!.n), issuers: Number(i!.n) },
      crlNumbers: Object.fromEntries(counters.map((r) => [String(r.issuer_id), String(r.n)])),
    };
    return f;
  }, 'isolation level repeatable read read only'), 6 * 3_600_000);
  return { partName: 'database.pgdump', file: tmpFile, facts: facts as SnapshotFacts };
}

/** Last CRL number allocated per issuer. */
export async function postgresCrlCounters(pool: PgPool): Promise<Record<string, bigint>> {
  const out: Record<string, bigint> = {};
  const rows = await pool.run('crlCounters', (sql) => sql`SELECT issuer_id, last_number::text AS n FROM crl_counters`);
  for (const r of rows) out[String(r.issuer_id)] = BigInt(String(r.n));
  return out;
}
