/**
 * Errors of point-in-time restore, each with a stable code so that the CLI
 * can choose an exit status (PostgreSQL reads the exit status of
 * archive_command and restore_command) and tests can tell them apart.
 */
export type PitrErrorCode =
  | 'no-passphrase' | 'wrong-passphrase' | 'no-targets' | 'target-failed'
  | 'wal-conflict' | 'wal-missing' | 'no-base-backup' | 'base-backup-failed'
  | 'pgdata-not-empty' | 'recovery-failed' | 'timeout' | 'invalid-request';

export class PitrError extends Error {
  override name = 'PitrError';
  constructor(readonly code: PitrErrorCode, message: string) {
    super(message);
  }
}

export const isPitrError = (e: unknown): e is PitrError => e instanceof PitrError;
