/**
 * The backup passphrase for WAL archiving and base backups: a file (for
 * archive_command, e.g. "$CREDENTIALS_DIRECTORY/rampart-backup" from systemd
 * LoadCredentialEncrypted=, which lives in memory only) or an environment
 * variable (backup.passphraseEnv, default RAMPART_BACKUP_PASSPHRASE).
 * Never taken from the command line, where `ps` would show it.
 */
import { readFileSync } from 'node:fs';
import { PitrError } from './pitr-error.js';

export const DEFAULT_PASSPHRASE_ENV = 'RAMPART_BACKUP_PASSPHRASE';
const MIN_LENGTH = 12;

export interface PassphraseSource {
  passphraseFile?: string;
  passphraseEnv?: string;
  env?: NodeJS.ProcessEnv;
}

export function loadBackupPassphrase(o: PassphraseSource): Uint8Array {
  const envName = o.passphraseEnv ?? DEFAULT_PASSPHRASE_ENV;
  let value: string | undefined;
  let from: string;
  if (o.passphraseFile) {
    from = `passphrase file ${o.passphraseFile}`;
    try {
      value = readFileSync(o.passphraseFile, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new PitrError('no-passphrase', `cannot read the ${from}: ${(e as Error).message}`);
    }
  } else {
    from = `environment variable ${envName}`;
    value = (o.env ?? process.env)[envName];
    if (!value) throw new PitrError('no-passphrase', `no backup passphrase: set ${envName} or pass --passphrase-file`);
  }
  if (value.length < MIN_LENGTH) throw new PitrError('no-passphrase', `the backup passphrase (${from}) must be at least ${MIN_LENGTH} characters`);
  return Buffer.from(value, 'utf8');
}
