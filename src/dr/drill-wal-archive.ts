/**
 * WAL archiving for a drill's own PostgreSQL: a directory target and a backup
 * passphrase file in the work directory (both readable by the postgres OS
 * user, which runs archive_command), the settings that make the server
 * archive through `rampart pitr wal-push`, the `--target-dir/--passphrase-file`
 * arguments for the other `rampart pitr` commands, and a WAL switch that waits
 * until the archiver has stored the finished segment.
 */
import { randomBytes } from 'node:crypto';
import { chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { archiveCommand } from '../backup/pitr/pitr-invocation.js';
import { waitUntil } from '../core/wait.js';
import type { DrillEnvironment } from './drill-environment.js';
import { postgresOwner, type IsolatedPostgres } from './isolated-postgres.js';

export interface DrillWalArchive {
  /** postgresql.conf settings: archive_mode on, archive_command wal-push to the directory. */
  settings: Record<string, string>;
  /** `rampart pitr` arguments naming the same archive and passphrase. */
  source: string[];
}

export async function drillWalArchive(env: DrillEnvironment): Promise<DrillWalArchive> {
  const owner = await postgresOwner();
  const archiveDir = env.dir('wal-archive', { owner });
  const secretDir = env.dir('secret', { owner });
  const passphraseFile = join(secretDir, 'backup-passphrase');
  writeFileSync(passphraseFile, randomBytes(24).toString('base64url'), { mode: 0o600 });
  if (owner) chownSync(passphraseFile, owner.uid, owner.gid);
  const cmd = archiveCommand({ targetDirs: [archiveDir], passphraseFile });
  return {
    settings: { wal_level: 'replica', archive_mode: 'on', archive_command: `'${cmd.replace(/'/g, "''")}'`, archive_timeout: "'60s'" },
    source: ['--target-dir', archiveDir, '--passphrase-file', passphraseFile],
  };
}

/** Switches to a new WAL segment and waits until the archiver has stored the one just finished. */
export async function switchAndWaitArchived(pg: Pick<IsolatedPostgres, 'psql'>): Promise<string> {
  const done = await pg.psql('SELECT pg_walfile_name(pg_switch_wal())');
  await waitUntil(`WAL segment ${done} archived`, async () => {
    const [archived, failed] = (await pg.psql("SELECT coalesce(last_archived_wal, ''), coalesce(last_failed_wal, '') FROM pg_stat_archiver")).split('|');
    if (archived! >= done) return true;
    if (failed && failed >= done) throw new Error(`archive_command failed for ${failed} (see the drill PostgreSQL log)`);
    return false;
  }, 60_000, 100);
  return done;
}

/** The server's clock now, as an ISO time (a PITR target that matches the server's own commit times). */
export async function serverNow(pg: Pick<IsolatedPostgres, 'psql'>): Promise<string> {
  return new Date(await pg.psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")).toISOString();
}
