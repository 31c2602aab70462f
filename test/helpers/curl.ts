/**
 * The real curl CLI as an HTTPS client (EST: basic auth, --data-binary,
 * client certificates). Installs curl on Debian when missing (as root).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, existsSync } from 'node:fs';
import { requireCommand } from './debian.js';

export interface CurlResult {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** curl's exit code and stderr, for messages. */
  code: number;
  err: string;
}

export interface CurlOptions {
  /** Trust anchor (PEM file) for the server certificate. */
  cacert: string;
  method?: 'GET' | 'POST';
  /** A file sent as is (--data-binary @file). */
  dataFile?: string;
  headers?: Record<string, string>;
  /** user:password for HTTP basic auth. */
  basic?: string;
  /** Client certificate and key (PEM files) for mutual TLS. */
  cert?: { cert: string; key: string };
  /** Where the body goes (read back as text). */
  out: string;
}

export function curl(url: string, o: CurlOptions): CurlResult {
  const bin = requireCommand('curl', 'curl');
  const headerFile = `${o.out}.headers`;
  for (const f of [o.out, headerFile]) if (existsSync(f)) rmSync(f);
  const args = ['-sS', '--max-time', '30', '--cacert', o.cacert, '-o', o.out, '-D', headerFile, '-w', '%{http_code}'];
  if (o.method) args.push('-X', o.method);
  if (o.dataFile) args.push('--data-binary', `@${o.dataFile}`);
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k}: ${v}`);
  if (o.basic) args.push('-u', o.basic);
  if (o.cert) args.push('--cert', o.cert.cert, '--key', o.cert.key);
  args.push(url);
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 40_000 });
  const headers: Record<string, string> = {};
  if (existsSync(headerFile)) {
    for (const line of readFileSync(headerFile, 'utf8').split(/\r?\n/)) {
      const m = /^([^:\s]+):\s*(.*)$/.exec(line);
      if (m) headers[m[1]!.toLowerCase()] = m[2]!;
    }
  }
  return {
    status: Number(r.stdout || 0), headers, body: existsSync(o.out) ? readFileSync(o.out, 'utf8') : '',
    code: r.status ?? -1, err: r.stderr ?? '',
  };
}
