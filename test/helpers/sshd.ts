/**
 * A real OpenSSH server for tests: /usr/sbin/sshd in the foreground (-D -e)
 * on a free loopback port, with its own config, host key and files in a
 * temporary directory; stopped by PID. Needs root (it switches to the login
 * user) and the openssh-server package (installed when missing, as root).
 * Also the `ssh` client invocation the tests use: batch mode, only the given
 * identity and certificate, known_hosts from a file, strict host checking.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { requireCommand } from './debian.js';
import { freePort } from './ports.js';

export interface Sshd {
  port: number;
  dir: string;
  /** sshd's output so far (-e: its log goes to stderr). */
  output(): string;
  stop(): Promise<void>;
}

export interface SshdOptions {
  dir: string;
  /** sshd_config lines added to the base config (TrustedUserCAKeys, RevokedKeys, HostCertificate, ...). */
  extraConfig: string[];
  /** The host key (private key file) sshd uses. */
  hostKey: string;
}

let createdPrivsepDir = false;

/** sshd refuses to start without its privilege separation directory (made by the service unit normally). */
function ensurePrivsepDir(): void {
  if (!existsSync('/run/sshd')) {
    mkdirSync('/run/sshd', { mode: 0o755 });
    createdPrivsepDir = true;
  }
}

export function removePrivsepDirIfCreated(): void {
  if (createdPrivsepDir) rmSync('/run/sshd', { recursive: true, force: true });
  createdPrivsepDir = false;
}

export function requireSshTools(): { sshd: string; ssh: string; keygen: string } {
  if (process.getuid?.() !== 0) throw new Error('the SSH tests start sshd, which must run as root (it switches to the login user)');
  return {
    sshd: requireCommand('sshd', 'openssh-server', { dirs: ['/usr/sbin'] }),
    ssh: requireCommand('ssh', 'openssh-client'),
    keygen: requireCommand('ssh-keygen', 'openssh-client'),
  };
}

export async function startSshd(o: SshdOptions): Promise<Sshd> {
  const { sshd } = requireSshTools();
  ensurePrivsepDir();
  const port = await freePort();
  const config = join(o.dir, 'sshd_config');
  writeFileSync(config, [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${o.hostKey}`, `PidFile ${join(o.dir, 'sshd.pid')}`,
    'UsePAM no', 'StrictModes no', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PubkeyAuthentication yes',
    'AuthorizedKeysFile none', 'PermitRootLogin yes', 'LogLevel VERBOSE', 'MaxStartups 100', ...o.extraConfig, '',
  ].join('\n'));
  const check = spawnSync(sshd, ['-t', '-f', config], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`sshd -t refused the config: ${check.stderr}`);
  const child: ChildProcess = spawn(sshd, ['-D', '-e', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => { buf += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { buf += d.toString(); });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise<void>((r) => child.once('exit', () => r()));
    process.kill(child.pid!, 'SIGTERM');
    const t = setTimeout(() => { if (child.exitCode === null) process.kill(child.pid!, 'SIGKILL'); }, 5_000);
    await done;
    clearTimeout(t);
  };
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}: ${buf}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (i >= 100) { await stop(); throw new Error(`sshd did not listen on 127.0.0.1:${port}: ${buf}`); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { port, dir: o.dir, output: () => buf, stop };
}

export interface SshLogin {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `ssh` as a client with one key and certificate, strict host key checking against `knownHosts`, running `command`. */
export function sshLogin(o: { port: number; user: string; key: string; cert: string; knownHosts: string; command: string }): SshLogin {
  const r = spawnSync('ssh', [
    '-F', '/dev/null', '-p', String(o.port), '-i', o.key, '-o', `CertificateFile=${o.cert}`, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
    '-o', `UserKnownHostsFile=${o.knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes',
    '-o', 'ConnectTimeout=10', '-o', 'PasswordAuthentication=no', '-o', 'KbdInteractiveAuthentication=no', `${o.user}@127.0.0.1`, o.command,
  ], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A new key pair (no passphrase) at `file` / `file`.pub. */
export function sshKeygen(file: string, type: 'ed25519' | 'ecdsa' | 'rsa' = 'ed25519'): void {
  const r = spawnSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'rampart-test', '-f', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
}
