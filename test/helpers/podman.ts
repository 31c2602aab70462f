/**
 * Runs podman the way this machine kind needs it (Debian's runc as the
 * runtime, explicit ulimits for `run`; see /work/shared/design/FIELD-NOTES.md),
 * and restores net.ipv4.ip_forward, which podman's network setup turns on.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { requireCommand } from './debian.js';

export interface PodmanResult { code: number; stdout: string; stderr: string }

/** The Debian packages a container test drives (scripts/install-test-deps.sh installs them too). */
export function requirePodman(): void {
  requireCommand('podman', 'podman');
  requireCommand('runc', 'runc', { dirs: ['/usr/sbin'] });
  requireCommand('mmdebstrap', 'mmdebstrap');
}

/** Runs `podman --runtime runc ARGS`; resolves with its exit code and output (never rejects on a non-zero exit). */
export function podman(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<PodmanResult> {
  return new Promise((resolve) => {
    execFile('podman', ['--runtime', 'runc', ...args], { encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024, env: opts.env ?? process.env },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        resolve({ code, stdout, stderr: err && code === -1 ? `${stderr}${err.message}` : stderr });
      });
  });
}

/** Like podman(), but throws with the output when the exit code is not 0; returns stdout trimmed. */
export async function mustPodman(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const r = await podman(args, opts);
  if (r.code !== 0) throw new Error(`podman ${args.join(' ')} failed (${r.code}):\n${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

/** The ulimits `podman run` needs here (the VM's defaults are above what runc accepts). */
export const RUN_LIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

/** Remembers net.ipv4.ip_forward; call the returned function when the test ends to set it back. */
export function keepIpForward(): () => void {
  const before = readFileSync(IP_FORWARD, 'utf8').trim();
  return () => { if (readFileSync(IP_FORWARD, 'utf8').trim() !== before) writeFileSync(IP_FORWARD, `${before}\n`); };
}
