/**
 * The shell command lines PostgreSQL runs: archive_command (`wal-push`) and
 * restore_command (`wal-fetch`), through this checkout's fast entry
 * (wal-entry.mjs, the same code as `rampart pitr wal-push|wal-fetch`) with this node
 * binary and the same targets and passphrase source as the caller. The
 * passphrase itself never appears: a file path or an environment variable
 * name that the postmaster's environment provides.
 */
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { installRoot } from '../../core/install-root.js';

export const REPO_ROOT = installRoot(dirname(fileURLToPath(import.meta.url)));
/** The fast entry (wal-command.ts); same options and exit statuses as `rampart pitr wal-push|wal-fetch`. */
export const WAL_ENTRY = join(REPO_ROOT, 'src/backup/pitr/wal-entry.mjs');

const SAFE = /^[A-Za-z0-9_./:=@%+-]+$/;
/** Single-quoted unless plain; a value starting with `$VAR/` is double-quoted so the shell expands it (systemd's $CREDENTIALS_DIRECTORY). */
export const shellQuote = (s: string) =>
  SAFE.test(s) ? s : /^\$[A-Z_][A-Z0-9_]*\/[A-Za-z0-9_./-]*$/.test(s) ? `"${s}"` : `'${s.replace(/'/g, `'\\''`)}'`;

export interface InvocationOptions {
  /** Directory targets, or (when empty) the configuration file and data directory that name the targets. */
  targetDirs: string[];
  config?: string;
  dataDir?: string;
  passphraseFile?: string;
  passphraseEnv?: string;
}

function common(o: InvocationOptions): string[] {
  return [
    ...o.targetDirs.flatMap((d) => ['--target-dir', resolve(d)]),
    ...(o.targetDirs.length === 0 && o.config ? ['--config', resolve(o.config)] : []),
    ...(o.targetDirs.length === 0 && o.dataDir ? ['--data-dir', resolve(o.dataDir)] : []),
    ...(o.passphraseFile ? ['--passphrase-file', o.passphraseFile.startsWith('$') ? o.passphraseFile : resolve(o.passphraseFile)] : []),
    ...(o.passphraseEnv ? ['--passphrase-env', o.passphraseEnv] : []),
  ];
}

/** `<node> <repo>/src/backup/pitr/wal-entry.mjs <sub> <options>`, shell-quoted; PostgreSQL appends the placeholders. */
export function pitrCommand(sub: 'wal-push' | 'wal-fetch', o: InvocationOptions): string {
  return [process.execPath, WAL_ENTRY, sub, ...common(o)].map(shellQuote).join(' ');
}

export const archiveCommand = (o: InvocationOptions) => `${pitrCommand('wal-push', o)} "%p" %f`;
