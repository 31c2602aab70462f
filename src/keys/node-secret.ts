/**
 * The secret that seals software keys: a passphrase from the environment, or
 * the contents of a key file (created with 32 random bytes, mode 0600, when
 * `create` is set and it does not exist yet).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface KeySecretSource {
  passphraseEnv: string;
  keyFile: string;
  env: NodeJS.ProcessEnv;
  create: boolean;
}

export function loadKeySecret(o: KeySecretSource): { secret: Uint8Array; source: string } {
  const pass = o.env[o.passphraseEnv];
  if (pass) {
    if (pass.length < 12) throw new Error(`${o.passphraseEnv} must be at least 12 characters`);
    return { secret: Buffer.from(pass, 'utf8'), source: `environment variable ${o.passphraseEnv}` };
  }
  if (!existsSync(o.keyFile)) {
    if (!o.create) {
      throw new Error(`no key-encryption secret: set ${o.passphraseEnv} or provide the key file ${o.keyFile}`);
    }
    mkdirSync(dirname(o.keyFile), { recursive: true, mode: 0o700 });
    writeFileSync(o.keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  }
  chmodSync(o.keyFile, 0o600);
  const secret = readFileSync(o.keyFile);
  if (secret.length < 16) throw new Error(`key file ${o.keyFile} is too short (at least 16 bytes)`);
  return { secret, source: `key file ${o.keyFile}` };
}
