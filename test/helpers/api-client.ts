/** A small HTTPS JSON client that trusts the node's own root CA (the drills' client, with the tests' defaults). */
import { httpCall } from '../../src/core/http-client.js';

export interface ApiResponse<T = any> { status: number; headers: Record<string, string | string[] | undefined>; body: T; raw: Buffer }

export async function call<T = any>(url: string, opts: { method?: string; token?: string; json?: unknown; body?: Buffer | string; headers?: Record<string, string>; ca?: string } = {}): Promise<ApiResponse<T>> {
  const r = await httpCall<T>(url, {
    ...opts, body: typeof opts.body === 'string' ? Buffer.from(opts.body) : opts.body, timeoutMs: 30_000,
  });
  return { status: r.status, headers: r.headers, body: r.body, raw: r.raw };
}
