/**
 * Restore a backup into a NEW place, checked before any node may use it:
 * - SQLite: into an empty data directory. Everything is written to a temporary
 *   directory next to it, checked there, and moved into place only when every
 *   check passed.
 * - PostgreSQL: into an empty database with pg_restore (one transaction),
 *   checked, and emptied again if a check fails.
 * Checks: every part decrypts and matches its sha256 and size (fetch), the
 * audit chain verifies, record counts and audit head match the manifest, and
 * the CRL counters are at least the manifest's numbers (the next CRL gets a
 * higher number than any CRL published from the backed-up data).
 *
 * With `reconcileFrom` (a forwarded audit copy, file or directory), what was
 * issued and revoked after the backup is then put back from it
 * (src/integrity/reconcile.ts) before the restored database is handed over,
 * and the result names every certificate that could not be recovered.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../core/clock.js';
import type { Actor } from '../core/actor.js';
import { openPostgresRestoreTarget, openSqliteRestoreTarget } from '../storage/restore-targets.js';
import type { Store } from '../storage/store.js';
import type { BackupService, FetchedBackup } from './backup-service.js';
import { storeFacts } from '../storage/database-snapshot.js';
import type { BackupManifest } from './manifest.js';
import { auditReconcile, reconcileFromAudit, type ReconcileReport } from '../integrity/reconcile.js';
import type { ProgressFn } from './progress.js';
import { findPgBinary, conninfo, runPgToolWithInput, type PgConnection } from '../storage/pg-tools.js';

export class RestoreCheckError extends Error {
  override name = 'RestoreCheckError';
}

/** Config files may already be in the new data directory; anything else makes it "not empty". */
const ALLOWED_IN_NEW_DIR = new Set(['rampart.yaml', 'rampart.yml', 'rampart.json']);

export interface RestoreResult {
  id: string;
  target: string;
  manifest: BackupManifest;
  checks: string[];
  location: string;
  /** The reconciliation from the audit copy, when asked for. */
  reconcile?: ReconcileReport;
}

interface ReconcileOption {
  /** A forwarded audit copy (JSON lines, or a directory of rotated files) to reconcile the restored database from. */
  reconcileFrom?: string;
}

/** Integrity checks on a restored store; throws RestoreCheckError naming the first failure. */
export async function checkRestoredStore(store: Store, m: BackupManifest, clock: Clock): Promise<string[]> {
  const checks: string[] = [];
  const v = await new AuditLog({ store, clock }).verify();
  if (!v.ok) throw new RestoreCheckError(`the restored audit chain is broken at entry ${v.problem!.seq}: ${v.problem!.reason}`);
  checks.push(`audit chain verifies (${v.entries} entries)`);
  const f = await storeFacts(store);
  const want = m.counts;
  for (const k of ['certificates', 'revoked', 'auditEntries', 'issuers'] as const) {
    if (f.counts[k] !== want[k]) throw new RestoreCheckError(`restored ${k}: ${f.counts[k]}, the manifest says ${want[k]}`);
  }
  if (f.position.auditHead !== m.database.position.auditHead) throw new RestoreCheckError(`the restored audit head ${f.position.auditHead} is not the manifest's ${m.database.position.auditHead}`);
  checks.push(`counts match the manifest (${want.certificates} certificates, ${want.revoked} revoked, ${want.auditEntries} audit entries, ${want.issuers} issuers)`);
  for (const [issuer, n] of Object.entries(m.crlNumbers)) {
    const got = f.crlNumbers[issuer];
    if (got === undefined || BigInt(got) < BigInt(n)) throw new RestoreCheckError(`the restored CRL counter of ${issuer} is ${got ?? 'missing'}, below the manifest's ${n}: CRL numbers would go backwards`);
  }
  checks.push(`CRL counters continue upwards (${Object.entries(m.crlNumbers).map(([k, n]) => `${k} at ≥ ${n}`).join(', ') || 'no CRLs yet'})`);
  return checks;
}

function refuseNonEmpty(dataDir: string): void {
  if (!existsSync(dataDir)) return;
  const extra = readdirSync(dataDir).filter((n) => !ALLOWED_IN_NEW_DIR.has(n));
  if (extra.length) throw new Error(`refusing to restore into ${dataDir}: it is not empty (${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', …' : ''}); restore into a new directory`);
}

/** Audits the restore in the restored database, then reconciles it from the audit copy when asked. */
async function recordRestore(store: Store, clock: Clock, actor: Actor, f: FetchedBackup, reconcileFrom: string | undefined): Promise<ReconcileReport | undefined> {
  const audit = new AuditLog({ store, clock });
  await audit.record({
    actor: actor.id, source: actor.source, channel: actor.channel, action: 'backup.restore', target: `backup:${f.manifest.id}`, outcome: 'success',
    details: { target: f.target, createdAt: f.manifest.createdAt, nodeId: f.manifest.nodeId, counts: f.manifest.counts, crlNumbers: f.manifest.crlNumbers },
  });
  if (reconcileFrom === undefined) return undefined;
  const r = await reconcileFromAudit(store, audit, reconcileFrom);
  await auditReconcile(audit, actor, reconcileFrom, r);
  return r;
}

