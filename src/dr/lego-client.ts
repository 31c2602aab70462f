/**
 * lego (Debian's ACME client) as a drill runs it: one account per --path,
 * http-01 on its own loopback server, the node's TLS trusted through
 * LEGO_CA_CERTIFICATES, every run bounded (its process group is killed on
 * timeout). lego 4.9 (Debian 12) does not ask renewal information itself:
 * ari-renewal-agent.ts asks and runs `lego renew` when the window is open.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface LegoAccount { name: string; path: string; domain: string; email: string }
export interface LegoEndpoint { directory: string; caFile: string; httpPort: number }
export interface LegoResult { code: number | null; output: string }

export function legoPath(): string | null {
  const r = spawnSync('sh', ['-c', 'command -v lego'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** The certificate lego keeps for the account's domain (leaf first, then its issuers). */
export function legoCertFile(a: LegoAccount): string {
  return join(a.path, 'certificates', `${a.domain}.crt`);
}

export function hasLegoCert(a: LegoAccount): boolean {
  return existsSync(legoCertFile(a));
}

export function runLegoCommand(a: LegoAccount, e: LegoEndpoint, command: 'run' | 'renew', o: { timeoutMs?: number; track?: (pid: number, live: boolean) => void } = {}): Promise<LegoResult> {
  const args = ['--path', a.path, '--server', e.directory, '--accept-tos', '--email', a.email, '--key-type', 'ec256', '--domains', a.domain,
    '--http', '--http.port', `127.0.0.1:${e.httpPort}`, command, ...(command === 'renew' ? ['--days', '36500', '--no-random-sleep'] : [])];
  return new Promise((resolve, reject) => {
    const child = spawn(legoPath() ?? 'lego', args, {
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
