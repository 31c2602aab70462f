/**
 * Runs a real Rampart node as a child process (`rampart serve`) on free
 * loopback ports, for end-to-end tests: reads the one-time admin token from
 * its output and waits until /readyz answers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './ports.js';
import { lintDataDirErrors } from './lint-data-dir.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
export const RAMPART_BIN = join(ROOT, 'bin', 'rampart.mjs');

export interface NodeProcess {
  dataDir: string;
  httpUrl: string;
  httpsUrl: string;
  adminToken: string | null;
  output: () => string;
  child: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function tempDir(prefix = 'rampart-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface StartNodeOptions {
  dataDir?: string;
  httpPort?: number;
  httpsPort?: number;
  env?: Record<string, string>;
  /** Address to listen on (default 127.0.0.1; the fault lab gives a namespace's address). */
  host?: string;
  /** argv prefix the node runs under, e.g. ['ip', 'netns', 'exec', '<ns>'] (the fault lab). */
  wrap?: string[];
}

export async function startNode(opts: StartNodeOptions = {}): Promise<NodeProcess> {
  const dataDir = opts.dataDir ?? tempDir();
  const httpPort = opts.httpPort ?? await freePort();
  const httpsPort = opts.httpsPort ?? await freePort();
  const host = opts.host ?? '127.0.0.1';
  const argv = [process.execPath, RAMPART_BIN, '--data-dir', dataDir, 'serve', '--http', `${host}:${httpPort}`, '--https', `${host}:${httpsPort}`];
  const [file, ...args] = [...(opts.wrap ?? []), ...argv];
  const child = spawn(file!, args, {
    env: { ...process.env, RAMPART_LOG__LEVEL: 'warn', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => { buf += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { buf += d.toString(); });
  const httpUrl = `http://${host}:${httpPort}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`rampart serve exited with ${child.exitCode}:\n${buf}`);
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`rampart serve did not become ready:\n${buf}`); }
    try {
      const r = await fetch(`${httpUrl}/readyz`);
      if (r.status === 200 && buf.includes('Rampart CA node is running')) break;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  const m = /Admin API token \(shown once, stored hashed\):\s+(\S+)/.exec(buf);
  return {
    dataDir, httpUrl, httpsUrl: `https://${host}:${httpsPort}`, adminToken: m ? m[1]! : null, output: () => buf, child,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const done = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(t);
    },
  };
}

/**
 * Removes a test's directory; a data directory's certificates, CA
 * certificates and CRLs are linted first (lint-data-dir.ts), and lint errors
 * fail the caller after the directory is gone.
 */
export function removeDir(dir: string): void {
  let problems: string[] = [];
  try {
    problems = lintDataDirErrors(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (problems.length) throw new Error(`what the node in ${dir} signed fails lint (src/pki/lint, \`rampart lint\`):\n${problems.join('\n')}`);
}
