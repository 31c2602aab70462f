/**
 * `rampart pitr`: continuous protection for PostgreSQL. `wal-push` is the
 * archive_command, `wal-fetch` the restore_command, `base` takes a physical
 * base backup, `restore --to-time` recovers a new data directory to a moment.
 * The work is in src/backup/pitr/; see docs/runbooks/pitr.md.
 *
 * Exit status matters to PostgreSQL: wal-push exits non-zero on any failure
 * (PostgreSQL keeps the segment and retries); wal-fetch exits 1 when the file
 * is not archived (normal during recovery) and 126 when a target fails or
 * the file does not decrypt, which makes PostgreSQL stop recovery instead of
 * ending it early at what looks like the end of the archive.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { loadCliConfig, out, type GlobalOptions } from '../context.js';
import type { BackupTarget } from '../../backup/target.js';
import { takeBaseBackup, type PgConnection } from '../../backup/pitr/base-backup.js';
import { listBaseBackups } from '../../backup/pitr/base-catalog.js';
import { pgTools } from '../../backup/pitr/pg-tools.js';
import { PitrError } from '../../backup/pitr/pitr-error.js';
import { archiveCommand, pitrCommand } from '../../backup/pitr/pitr-invocation.js';
import { restoreToTime } from '../../backup/pitr/pitr-restore.js';
import { withProgress } from '../progress-view.js';
import { DEFAULT_PASSPHRASE_ENV, loadBackupPassphrase } from '../../backup/pitr/pitr-secret.js';
import { targetsFromConfig, targetsFromDirs } from '../../backup/pitr/pitr-targets.js';
import { DirectoryTarget } from '../../backup/directory-target.js';
import { walFetch, walPush } from '../../backup/pitr/wal-archive.js';

interface SourceOpts { targetDir: string[]; passphraseFile?: string; passphraseEnv?: string }

const collect = (v: string, prev: string[]) => [...prev, v];
const port = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new PitrError('invalid-request', `port must be 1..65535 (got "${v}")`);
  return n;
};

function withSourceOptions(c: Command): Command {
  return c
    .option('--target-dir <dir>', 'directory target (repeatable); default: backup.targets from the configuration', collect, [] as string[])
    .option('--passphrase-file <file>', 'file holding the backup passphrase (e.g. "$CREDENTIALS_DIRECTORY/rampart-backup")')
    .option('--passphrase-env <name>', `environment variable holding the backup passphrase (default backup.passphraseEnv, ${DEFAULT_PASSPHRASE_ENV})`);
}

interface Source { targets: BackupTarget[]; secret: Uint8Array; opts: SourceOpts; passphraseEnv?: string; config?: { dataDir: string }; global?: GlobalOptions }

async function source(g: GlobalOptions, o: SourceOpts, needConfig = false): Promise<Source & { config?: ReturnType<typeof loadCliConfig> }> {
  const config = o.targetDir.length === 0 || needConfig ? loadCliConfig(g) : undefined;
  const targets = o.targetDir.length ? targetsFromDirs(o.targetDir) : await targetsFromConfig(config!);
  const passphraseEnv = o.passphraseEnv ?? config?.backup.passphraseEnv;
  const secret = loadBackupPassphrase({ passphraseFile: o.passphraseFile, passphraseEnv });
  return { targets, secret, opts: o, passphraseEnv, config, global: g };
}

/** The same targets and passphrase source, for the command lines PostgreSQL will run. */
function invocation(s: Source) {
  // Directory targets by path; otherwise (S3) the same configuration file and data directory.
  const byConfig = s.opts.targetDir.length === 0 && !s.targets.every((t) => t instanceof DirectoryTarget);
  const dirs = byConfig ? [] : s.targets.map((t) => (t as DirectoryTarget).dir);
  const configFile = s.global?.config ?? process.env.RAMPART_CONFIG;
  return { targetDirs: dirs, config: byConfig ? configFile : undefined, dataDir: byConfig ? s.config?.dataDir : undefined, passphraseFile: s.opts.passphraseFile, passphraseEnv: s.opts.passphraseFile ? undefined : s.passphraseEnv ?? DEFAULT_PASSPHRASE_ENV };
}

