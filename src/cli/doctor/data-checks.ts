/**
 * `rampart doctor`, checks of the data directory and its database: public
 * base URL, clock skew against the database, disk headroom, CA and OCSP
 * signer expiry, backup and drill freshness, replication. The node's own
 * health checks (src/health) are reused where they already judge the same
 * thing (disk, CA expiry, drills); doctor is stricter where production needs
 * more than a healthy dev node (a backup target and a backup, drills passed,
 * a replica).
 */
import type { RampartNode } from '../../main/node.js';
import type { HealthReport } from '../../health/health.js';
import { readStandbys } from '../../storage/region-sql.js';
import { sqlDatabaseOf } from '../../storage/sql-database.js';
import { backupReference } from '../../backup/backup-schedule.js';
import { readDrillSummaries } from '../../dr/drill-records.js';
import { applicableScenarios } from '../../dr/drill-schedule.js';
import { fail, ok, warn, type Finding } from './findings.js';

const DAY = 86_400_000;
const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\]|0\.0\.0\.0|\[::\])$/i;
/** Clock skew against the database: warn above 1 s, fail above 5 s (leases and OCSP times follow the clocks). */
export const SKEW_WARN_MS = 1000;
export const SKEW_FAIL_MS = 5000;
/** Standby lag (WAL bytes not replayed) above which doctor warns. */
export const STANDBY_LAG_WARN_BYTES = 16 * 1024 * 1024;

function fromHealth(report: HealthReport, name: string, check: string, fix: string): Finding {
  const c = report.checks[name];
  if (!c) return fail(check, `no ${name} health check in this node`, fix);
  return c.status === 'pass' ? ok(check, c.detail) : (c.status === 'warn' ? warn : fail)(check, c.detail, fix);
}

export function publicBaseUrlCheck(node: RampartNode): Finding {
  const url = new URL(node.config.publicBaseUrl);
  if (LOOPBACK.test(url.hostname) || LOOPBACK.test(`[${url.hostname}]`)) {
    return fail('publicBaseUrl', `${node.config.publicBaseUrl}: a loopback address, written into every certificate's AIA and CRL distribution point; relying parties elsewhere cannot reach it`,
      'set publicBaseUrl in rampart.yaml (or RAMPART_PUBLIC_BASE_URL) to the address relying parties use for OCSP and CRLs, e.g. http://pki.example.com, before issuing production certificates');
  }
  return ok('publicBaseUrl', node.config.publicBaseUrl);
}

export async function clockSkewCheck(node: RampartNode): Promise<Finding> {
  const db = sqlDatabaseOf(node.store);
  if (!db) return ok('clockSkew', 'SQLite: the database uses this host\'s clock');
  const t0 = Date.now();
  const [row] = await db.once('doctor-clock', (sql) => sql`SELECT (extract(epoch from clock_timestamp()) * 1000)::float8 AS now`, 5000);
  const t1 = Date.now();
  const skew = Number(row!.now) - (t0 + t1) / 2;
  const detail = `this host is ${Math.abs(skew).toFixed(0)} ms ${skew > 0 ? 'behind' : 'ahead of'} the database (round trip ${t1 - t0} ms)`;
  const fix = 'synchronize the clocks of this host and the database server (chrony or systemd-timesyncd against the same NTP servers)';
  if (Math.abs(skew) > SKEW_FAIL_MS) return fail('clockSkew', detail, fix);
  return Math.abs(skew) > SKEW_WARN_MS ? warn('clockSkew', detail, fix) : ok('clockSkew', detail);
}

export function diskCheck(report: HealthReport): Finding {
  return fromHealth(report, 'diskSpace', 'disk', 'free space in the data directory\'s file system or grow it (thresholds: health.diskFreeMinBytes, health.diskFreeCriticalBytes)');
}

export function caExpiryCheck(report: HealthReport): Finding {
  return fromHealth(report, 'caExpiry', 'caExpiry', '`rampart ca rotate` (or, with an offline root, `rampart ca request` + `rampart root sign` + `rampart ca import`): docs/runbooks/offline-root.md');
}

