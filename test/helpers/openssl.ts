/** Runs the real openssl CLI (a client nobody here wrote). */
import { spawnSync } from 'node:child_process';

export interface RunResult { code: number; out: string }

export function openssl(args: string[], input?: Buffer | string): RunResult {
  const r = spawnSync('openssl', args, { input, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`openssl is required for these tests (apt-get install openssl): ${r.error.message}`);
  return { code: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

export function mustOpenssl(args: string[], input?: Buffer | string): string {
  const r = openssl(args, input);
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.code}):\n${r.out}`);
  return r.out;
}

/** A fresh key and CSR made by openssl req. */
export function makeCsr(dir: string, name: string, opts: { subj: string; san?: string; key?: string[] }): { keyPath: string; csrPath: string } {
  const keyPath = `${dir}/${name}.key`;
  const csrPath = `${dir}/${name}.csr`;
  const key = opts.key ?? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  mustOpenssl(['req', '-new', ...key, '-nodes', '-keyout', keyPath, '-subj', opts.subj, ...(opts.san ? ['-addext', `subjectAltName=${opts.san}`] : []), '-out', csrPath]);
  return { keyPath, csrPath };
}
