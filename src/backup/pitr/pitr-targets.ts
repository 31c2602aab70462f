/**
 * The targets WAL and base backups go to: directories given on the command
 * line (`--target-dir`, what archive_command on a database host usually
 * uses), else `backup.targets` from the Rampart configuration through the
 * shared factory (directory and S3; none configured: <dataDir>/backups).
 * The factory is imported only when needed: it loads the S3 client, which
 * would slow down every archive_command run that does not use it.
 */
import { resolve } from 'node:path';
import type { RampartConfig } from '../../config/schema.js';
import { DirectoryTarget } from '../directory-target.js';
import type { BackupTarget } from '../target.js';

export function targetsFromDirs(dirs: string[]): BackupTarget[] {
  return dirs.map((d, i) => new DirectoryTarget(dirs.length === 1 ? 'dir' : `dir${i + 1}`, resolve(d)));
}

export async function targetsFromConfig(config: Pick<RampartConfig, 'backup' | 'dataDir'>): Promise<BackupTarget[]> {
  const { createTargets } = await import('../targets.js');
  return createTargets(config);
}
