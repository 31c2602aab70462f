/** An s3rver (S3 API on 127.0.0.1) in a child process; stop() ends it by PID. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';

export interface S3rverProcess { endpoint: string; stop(): Promise<void> }

const MAIN = fileURLToPath(new URL('./s3rver-main.mjs', import.meta.url));

export async function startS3rver(directory: string, bucket: string): Promise<S3rverProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--openssl-legacy-provider', MAIN, String(port), directory, bucket], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`s3rver did not start in 20 s: ${stderr}`)), 20_000);
    child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('ready')) { clearTimeout(timer); resolve(); } });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`s3rver exited (${code}): ${stderr}`)); });
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
