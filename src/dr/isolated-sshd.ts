/**
 * An OpenSSH server private to one drill run: /usr/sbin/sshd in the
 * foreground on a free loopback port, its own host key and config under the
 * drill's work directory, trusting only the user CA key given, and running
 * nothing but `echo` for whoever logs in (ForceCommand). Stopped by PID with
 * the drill. Also the `ssh` client call the drill logs in with.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freeLoopbackPort } from '../core/free-port.js';
import { sleep } from '../core/wait.js';
import type { DrillEnvironment } from './drill-environment.js';
import { DrillUnavailableError } from './drill-scenario.js';

const SSHD = '/usr/sbin/sshd';
export const DRILL_LOGIN_OUTPUT = 'rampart-drill-login-ok';

export interface IsolatedSshd { port: number; dir: string; knownHosts: string }

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: 30_000 }, (e, stdout, stderr) => resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr }));
  });
}

/** A new key pair without passphrase at `file` and `file`.pub. */
export async function sshKeyPair(file: string): Promise<void> {
  const r = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'rampart-drill', '-f', file]);
  if (r.code !== 0) throw new Error(`ssh-keygen: ${r.stderr}`);
}

export async function startIsolatedSshd(env: DrillEnvironment, o: { userCaKey: string; principal: string }): Promise<IsolatedSshd> {
  if (process.getuid?.() !== 0) throw new DrillUnavailableError('this drill logs in to a private sshd, which must start as root (it switches to the login user)');
  if (!existsSync(SSHD)) throw new DrillUnavailableError('this drill needs OpenSSH: apt-get install openssh-server openssh-client');
  const dir = env.dir('sshd');
  const hostKey = join(dir, 'host_key');
  await sshKeyPair(hostKey);
  writeFileSync(join(dir, 'user_ca.pub'), `${o.userCaKey.trim()}\n`);
  writeFileSync(join(dir, 'principals'), `${o.principal}\n`);
  // sshd refuses to start without its privilege separation directory (the service unit makes it).
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
  const port = await freeLoopbackPort();
  const config = join(dir, 'sshd_config');
  writeFileSync(config, [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${hostKey}`, `PidFile ${join(dir, 'sshd.pid')}`,
    'UsePAM no', 'StrictModes no', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PubkeyAuthentication yes',
    'AuthorizedKeysFile none', 'PermitRootLogin forced-commands-only', `TrustedUserCAKeys ${join(dir, 'user_ca.pub')}`,
    `AuthorizedPrincipalsFile ${join(dir, 'principals')}`, `ForceCommand echo ${DRILL_LOGIN_OUTPUT}`,
    'AllowTcpForwarding no', 'X11Forwarding no', 'PermitTTY no', '',
  ].join('\n'));
  const check = await run(SSHD, ['-t', '-f', config]);
  if (check.code !== 0) throw new Error(`sshd -t refused the drill's config: ${check.stderr}`);
  const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  env.trackPid(child.pid!);
  let log = '';
  child.stderr!.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-4000); });
  env.defer('stop the drill sshd', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    env.untrackPid(child.pid!);
  });
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}: ${log}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (i >= 100) throw new Error(`sshd did not listen on 127.0.0.1:${port}: ${log}`);
    await sleep(100);
  }
  const knownHosts = join(dir, 'known_hosts');
  const hostPub = readFileSync(`${hostKey}.pub`, 'utf8');
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostPub}`);
  return { port, dir, knownHosts };
}

/** `ssh` with one key and its certificate, strict host checking; resolves with what the server ran, or throws with ssh's error. */
export async function sshLoginOnce(s: IsolatedSshd, o: { user: string; key: string; cert: string }): Promise<string> {
  const r = await run('ssh', [
    '-F', '/dev/null', '-p', String(s.port), '-i', o.key, '-o', `CertificateFile=${o.cert}`, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
    '-o', `UserKnownHostsFile=${s.knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes',
    '-o', 'ConnectTimeout=10', `${o.user}@127.0.0.1`, 'true',
  ]);
  if (r.code !== 0 || r.stdout.trim() !== DRILL_LOGIN_OUTPUT) throw new Error(`ssh login refused (exit ${r.code}): ${r.stderr.trim().slice(-400)}`);
  return r.stdout.trim();
}
