/** The rampart CLI as a child process (bin/rampart.mjs on a data directory), asynchronous, with a hard timeout. */
import { execFile } from 'node:child_process';
import { RAMPART_BIN } from './node-process.js';

export interface CliRun { code: number; stdout: string; stderr: string }

export function rampartAsync(dataDir: string, args: string[], timeoutMs = 300_000, env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [RAMPART_BIN, '--data-dir', dataDir, ...args], {
      encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, RAMPART_LOG__LEVEL: 'warn', ...env }, maxBuffer: 16 * 1024 * 1024,
    }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}