export function ocspSignerCheck(node: RampartNode): Finding {
  const now = node.clock.now().getTime();
  const renewBefore = node.config.hierarchy.ocspSigner.renewBeforeDays;
  const fix = 'a running leader renews OCSP signers hourly: check that a node holds the leader lease, its key backend is healthy, and its log for "background job failed"; restarting the leader retries at once';
  const parts: string[] = [];
  let status: 'ok' | 'warn' | 'fail' = 'ok';
  for (const ca of node.ca.cas()) {
    if (ca.notAfter.getTime() <= now || ca.kind === 'root') continue;
    const s = node.ca.ocspSignerOf(ca.id);
    if (!s) { status = 'fail'; parts.push(`${ca.id}: no valid OCSP signer (the responder answers unauthorized)`); continue; }
    const days = (s.notAfter.getTime() - now) / DAY;
    if (days < renewBefore - 1 && status === 'ok') status = 'warn';
    parts.push(`${ca.id}: signer valid ${Math.floor(days)} more day(s)${days < renewBefore - 1 ? `, renewal (due ${renewBefore} days before) overdue` : ''}`);
  }
  const detail = parts.join('; ') || 'no CA serving OCSP';
  return status === 'ok' ? ok('ocspSigner', detail) : (status === 'warn' ? warn : fail)('ocspSigner', detail, fix);
}

export async function backupCheck(node: RampartNode, report: HealthReport): Promise<Finding> {
  if (node.config.backup.targets.length === 0) {
    return fail('backup', 'no backup targets configured: nothing protects the CA\'s keys and database against the loss of this host',
      'add backup.targets (a directory on other storage, or S3) and the passphrase in RAMPART_BACKUP_PASSPHRASE, then `rampart backup create`: docs/runbooks/backup-restore.md');
  }
  const { last } = await backupReference(node.store);
  if (!last) return warn('backup', 'no backup yet', '`rampart backup create` now (the schedule, backup.scheduleMinutes, makes the next ones)');
  return fromHealth(report, 'backup', 'backup', '`rampart backup create`; check the leader\'s log for failed scheduled backups and the targets\' reachability');
}

export async function drillCheck(node: RampartNode, report: HealthReport): Promise<Finding> {
  const summaries = await readDrillSummaries(node.store);
  const never = applicableScenarios(node.config).filter((s) => !summaries[s]?.lastSuccessAt);
  if (never.length) {
    return warn('drills', `never passed: ${never.join(', ')}`,
      `run them (\`rampart drill run ${never[0]}\`, ...) and schedule them (deploy/systemd/rampart-drill@.timer): docs/runbooks/dr-drills.md`);
  }
  return fromHealth(report, 'drills', 'drills', '`rampart drill run SCENARIO` for the scenarios named; `rampart drill history` shows why a run failed');
}

export async function replicationCheck(node: RampartNode, report: HealthReport): Promise<Finding> {
  const db = sqlDatabaseOf(node.store);
  const ha = 'docs/runbooks/database-ha.md';
  if (!db) {
    return warn('replication', 'SQLite: no database replica; what was issued since the last backup is lost with this host (the issuance tier\'s RPO is 0)',
      `for production use PostgreSQL with a synchronous standby (${ha})`);
  }
  if (report.checks.region) return fromHealth(report, 'region', 'replication', 'docs/runbooks/cross-region-dr.md#lag');
  const standbys = await db.once('doctor-standbys', (sql) => readStandbys(sql), 5000);
  if (standbys.length === 0) return warn('replication', 'the PostgreSQL primary has no streaming standby', `add a synchronous standby (${ha})`);
  if (standbys.every((s) => s.lagBytes === null)) {
    return warn('replication', `${standbys.length} standby(s), positions hidden from this role`, 'GRANT pg_monitor TO the nodes\' role (for doctor and rampart_replication_standby_lag_bytes)');
  }
  const detail = standbys.map((s) => `${s.name} ${s.syncState} ${s.lagBytes ?? '?'} bytes behind`).join('; ');
  if (standbys.some((s) => (s.lagBytes ?? 0) > STANDBY_LAG_WARN_BYTES)) return warn('replication', detail, 'check the standby\'s disk and network; `rampart cluster status`');
  if (!standbys.some((s) => s.syncState === 'sync' || s.syncState === 'quorum')) {
    return warn('replication', `${detail}: none synchronous, an acknowledged issuance can be lost in a failover`, `set synchronous_standby_names on the primary (${ha})`);
  }
  return ok('replication', detail);
}