export async function restoreSqlite(o: ReconcileOption & {
  backups: BackupService; id?: string; target?: string; dataDir: string; dbPath: string; clock: Clock; actor: Actor; onProgress?: ProgressFn;
}): Promise<RestoreResult> {
  const dataDir = resolve(o.dataDir);
  refuseNonEmpty(dataDir);
  const dbRel = relative(dataDir, resolve(o.dbPath));
  if (dbRel.startsWith('..') || isAbsolute(dbRel)) throw new Error(`database.path ${o.dbPath} is outside the data directory ${dataDir}; restore needs it inside`);
  const loc = await o.backups.locate(o.id, o.target);
  const manifest = await o.backups.readManifest(loc.target, loc.id);
  if (manifest.database.kind !== 'sqlite') throw new Error(`backup ${loc.id} is of a PostgreSQL database: restore it with --database-url (or the configuration's database settings)`);
  if (!manifest.parts.some((p) => p.name === 'database.sqlite')) throw new Error(`backup ${loc.id} has no database.sqlite part`);

  mkdirSync(dirname(dataDir), { recursive: true });
  const tmp = join(dirname(dataDir), `.${basename(dataDir)}.restore-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp, { mode: 0o700 });
  try {
    const tmpDb = join(tmp, dbRel);
    mkdirSync(dirname(tmpDb), { recursive: true, mode: 0o700 });
    // Streamed: download → decrypt → the staging file, checked before anything is moved into place.
    const f = await o.backups.fetch(loc.id, loc.target, { manifest, toFiles: { 'database.sqlite': tmpDb }, keep: ['keys.json'], onProgress: o.onProgress, phase: 'download' });
    const keys = f.parts.get('keys.json');
    if (keys) {
      const files = (JSON.parse(keys.toString('utf8')) as { sealedKeyFiles: Record<string, string> }).sealedKeyFiles;
      mkdirSync(join(tmp, 'keys'), { mode: 0o700 });
      for (const [name, b64] of Object.entries(files)) {
        if (name !== basename(name) || name.startsWith('.')) throw new RestoreCheckError(`keys.json names an invalid file ${name}`);
        writeFileSync(join(tmp, 'keys', name), Buffer.from(b64, 'base64'), { mode: 0o600 });
      }
    }
    const store = openSqliteRestoreTarget(tmpDb);
    let checks: string[];
    let reconcile: ReconcileReport | undefined;
    try {
      checks = await checkRestoredStore(store, f.manifest, o.clock);
      if (keys) checks.push(`${Object.keys(JSON.parse(keys.toString('utf8')).sealedKeyFiles).length} sealed key files restored`);
      reconcile = await recordRestore(store, o.clock, o.actor, f, o.reconcileFrom);
      store.checkpoint();
    } finally {
      await store.close();
    }
    // Every check passed: move into place.
    if (!existsSync(dataDir)) {
      renameSync(tmp, dataDir);
    } else {
      for (const n of readdirSync(tmp)) renameSync(join(tmp, n), join(dataDir, n));
      rmdirSync(tmp);
    }
    chmodSync(dataDir, 0o700);
    return { id: loc.id, target: loc.target.name, manifest, checks, location: dataDir, ...(reconcile ? { reconcile } : {}) };
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

export async function restorePostgres(o: ReconcileOption & {
  backups: BackupService; id?: string; target?: string; conn: PgConnection; clock: Clock; actor: Actor; onProgress?: ProgressFn;
}): Promise<RestoreResult> {
  const loc = await o.backups.locate(o.id, o.target);
  const manifest = await o.backups.readManifest(loc.target, loc.id);
  if (manifest.database.kind !== 'postgres') throw new Error(`backup ${loc.id} is of a SQLite database: restore it with --data-dir NEW_DIR`);
  if (!manifest.parts.some((p) => p.name === 'database.pgdump')) throw new Error(`backup ${loc.id} has no database.pgdump part`);
  const where = conninfo(o.conn);
  const store = openPostgresRestoreTarget(o.conn);
  try {
    const tables = await store.countTables();
    if (tables > 0) throw new Error(`refusing to restore into ${where}: the database is not empty (${tables} tables); restore into a new database`);
    const pgRestore = findPgBinary('pg_restore');
    try {
      // Streamed into pg_restore's stdin (the plaintext dump never touches disk); one transaction, so a
      // stream that fails (a truncated or altered object) commits nothing.
      const f = await o.backups.fetch(loc.id, loc.target, {
        manifest, onProgress: o.onProgress, phase: 'download',
        sinks: { 'database.pgdump': (plain) => runPgToolWithInput(pgRestore, ['--single-transaction', '--exit-on-error', '--no-owner', '--no-privileges', `--dbname=${where}`], o.conn.password, plain) },
      });
      const checks = await checkRestoredStore(store, f.manifest, o.clock);
      const reconcile = await recordRestore(store, o.clock, o.actor, f, o.reconcileFrom);
      return { id: loc.id, target: loc.target.name, manifest: f.manifest, checks, location: where, ...(reconcile ? { reconcile } : {}) };
    } catch (e) {
      // Leave the database as empty as it was.
      await store.dropEverything();
      throw e;
    }
  } finally {
    await store.close();
  }
}
