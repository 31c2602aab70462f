/** A small HTTPS JSON client that trusts the node's own root CA. */
import { request } from 'node:https';
import { request as httpRequest } from 'node:http';

export interface ApiResponse<T = any> { status: number; headers: Record<string, string | string[] | undefined>; body: T; raw: Buffer }

export function call<T = any>(url: string, opts: { method?: string; token?: string; json?: unknown; body?: Buffer | string; headers?: Record<string, string>; ca?: string } = {}): Promise<ApiResponse<T>> {
  const u = new URL(url);
  const payload = opts.json !== undefined ? Buffer.from(JSON.stringify(opts.json)) : opts.body !== undefined ? Buffer.from(opts.body) : undefined;
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.json !== undefined) headers['content-type'] = 'application/json';
  if (payload) headers['content-length'] = String(payload.length);
  const fn = u.protocol === 'https:' ? request : httpRequest;
  return new Promise((resolve, reject) => {
    const req = fn(u, { method: opts.method ?? (payload ? 'POST' : 'GET'), headers, ca: opts.ca, timeout: 30_000, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const ct = String(res.headers['content-type'] ?? '');
        let body: any = raw;
        if (ct.includes('json')) { try { body = JSON.parse(raw.toString('utf8')); } catch { body = raw.toString('utf8'); } }
        else if (ct.startsWith('text/') || ct.includes('pem')) body = raw.toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, raw });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout calling ${url}`)));
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}
