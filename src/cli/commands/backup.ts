/**
 * `rampart backup create|list|verify|prune` and `rampart restore`
 * (docs/runbooks/backup-restore.md).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { lowerThreadPriority } from '../../core/thread-priority.js';
import { RampartError } from '../../core/errors.js';
import { reconcileText } from './integrity.js';
import { resolvedPaths } from '../../config/load.js';
import { systemClock } from '../../core/clock.js';
import { backupSecret } from '../../backup/backup-secret.js';
import { BackupService } from '../../backup/backup-service.js';
import { DirectoryTarget } from '../../backup/directory-target.js';
import { backupServiceFor } from '../../main/backup-wiring.js';
import { parseDatabaseUrl, type PgConnection } from '../../storage/pg-tools.js';
import { restorePostgres, restoreSqlite } from '../../backup/restore.js';
import { closeTargets, createTargets } from '../../backup/targets.js';
import { RAMPART_VERSION } from '../../core/version.js';
import { withProgress } from '../progress-view.js';
import { cliActor, loadCliConfig, out, withNode, type GlobalOptions } from '../context.js';

const mib = (n: number): string => `${(n / 1048576).toFixed(2)} MiB`;

export function registerBackup(program: Command, g: () => GlobalOptions): void {
  const backup = program.command('backup').description('encrypted backups of the database, CA certificates, CRLs, audit log and sealed keys');

  backup.command('create')
    .description('make a backup now and write it to every configured target')
    .action(async () => {
      // Beside a running node, the backup gives way to it for CPU (core/thread-priority.ts).
      lowerThreadPriority();
      await withNode(g(), async (node) => {
        const svc = backupServiceFor(node);
        try {
          const r = await withProgress(g(), (v) => svc.create(cliActor(), v.onProgress));
          const view = { id: r.manifest.id, ok: r.ok, sizeBytes: r.sizeBytes, durationMs: r.manifest.durationMs, counts: r.manifest.counts, crlNumbers: r.manifest.crlNumbers, targets: r.targets };
          out(g(), view, () => [
            `Backup ${view.id}: ${mib(view.sizeBytes)} in ${view.durationMs} ms, ${view.counts.certificates} certificates (${view.counts.revoked} revoked), ${view.counts.auditEntries} audit entries`,
            ...r.targets.map((t) => `  ${t.target}: ${t.ok ? 'written' : `FAILED: ${t.error}`}`),
          ].join('\n'));
          if (!r.ok) process.exitCode = 1;
        } finally {
          closeTargets(svc.targets);
        }
      });
    });

  backup.command('list')
    .description('backups on the targets: id, time, size, targets, counts')
    .action(async () => {
      await withNode(g(), async (node) => {
        const svc = backupServiceFor(node);
        try {
          const list = await svc.list();
          out(g(), { backups: list }, () => (list.length === 0 ? 'no backups' : list.map((b) => (b.error
            ? `${b.id}  ${b.time}  [${b.targets.join(', ')}]  unreadable: ${b.error}`
            : `${b.id}  ${b.time}  ${mib(b.sizeBytes ?? 0)}  [${b.targets.join(', ')}]  ${b.database}  ${b.counts!.certificates} certs, ${b.counts!.revoked} revoked, ${b.counts!.auditEntries} audit entries`)).join('\n')));
        } finally {
          closeTargets(svc.targets);
        }
      });
    });

  backup.command('verify [id]')
    .description('decrypt a backup (default: the newest) and check the manifest signature, every checksum and size, on every target')
    .option('--target <name>', 'only this target')
    .action(async (id: string | undefined, o: { target?: string }) => {
      await withNode(g(), async (node) => {
        const svc = backupServiceFor(node);
        try {
          const results = await withProgress(g(), (v) => svc.verify(cliActor(), id, o.target, v.onProgress));
          const view = results.map((r) => ({ id: r.id, target: r.target, ok: r.ok, problems: r.problems, parts: r.manifest?.parts.length }));
          out(g(), { ok: results.every((r) => r.ok), results: view }, () => view.map((r) => (r.ok ? `${r.id} on ${r.target}: OK (${r.parts} parts verified)` : `${r.id} on ${r.target}: FAILED: ${r.problems.join('; ')}`)).join('\n'));
          if (!results.every((r) => r.ok)) process.exitCode = 3;
        } finally {
          closeTargets(svc.targets);
        }
      });
    });

  backup.command('prune')
    .description('delete backups older than backup.retentionDays (the newest is always kept)')
    .action(async () => {
      await withNode(g(), async (node) => {
        const svc = backupServiceFor(node);
        try {
          const r = await svc.prune(cliActor());
          out(g(), r, () => `deleted ${r.deleted.length} backup(s)${r.deleted.length ? `: ${r.deleted.join(', ')}` : ''}; ${r.kept.length} kept`);
        } finally {
          closeTargets(svc.targets);
        }
      });
    });

  program.command('restore')
    .description('restore a backup into a NEW data directory (SQLite, --data-dir) or an empty PostgreSQL database, checked before use')
    .option('--backup <id>', 'backup id (default: the newest)')
    .option('--target <name>', 'read from this configured target')
    .option('--from-dir <dir>', 'read from this directory instead of the configured targets')
    .option('--database-url <url>', 'PostgreSQL: restore into this empty database (postgres://user@host:port/db; password from the config\'s passwordEnv or the URL)')
    .option('--reconcile-from-audit <file|dir>', 'then put back what was issued and revoked after the backup from this forwarded audit copy (JSON lines, or a directory of its rotated files); exit 1 naming the certificates that could not be recovered')
    .action(async (o: { backup?: string; target?: string; fromDir?: string; databaseUrl?: string; reconcileFromAudit?: string }) => {
      const gl = g();
      if (o.reconcileFromAudit !== undefined && !existsSync(o.reconcileFromAudit)) throw new RampartError('malformed', `no such file or directory: ${o.reconcileFromAudit}`);
      const reconcileFrom = o.reconcileFromAudit === undefined ? undefined : resolve(o.reconcileFromAudit);
      const config = loadCliConfig(gl);
      const env = process.env;
      const targets = o.fromDir ? [new DirectoryTarget('from-dir', o.fromDir)] : createTargets(config, env);
      const backups = new BackupService({
        config, targets, secret: backupSecret(config, env).secret, nodeId: 'restore', version: RAMPART_VERSION, clock: systemClock,
        dataDir: config.dataDir, keysDir: null,
      });
      const actor = cliActor();
      try {
        let r;
        if (o.databaseUrl || config.database.type === 'postgres') {
          const db = config.database;
          const password = env[db.passwordEnv];
          const conn: PgConnection = o.databaseUrl
            ? { ...parseDatabaseUrl(o.databaseUrl), ...(password && !/:\/\/[^/@]*:[^/@]*@/.test(o.databaseUrl) ? { password } : {}) }
            : { hosts: db.hosts ?? [], database: db.database, user: db.user, targetSessionAttrs: db.targetSessionAttrs, ...(password ? { password } : {}) };
          r = await withProgress(gl, (v) => restorePostgres({ backups, id: o.backup, target: o.target, conn, clock: systemClock, actor, onProgress: v.onProgress, reconcileFrom }));
        } else {
          if (!gl.dataDir && !env.RAMPART_DATA_DIR) throw new Error('give --data-dir NEW_DIR: the empty directory to restore into');
          r = await withProgress(gl, (v) => restoreSqlite({ backups, id: o.backup, target: o.fromDir ? undefined : o.target, dataDir: config.dataDir, dbPath: resolvedPaths(config).dbPath, clock: systemClock, actor, onProgress: v.onProgress, reconcileFrom }));
        }
        out(gl, { id: r.id, target: r.target, location: r.location, checks: r.checks, counts: r.manifest.counts, crlNumbers: r.manifest.crlNumbers, ...(r.reconcile ? { reconcile: r.reconcile } : {}) }, () => [
          `Restored backup ${r.id} (from ${r.target}, made ${r.manifest.createdAt} on ${r.manifest.nodeId}) into ${r.location}`,
          ...r.checks.map((c) => `  ok: ${c}`),
          ...(r.reconcile ? [reconcileText(r.reconcile)] : []),
          'The CA keys are sealed with the node key secret, which is not in the backup: give the new node the same',
          `${config.keys.passphraseEnv} or copy the key file (secrets/key-encryption.key) before starting it.`,
        ].join('\n'));
        if (r.reconcile?.unrecoverable.length) process.exitCode = 1;
      } finally {
        closeTargets(targets);
      }
    });
}
