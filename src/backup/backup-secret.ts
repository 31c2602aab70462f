/**
 * The secret backups are encrypted with: the backup passphrase
 * (backup.passphraseEnv) when set, else the node's key-encryption secret
 * (keys.passphraseEnv or the key file). Never written anywhere by Rampart.
 */
import type { RampartConfig } from '../config/schema.js';
import { resolvedPaths } from '../config/load.js';
import { loadKeySecret } from '../keys/node-secret.js';

export interface BackupSecret { secret: Uint8Array; source: string }

export function backupSecret(config: RampartConfig, env: NodeJS.ProcessEnv = process.env, nodeSecret?: Uint8Array): BackupSecret {
  const pass = env[config.backup.passphraseEnv];
  if (pass) {
    if (pass.length < 12) throw new Error(`${config.backup.passphraseEnv} must be at least 12 characters`);
    return { secret: Buffer.from(pass, 'utf8'), source: `environment variable ${config.backup.passphraseEnv}` };
  }
  if (nodeSecret) return { secret: nodeSecret, source: 'the node key secret' };
  const paths = resolvedPaths(config);
  try {
    const s = loadKeySecret({ passphraseEnv: config.keys.passphraseEnv, keyFile: paths.keyFile, env, create: false });
    return { secret: s.secret, source: `the node key secret (${s.source})` };
  } catch {
    throw new Error(`no backup secret: set ${config.backup.passphraseEnv} (the backup passphrase), or the node key secret `
      + `(${config.keys.passphraseEnv}, or the key file ${paths.keyFile}) that the backups were made with`);
  }
}
