/**
 * lego as a drill runs it: one account per --path, http-01 on its own
 * loopback server, the node's TLS trusted through LEGO_CA_CERTIFICATES,
 * every run bounded (its process group is killed on timeout).
 *
 * The binary is lego 4.35.2 from Debian sid (scripts/install-lego-sid.sh
 * extracts its signature-checked .deb into /var/cache/rampart/lego-sid): its
 * `lego renew` asks renewal information (RFC 9773) itself and sends
 * `replaces` in the new order. Debian 12's lego 4.9.1 (/usr/bin/lego, used
 * by the other ACME tests) knows nothing of ARI.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface LegoAccount { name: string; path: string; domain: string; email: string }
export interface LegoEndpoint { directory: string; caFile: string; httpPort: number }
export interface LegoResult { code: number | null; output: string }

export const ARI_LEGO_VERSION = '4.35.2-3';
export const ARI_LEGO_CACHE = '/var/cache/rampart/lego-sid';
const INSTALLER = fileURLToPath(new URL('../../scripts/install-lego-sid.sh', import.meta.url));

/** The ARI-aware lego: $RAMPART_LEGO_ARI, else the one install-lego-sid.sh extracted; null when neither is there. */
export function legoPath(): string | null {
  const p = process.env.RAMPART_LEGO_ARI || join(ARI_LEGO_CACHE, ARI_LEGO_VERSION, 'usr/bin/lego');
  try {
    accessSync(p, constants.X_OK);
    return p;
  } catch {
    return null;
  }
}

/** The ARI-aware lego, installed by scripts/install-lego-sid.sh when missing and root; otherwise an error that says how. */
export function ensureLego(): string {
  const have = legoPath();
  if (have) return have;
  const how = `lego ${ARI_LEGO_VERSION} (Debian sid, ARI-aware) is not installed: run \`sudo ${INSTALLER}\` (or set RAMPART_LEGO_ARI to an ARI-aware lego >= 4.22)`;
  if (process.getuid?.() !== 0) throw new Error(how);
  const r = spawnSync(INSTALLER, [], { encoding: 'utf8', timeout: 600_000 });
  const got = legoPath();
  if (r.status !== 0 || !got) throw new Error(`${how}\n${INSTALLER} failed (exit ${r.status}): ${r.stderr}`);
  return got;
}

/** The certificate lego keeps for the account's domain (leaf first, then its issuers). */
export function legoCertFile(a: LegoAccount): string {
  return join(a.path, 'certificates', `${a.domain}.crt`);
}

export function hasLegoCert(a: LegoAccount): boolean {
  return existsSync(legoCertFile(a));
}

export function runLegoCommand(a: LegoAccount, e: LegoEndpoint, command: 'run' | 'renew', o: { timeoutMs?: number; track?: (pid: number, live: boolean) => void } = {}): Promise<LegoResult> {
  // `renew` as a timer runs it: lego decides (renewal information first, then its default 30 days left). --no-random-sleep only
  // drops the jitter of up to 8 minutes lego sleeps once it has decided to renew (the drill cannot wait that long).
  const args = ['--path', a.path, '--server', e.directory, '--accept-tos', '--email', a.email, '--key-type', 'ec256', '--domains', a.domain,
    '--http', '--http.port', `127.0.0.1:${e.httpPort}`, command, ...(command === 'renew' ? ['--no-random-sleep'] : [])];
  return new Promise((resolve, reject) => {
    const child = spawn(ensureLego(), args, {
      env: { ...process.env, LEGO_CA_CERTIFICATES: e.caFile, NO_PROXY: '127.0.0.1', no_proxy: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
    });
    const pid = child.pid!;
    o.track?.(pid, true);
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    const t = setTimeout(() => { try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ } }, o.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(t);
      try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
      o.track?.(pid, false);
      resolve({ code, output });
    });
  });
}