export function registerPitr(program: Command, g: () => GlobalOptions): void {
  const pitr = program.command('pitr').description('PostgreSQL point-in-time restore: WAL archiving, base backups, restore to a moment');

  withSourceOptions(pitr.command('wal-push')
    .description("archive_command: encrypt a WAL file and store it on every target (`... wal-push %p %f`)")
    .argument('<path>', 'the file (%p, relative to the data directory)')
    .argument('<name>', 'its name (%f)'))
    .action(async (path: string, name: string, o: SourceOpts) => {
      const s = await source(g(), o);
      const r = await walPush({ targets: s.targets, secret: s.secret, path, name });
      if (g().json) out(g(), r, () => '');
    });

  withSourceOptions(pitr.command('wal-fetch')
    .description('restore_command: fetch and decrypt an archived WAL file (`... wal-fetch %f "%p"`); exit 1 when not archived')
    .argument('<name>', 'the file name (%f)')
    .argument('<path>', 'where to write it (%p)'))
    .action(async (name: string, path: string, o: SourceOpts) => {
      try {
        const s = await source(g(), o);
        const r = await walFetch({ targets: s.targets, secret: s.secret, name, dest: path });
        if (!r.found) {
          process.stderr.write(`rampart: ${name} is not in the archive\n`);
          process.exit(1);
        }
      } catch (e) {
        process.stderr.write(`rampart: wal-fetch ${name}: ${(e as Error).message}\n`);
        process.exit(126);
      }
    });

  withSourceOptions(pitr.command('archive-command')
    .description('print the archive_command line for postgresql.conf (these targets and passphrase source)'))
    .action(async (o: SourceOpts) => {
      const config = o.targetDir.length === 0 ? loadCliConfig(g()) : undefined;
      const targets = o.targetDir.length ? targetsFromDirs(o.targetDir) : await targetsFromConfig(config!);
      const line = archiveCommand(invocation({ targets, secret: new Uint8Array(), opts: o, passphraseEnv: o.passphraseEnv ?? config?.backup.passphraseEnv, config, global: g() }));
      out(g(), { archiveCommand: line }, () => `archive_command = '${line.replace(/'/g, "''")}'`);
    });

  withSourceOptions(pitr.command('base')
    .description('take a physical base backup (pg_basebackup) and store it encrypted on the targets')
    .option('--host <host>', 'PostgreSQL host (default: first of database.hosts)')
    .option('--port <port>', 'PostgreSQL port', port)
    .option('--user <role>', 'role with REPLICATION (default database.user)')
    .option('--dbname <db>', 'database to connect to for server time and settings (default database.database)')
    .option('--pg-bin <dir>', 'PostgreSQL client binaries (default: newest /usr/lib/postgresql/*/bin, else PATH)'))
    .action(async (o: SourceOpts & { host?: string; port?: number; user?: string; dbname?: string; pgBin?: string }) => {
      const s = await source(g(), o, !o.host);
      const db = s.config?.database;
      const first = db?.hosts?.[0];
      const m = first ? /^\[?(.*?)\]?(?::(\d+))?$/.exec(first) : null;
      const host = o.host ?? m?.[1];
      if (!host) throw new PitrError('invalid-request', 'no PostgreSQL server: pass --host (and --port) or configure database.hosts');
      const conn: PgConnection = {
        host, port: o.port ?? (m?.[2] ? Number(m[2]) : 5432), user: o.user ?? db?.user ?? 'postgres', database: o.dbname ?? db?.database ?? 'postgres',
        password: db ? process.env[db.passwordEnv] : undefined,
      };
      const manifest = await takeBaseBackup({ targets: s.targets, secret: s.secret, conn, tools: pgTools({ binDir: o.pgBin }), log: (msg) => process.stderr.write(`${msg}\n`) });
      out(g(), manifest, () => `base backup ${manifest.id}: ${manifest.tarBytes} bytes, timeline ${manifest.timeline}, ${manifest.startLsn}..${manifest.endLsn}, complete at ${manifest.finishedAt}`);
    });

  withSourceOptions(pitr.command('list').description('list base backups on the targets'))
    .action(async (o: SourceOpts) => {
      const s = await source(g(), o);
      const list = await listBaseBackups(s.targets, s.secret);
      out(g(), list, () => list.length ? list.map((e) => `${e.manifest.id}  complete ${e.manifest.finishedAt}  tl ${e.manifest.timeline}  ${e.manifest.startLsn}  ${e.manifest.tarBytes} B  [${e.targets.join(', ')}]`).join('\n') : 'no base backups');
    });

  withSourceOptions(pitr.command('restore')
    .description('restore into a new data directory and recover to --to-time, then promote')
    .requiredOption('--to-time <time>', 'recovery target, ISO 8601 with zone (e.g. 2026-03-01T12:00:00Z)')
    .requiredOption('--pgdata <dir>', 'new, empty data directory')
    .option('--port <port>', 'port for the restored server', port, 5433)
    .option('--timeline <tli>', "recovery_target_timeline ('latest', 'current' or a number)", 'latest')
    .option('--keep-archiving', 'keep archive_mode from the backup (default: off, so a restored copy does not write to the archive)')
    .option('--os-user <user>', 'OS user that runs PostgreSQL (when running as root)', 'postgres')
    .option('--pg-bin <dir>', 'PostgreSQL server binaries')
    .option('--timeout-seconds <n>', 'give up waiting for recovery after this long', (v) => Number(v), 1800))
    .action(async (o: SourceOpts & { toTime: string; pgdata: string; port: number; timeline: string; keepArchiving?: boolean; osUser: string; pgBin?: string; timeoutSeconds: number }) => {
      const toTime = new Date(o.toTime);
      if (Number.isNaN(toTime.getTime()) || !/(Z|[+-]\d\d:?\d\d)$/.test(o.toTime.trim())) throw new PitrError('invalid-request', `--to-time must be an ISO 8601 time with a zone, e.g. 2026-03-01T12:00:00Z (got "${o.toTime}")`);
      const s = await source(g(), o);
      const r = await withProgress(g(), (v) => restoreToTime({
        targets: s.targets, secret: s.secret, toTime, pgdata: resolve(o.pgdata), port: o.port, timeline: o.timeline, keepArchiving: o.keepArchiving,
        tools: pgTools({ binDir: o.pgBin, osUser: o.osUser }), fetchCommand: pitrCommand('wal-fetch', invocation(s)),
        timeoutMs: o.timeoutSeconds * 1000, log: (msg) => v.log(msg), onProgress: v.onProgress,
      }));
      out(g(), r, () => [
        `restored ${r.pgdata} (port ${r.port}) from base backup ${r.baseBackup} to ${r.targetTime}`,
        `  recovered up to: ${r.lastTransactionAt ?? '?'} (last transaction replayed)${r.stoppedBefore ? `; stopped before the transaction of ${r.stoppedBefore}` : ''}`,
        `  new timeline ${r.timeline ?? '?'} from ${r.switchLsn ?? '?'} (${r.stopReason ?? '?'}); ${r.walFilesRestored} WAL files from the archive`,
        `  took ${r.seconds.total.toFixed(1)} s (unpack ${r.seconds.extract.toFixed(1)} s, recovery ${r.seconds.recovery.toFixed(1)} s); server log ${r.logFile}`,
        '  the server is running and promoted; archive_mode is ' + (o.keepArchiving ? 'as in the backup' : "off (set it back before making this the primary)"),
      ].join('\n'));
    });
}
