/**
 * A SoftHSM2 installation private to one drill run: its own configuration
 * file and token directory under the drill's work directory, tokens with
 * random PINs (never written anywhere but the token itself and the child
 * processes' environment). The stand-in for the production HSM in the
 * `hsm-failure` drill (and `ssh-key-restore` on a node whose keys are in
 * PKCS#11); the operator's HSM is never touched.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DrillEnvironment } from './drill-environment.js';
import { DrillUnavailableError } from './drill-scenario.js';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const UTIL = '/usr/bin/softhsm2-util';

export interface IsolatedSoftHsm {
  module: string;
  /** The user PIN of every token (random per drill). */
  pin: string;
  /** SOFTHSM2_CONF (and the PIN) for child processes. */
  env: Record<string, string>;
  initToken(label: string): Promise<void>;
  /** softhsm2-util --delete-token: the token and every key in it are gone. */
  destroyToken(label: string): Promise<void>;
}

export function isolatedSoftHsm(env: DrillEnvironment, drill = 'hsm-failure'): IsolatedSoftHsm {
  if (!existsSync(UTIL) || !existsSync(SOFTHSM_MODULE)) {
    throw new DrillUnavailableError(`the ${drill} drill needs SoftHSM2 as its stand-in HSM: apt-get install softhsm2`);
  }
  const dir = env.dir('softhsm');
  const tokens = join(dir, 'tokens');
  mkdirSync(tokens, { mode: 0o700 });
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, [`directories.tokendir = ${tokens}`, 'objectstore.backend = file', 'log.level = ERROR', 'slots.removable = false', ''].join('\n'), { mode: 0o600 });
  const pin = randomBytes(12).toString('hex');
  const soPin = randomBytes(12).toString('hex');
  const childEnv = { SOFTHSM2_CONF: conf, RAMPART_PKCS11_PIN: pin };
  const util = (args: string[]) => new Promise<void>((resolve, reject) => {
    execFile(UTIL, args, { env: { ...process.env, SOFTHSM2_CONF: conf }, timeout: 30_000 }, (e, _out, err) => (e ? reject(new Error(`softhsm2-util ${args[0]}: ${err || e.message}`)) : resolve()));
  });
  return {
    module: SOFTHSM_MODULE, pin, env: childEnv,
    initToken: (label) => util(['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', soPin]),
    destroyToken: (label) => util(['--delete-token', '--token', label]),
  };
}
