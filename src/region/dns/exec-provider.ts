/**
 * DNS provider 'exec': an operator's command makes the change (nsupdate, a
 * cloud CLI, an internal API client). The command is run from its argv, never
 * through a shell, with
 *
 *   RAMPART_DNS_NAME, RAMPART_DNS_TYPE, RAMPART_DNS_TTL,
 *   RAMPART_DNS_TARGETS (comma-separated), RAMPART_DNS_REGION, RAMPART_DNS_REASON
 *
 * added to its environment and the change as JSON on stdin. Exit 0 means the
 * change is made; the last line of stdout becomes the result's detail. A
 * non-zero exit, a signal or the timeout is an Error naming the exit code and
 * the last lines of stderr.
 *
 * The command runs in its own process group (spawn, detached, shell: false;
 * the same as execFile otherwise), and the timeout kills the whole group: a
 * script's children (a `sleep`, a curl) would otherwise keep its output pipes
 * open and the wait going after the script itself was killed.
 *
 * current() runs nothing and returns null: the command cannot be asked.
 */
import { spawn } from 'node:child_process';
import { validateDnsChange, type DnsChange, type DnsProvider, type DnsUpdateResult } from './dns-provider.js';

export interface ExecDnsProviderOptions {
  /** argv; command[0] is looked up in PATH. */
  command: string[];
  timeoutSeconds: number;
  /** Environment the command starts from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Working directory of the command (default the process's). */
  cwd?: string;
}

/** Output kept per stream; older output is dropped. */
const MAX_OUTPUT = 256 * 1024;
const STDERR_LINES = 10;
/** After SIGTERM at the timeout, the group gets this long before SIGKILL. */
const KILL_GRACE_MS = 2000;

export class ExecDnsProvider implements DnsProvider {
  readonly kind = 'exec';

  constructor(private readonly o: ExecDnsProviderOptions) {
    if (!Array.isArray(o.command) || o.command.length === 0 || !o.command[0]) throw new Error('DNS exec provider: command must be a non-empty argv list');
    if (!Number.isInteger(o.timeoutSeconds) || o.timeoutSeconds < 1) throw new Error('DNS exec provider: timeoutSeconds must be a positive integer');
  }

  async current(_name: string, _type: DnsChange['type']): Promise<string[] | null> {
    return null;
  }

  async update(change: DnsChange): Promise<DnsUpdateResult> {
    validateDnsChange(change);
    const env: NodeJS.ProcessEnv = {
      ...(this.o.env ?? process.env),
      RAMPART_DNS_NAME: change.name,
      RAMPART_DNS_TYPE: change.type,
      RAMPART_DNS_TTL: String(change.ttl),
      RAMPART_DNS_TARGETS: change.targets.join(','),
      RAMPART_DNS_REGION: change.region,
      RAMPART_DNS_REASON: change.reason,
    };
    const input = `${JSON.stringify(change)}\n`;
    const r = await run(this.o.command, env, input, this.o.timeoutSeconds * 1000, this.o.cwd);
    const shown = describeCommand(this.o.command);
    if (r.spawnError) throw new Error(`DNS exec provider: could not run ${shown}: ${r.spawnError.message}`);
    const tail = lastLines(r.stderr, STDERR_LINES);
    const stderrPart = tail ? `; stderr:\n${tail}` : ' (no stderr)';
    if (r.timedOut) {
      throw new Error(`DNS exec provider: ${shown} timed out after ${this.o.timeoutSeconds}s and was killed (exit code ${r.code ?? 'none'}, signal ${r.signal ?? 'none'})${stderrPart}`);
    }
    if (r.code !== 0) {
      const how = r.code === null ? `was killed by signal ${r.signal}` : `exited with code ${r.code}`;
      throw new Error(`DNS exec provider: ${shown} ${how} for ${change.name} ${change.type}${stderrPart}`);
    }
    const detail = lastLines(r.stdout, 1) || `${shown} exited with code 0`;
    return { provider: this.kind, name: change.name, previous: null, targets: [...change.targets], detail };
  }
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  spawnError?: Error;
}

function run(argv: string[], env: NodeJS.ProcessEnv, input: string, timeoutMs: number, cwd: string | undefined): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, cwd, shell: false, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let spawnError: Error | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const keep = (buf: string, chunk: Buffer): string => {
      const s = buf + chunk.toString('utf8');
      return s.length > MAX_OUTPUT ? s.slice(s.length - MAX_OUTPUT) : s;
    };
    child.stdout.on('data', (c: Buffer) => { stdout = keep(stdout, c); });
    child.stderr.on('data', (c: Buffer) => { stderr = keep(stderr, c); });
    // A command that does not read its stdin closes the pipe: not an error.
    child.stdin.on('error', () => undefined);
    const killGroup = (signal: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try { process.kill(-child.pid, signal); } catch { /* group already gone */ }
    };
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      // Whatever the command left running in its group goes with it.
      if (timedOut) killGroup('SIGKILL');
      resolve({ code, signal, stdout, stderr, timedOut, ...(spawnError ? { spawnError } : {}) });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => {
        killGroup('SIGKILL');
        // A process outside the group may still hold the pipes: stop waiting for them.
        child.stdout.destroy();
        child.stderr.destroy();
      }, KILL_GRACE_MS);
    }, timeoutMs);
    child.on('error', (e) => {
      spawnError = e;
      if (child.pid === undefined) finish(null, null); // never started
    });
    child.on('close', (code, signal) => finish(code, signal));
    child.stdin.end(input);
  });
}

function lastLines(text: string, n: number): string {
  const lines = text.split(/\r?\n/).map((l) => l.trimEnd()).filter((l) => l.trim() !== '');
  return lines.slice(-n).join('\n');
}

function describeCommand(argv: string[]): string {
  return `\`${argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ')}\``;
}
