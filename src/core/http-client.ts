/** A small HTTP(S) client for drills: JSON in and out, trusting a given CA bundle. */
import { request, type Agent } from 'node:https';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';

export interface HttpResponse<T = unknown> { status: number; headers: IncomingHttpHeaders; body: T; raw: Buffer; contentType: string }

export interface HttpOptions {
  method?: string;
  token?: string;
  json?: unknown;
  body?: Uint8Array;
  headers?: Record<string, string>;
  /** PEM bundle trusted for https (the isolated node's own root). */
  ca?: string;
  timeoutMs?: number;
  /** A keep-alive agent (it carries its own trusted CA); default: a new connection per call. */
  agent?: Agent;
}

export function httpCall<T = any>(url: string, o: HttpOptions = {}): Promise<HttpResponse<T>> {
  const u = new URL(url);
  const payload = o.json !== undefined ? Buffer.from(JSON.stringify(o.json)) : o.body !== undefined ? Buffer.from(o.body) : undefined;
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (o.json !== undefined) headers['content-type'] = 'application/json';
  if (payload) headers['content-length'] = String(payload.length);
  const fn = u.protocol === 'https:' ? request : httpRequest;
  return new Promise((resolve, reject) => {
    const req = fn(u, { method: o.method ?? (payload ? 'POST' : 'GET'), headers, ca: o.ca, timeout: o.timeoutMs ?? 15_000, agent: o.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const ct = String(res.headers['content-type'] ?? '');
        let body: any = raw;
        if (ct.includes('json')) { try { body = JSON.parse(raw.toString('utf8')); } catch { body = raw.toString('utf8'); } }
        else if (ct.startsWith('text/') || ct.includes('pem')) body = raw.toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, raw, contentType: ct });
      });
      res.on('error', reject);
      res.on('aborted', () => reject(new Error(`response from ${url} aborted`)));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout calling ${url}`)));
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}
