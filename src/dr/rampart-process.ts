/**
 * Rampart processes inside a drill: `rampart serve` children on free loopback
 * ports (the admin token read from their first-run output, ready when
 * /readyz answers) and one-shot CLI commands. Both run bin/rampart.mjs of
 * this installation with an environment that never points at the operator's
 * node (its own --data-dir, no RAMPART_CONFIG, no inherited RAMPART_* settings).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { DrillEnvironment } from './drill-environment.js';
import { freeLoopbackPort } from '../core/free-port.js';
import { installRoot } from '../core/install-root.js';
import { httpCall } from '../core/http-client.js';
import { sleep } from '../core/wait.js';

const ROOT = installRoot(import.meta.dirname);
export const RAMPART_BIN = join(ROOT, 'bin', 'rampart.mjs');
/** Children run from the installation directory: tsx reads its tsconfig.json (decorators) from the working directory. */
const CWD = ROOT;

/** The parent's environment without RAMPART_* variables (they configure the operator's node, not the drill's). */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RAMPART_')) env[k] = v;
  return { ...env, RAMPART_LOG__LEVEL: 'warn', ...extra };
}

export interface ServeProcess {
  name: string;
  dataDir: string;
  httpUrl: string;
  httpsUrl: string;
  adminToken: string | null;
  child: ChildProcess;
  output(): string;
  exited(): boolean;
  kill(signal: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

export async function startServe(env: DrillEnvironment, o: { name: string; dataDir: string; env?: Record<string, string>; readyTimeoutMs?: number; ports?: ServePorts }): Promise<ServeProcess> {
  const { http: httpPort, https: httpsPort } = o.ports ?? await servePorts();
  const child = spawn(process.execPath, [RAMPART_BIN, '--data-dir', o.dataDir, 'serve', '--http', `127.0.0.1:${httpPort}`, '--https', `127.0.0.1:${httpsPort}`], {
    env: cleanEnv(o.env), stdio: ['ignore', 'pipe', 'pipe'], cwd: CWD,
  });
  env.trackPid(child.pid!);
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => { buf += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { buf += d.toString(); });
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const kill = async (signal: NodeJS.Signals) => {
    if (exited()) return;
    const done = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await done;
    clearTimeout(t);
    env.untrackPid(child.pid!);
  };
  const p: ServeProcess = {
    name: o.name, dataDir: o.dataDir, httpUrl: `http://127.0.0.1:${httpPort}`, httpsUrl: `https://127.0.0.1:${httpsPort}`, adminToken: null, child,
    output: () => buf, exited, kill, stop: () => kill('SIGTERM'),
  };
  env.defer(`stop ${o.name}`, () => kill('SIGKILL'));
  const deadline = Date.now() + (o.readyTimeoutMs ?? 90_000);
  for (;;) {
    if (exited()) throw new Error(`${o.name}: rampart serve exited with ${child.exitCode ?? child.signalCode}:\n${tail(buf)}`);
    if (Date.now() > deadline) { await kill('SIGKILL'); throw new Error(`${o.name}: rampart serve did not become ready:\n${tail(buf)}`); }
    try {
      const r = await httpCall(`${p.httpUrl}/readyz`, { timeoutMs: 2000 });
      if (r.status === 200 && buf.includes('Rampart CA node is running')) break;
    } catch { /* not listening yet */ }
    await sleep(100);
  }
  p.adminToken = /Admin API token \(shown once, stored hashed\):\s+(\S+)/.exec(buf)?.[1] ?? null;
  return p;
}

/** The loopback ports of a `rampart serve` (chosen before it starts when others must know its URLs, or to restart it on the same ones). */
export interface ServePorts { http: number; https: number }

export async function servePorts(): Promise<ServePorts> {
  return { http: await freeLoopbackPort(), https: await freeLoopbackPort() };
}

export interface CliResult { code: number; stdout: string; stderr: string }

/** Runs `rampart --data-dir DIR ARGS...` to completion. */
export function runRampart(env: DrillEnvironment, dataDir: string, args: string[], o: { env?: Record<string, string>; timeoutMs?: number; inheritEnv?: boolean } = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    // inheritEnv: a read-only command about the operator's node (its RAMPART_* settings apply).
    const childEnv = o.inheritEnv ? { ...process.env, RAMPART_LOG__LEVEL: 'warn', ...o.env } : cleanEnv(o.env);
    const child = spawn(process.execPath, [RAMPART_BIN, '--data-dir', dataDir, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], cwd: CWD });
    env.trackPid(child.pid!);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const t = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(t);
      env.untrackPid(child.pid!);
      resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/** Runs a CLI command with --json and parses its output; throws with its stderr when it fails. */
export async function rampartJson<T = any>(env: DrillEnvironment, dataDir: string, args: string[], o: { env?: Record<string, string>; inheritEnv?: boolean } = {}): Promise<T> {
  const r = await runRampart(env, dataDir, ['--json', ...args], o);
  if (r.code !== 0) throw new Error(`rampart ${args.join(' ')} failed (exit ${r.code}): ${tail(r.stderr || r.stdout)}`);
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`rampart ${args.join(' ')}: output is not JSON: ${tail(r.stdout)}`);
  }
}

export function tail(s: string, lines = 20): string {
  return s.trim().split('\n').slice(-lines).join('\n');
}
