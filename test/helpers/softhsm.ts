/**
 * A private SoftHSM2 installation for a test: its own configuration file and
 * token directory under a temporary directory (point SOFTHSM2_CONF at
 * `conf`, e.g. through `env`), tokens initialized with softhsm2-util, and a
 * realistic "pull the HSM" (the token directory moved away and back).
 *
 * SoftHSM2 reads its token directory in C_Initialize: tokens created after a
 * process initialized the module are not visible to that process until it
 * re-initializes, so create tokens before opening a backend (or a node).
 *
 * What a running SoftHSM2 does when its token directory disappears
 * (removeToken): C_GetTokenInfo on the slot fails with CKR_GENERAL_ERROR, any
 * operation with the token's objects fails with CKR_OBJECT_HANDLE_INVALID,
 * C_FindObjects finds nothing and C_Login fails with CKR_GENERAL_ERROR. When
 * the directory comes back, that process still cannot use the token until it
 * runs C_Finalize + C_Initialize; a fresh process sees it at once.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireCommand } from './debian.js';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
export const TEST_PIN = '123456';
export const TEST_SO_PIN = '12345678';

/** softhsm2-util's path (installs the Debian package softhsm2 when missing and root); checks the module is there. */
export function requireSoftHsm(): string {
  const util = requireCommand('softhsm2-util', 'softhsm2');
  if (!existsSync(SOFTHSM_MODULE)) throw new Error(`${SOFTHSM_MODULE} is missing: reinstall the Debian package softhsm2`);
  return util;
}

export interface SoftHsmToken {
  label: string;
  serial: string;
  /** RFC 7512 URI naming this token by label. */
  uri: string;
}

export interface SoftHsm {
  dir: string;
  /** The SOFTHSM2_CONF file. */
  conf: string;
  tokensDir: string;
  module: string;
  /** { SOFTHSM2_CONF } for child processes. */
  env: Record<string, string>;
  initToken(label: string, opts?: { pin?: string; soPin?: string }): SoftHsmToken;
  /** softhsm2-util --delete-token: the token and its keys are gone for good. */
  deleteToken(label: string): void;
  /** The token's directory under tokensDir. */
  tokenDir(label: string): string;
  /** Takes the token away (its directory moved out of tokensDir) until the returned function puts it back. */
  removeToken(label: string): () => void;
  /** Sets SOFTHSM2_CONF in this process (before the module is initialized here). */
  useInProcess(): void;
  cleanup(): void;
}

export function createSoftHsm(prefix = 'rampart-softhsm-'): SoftHsm {
  const util = requireSoftHsm();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const tokensDir = join(dir, 'tokens');
  const parked = join(dir, 'removed');
  mkdirSync(tokensDir, { mode: 0o700 });
  mkdirSync(parked, { mode: 0o700 });
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, [
    `directories.tokendir = ${tokensDir}`, 'objectstore.backend = file', 'log.level = ERROR', 'slots.removable = false', 'slots.mechanisms = ALL', '',
  ].join('\n'));
  const env = { SOFTHSM2_CONF: conf };
  const run = (args: string[]): string => execFileSync(util, args, { env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const serials = new Map<string, string>();

  const serialOf = (label: string): string => {
    const known = serials.get(label);
    if (known) return known;
    const out = run(['--show-slots']);
    for (const block of out.split(/\nSlot /)) {
      const l = /Label:\s+(.*?)\s*$/m.exec(block)?.[1];
      const s = /Serial number:\s+(\S+)/.exec(block)?.[1];
      if (l === label && s) { serials.set(label, s); return s; }
    }
    throw new Error(`no SoftHSM2 token labelled ${label} in ${tokensDir}`);
  };

  const hsm: SoftHsm = {
    dir, conf, tokensDir, module: SOFTHSM_MODULE, env,
    initToken(label, opts = {}) {
      run(['--init-token', '--free', '--label', label, '--pin', opts.pin ?? TEST_PIN, '--so-pin', opts.soPin ?? TEST_SO_PIN]);
      const serial = serialOf(label);
      return { label, serial, uri: `pkcs11:token=${encodeURIComponent(label)}` };
    },
    deleteToken(label) {
      run(['--delete-token', '--token', label]);
      serials.delete(label);
    },
    tokenDir(label) {
      // SoftHSM2 names a token directory after a UUID whose last 16 hex digits are the token serial.
      const serial = serialOf(label);
      const name = readdirSync(tokensDir).find((d) => d.replace(/-/g, '').endsWith(serial));
      if (!name) throw new Error(`token ${label} (serial ${serial}) has no directory in ${tokensDir}`);
      return join(tokensDir, name);
    },
    removeToken(label) {
      const from = hsm.tokenDir(label);
      const to = join(parked, from.slice(tokensDir.length + 1));
      renameSync(from, to);
      let back = false;
      return () => {
        if (back) return;
        renameSync(to, from);
        back = true;
      };
    },
    useInProcess() {
      process.env.SOFTHSM2_CONF = conf;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return hsm;
}
