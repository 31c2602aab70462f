/**
 * The hot path PostgreSQL runs once per WAL file: `wal-push <path> <name>`
 * (archive_command) and `wal-fetch <name> <path>` (restore_command), with
 * the same options and exit statuses as `rampart pitr wal-push|wal-fetch`
 * but without loading the whole CLI (about 4x faster to start, which bounds
 * how fast one archiver can ship segments). Entry: wal-entry.mjs.
 *
 * Exit status: 0 done; 1 failure (wal-push: PostgreSQL retries) or not
 * archived (wal-fetch); 126 wal-fetch could not tell (a target failed, or the
 * file does not decrypt), which makes PostgreSQL stop recovery instead of
 * ending it early.
 */
import { parseArgs } from 'node:util';
import { loadConfigDetailed } from '../../config/load.js';
import { loadBackupPassphrase } from './pitr-secret.js';
import { targetsFromConfig, targetsFromDirs } from './pitr-targets.js';
import { walFetch, walPush } from './wal-archive.js';

export const USAGE = 'usage: wal-push|wal-fetch [--target-dir DIR]... [--passphrase-file FILE | --passphrase-env NAME] [--config FILE] [--data-dir DIR] ARG1 ARG2';

export async function runWalCommand(argv: string[], stderr: (s: string) => void = (s) => process.stderr.write(s)): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: {
        'target-dir': { type: 'string', multiple: true, default: [] },
        'passphrase-file': { type: 'string' }, 'passphrase-env': { type: 'string' },
        config: { type: 'string' }, 'data-dir': { type: 'string' },
      },
    });
  } catch (e) {
    stderr(`rampart: ${(e as Error).message}\n${USAGE}\n`);
    return 1;
  }
  const [sub, a, b, ...rest] = parsed.positionals;
  if ((sub !== 'wal-push' && sub !== 'wal-fetch') || !a || !b || rest.length) {
    stderr(`rampart: ${USAGE}\n`);
    return 1;
  }
  const o = parsed.values;
  const fetching = sub === 'wal-fetch';
  try {
    const dirs = o['target-dir'] ?? [];
    const config = dirs.length ? undefined
      : loadConfigDetailed({ file: o.config, overrides: o['data-dir'] ? { dataDir: o['data-dir'] } : {} }).config;
    const targets = config ? await targetsFromConfig(config) : targetsFromDirs(dirs);
    const secret = loadBackupPassphrase({ passphraseFile: o['passphrase-file'], passphraseEnv: o['passphrase-env'] ?? config?.backup.passphraseEnv });
    if (!fetching) {
      await walPush({ targets, secret, path: a, name: b });
      return 0;
    }
    const r = await walFetch({ targets, secret, name: a, dest: b });
    if (r.found) return 0;
    stderr(`rampart: ${a} is not in the archive\n`);
    return 1;
  } catch (e) {
    stderr(`rampart: ${sub} ${fetching ? a : b}: ${(e as Error).message}\n`);
    return fetching ? 126 : 1;
  }
}
