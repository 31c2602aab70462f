/**
 * OCSP over HTTP (RFC 6960 appendix A, RFC 5019), on plain node:http ahead of
 * the router: validation is the hottest path. This route only reads the
 * request (GET path or bounded POST body), makes one call to the responder
 * (src/validation/ocsp/), and writes the answer with its caching headers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import type { CacheEntry, OcspAnswer, OcspResponder } from '../../validation/ocsp/ocsp-responder.js';
import { ocspErrorResponse } from '../../validation/ocsp/ocsp-codec.js';
import { getRequest, postRequest, type OcspHttpRequest } from '../../validation/ocsp/ocsp-request.js';

export interface OcspRouteOptions {
  responder: OcspResponder;
  clock: Clock;
  maxAgeSeconds: number;
  maxRequestBytes: number;
  log?: Logger;
}

const CT = 'application/ocsp-response';

/**
 * One request header read from `rawHeaders` (name, value, name, value...): the
 * first with that name, any case. Reading `req.headers` builds an object of
 * every header on each request, which cost more than the rest of a cached
 * answer's JavaScript (measured with perf on this machine kind).
 */
function rawHeader(raw: string[], lowerName: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) return raw[i + 1];
  }
  return undefined;
}

/**
 * Returns a request listener that takes /ocsp requests (returns true) and
 * leaves the rest to the caller (returns false).
 */
export function createOcspHandler(o: OcspRouteOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const internal = Buffer.from(ocspErrorResponse('internalError'));

  const maxAge = (nextUpdate: Date, nowMs: number): number =>
    Math.max(0, Math.min(o.maxAgeSeconds, Math.floor((nextUpdate.getTime() - nowMs) / 1000)));

  // The headers of a cached response change only with max-age, i.e. once a second:
  // made once per entry and second, not per request (hot path).
  const headersOf = new WeakMap<CacheEntry, { second: number; h: Record<string, string | number>; h304: Record<string, string> }>();
  function cacheHeaders(e: CacheEntry): { h: Record<string, string | number>; h304: Record<string, string> } {
    const nowMs = o.clock.now().getTime();
    const second = Math.floor(nowMs / 1000);
    const memo = headersOf.get(e);
    if (memo && memo.second === second) return memo;
    const h304 = {
      'content-type': CT,
      'cache-control': `max-age=${maxAge(e.nextUpdate, nowMs)}, public, no-transform, must-revalidate`,
      'last-modified': e.lastModified,
      expires: e.expires,
      etag: e.etag,
    };
    const made = { second, h304, h: { ...h304, 'content-length': e.der.length } };
    headersOf.set(e, made);
    return made;
  }

  function sendCacheable(res: ServerResponse, e: CacheEntry, ifNoneMatch: string | undefined): void {
    const { h, h304 } = cacheHeaders(e);
    if (ifNoneMatch !== undefined && ifNoneMatch === e.etag) {
      res.writeHead(304, h304).end();
      return;
    }
    res.writeHead(200, h).end(e.der);
  }

  function send(res: ServerResponse, a: OcspAnswer, ifNoneMatch: string | undefined): void {
    if (a.cache) return sendCacheable(res, a.cache, ifNoneMatch);
    res.writeHead(200, { 'content-type': CT, 'content-length': a.body.length, 'cache-control': 'no-cache, no-store' }).end(a.body);
  }

  function fail(res: ServerResponse, e: unknown): void {
    o.log?.error({ err: e }, 'OCSP request failed');
    if (!res.headersSent) res.writeHead(500, { 'content-type': CT, 'content-length': internal.length }).end(internal);
    else res.destroy();
  }

  function answer(res: ServerResponse, req: OcspHttpRequest, ifNoneMatch: string | undefined): void {
    let a: OcspAnswer | Promise<OcspAnswer>;
    try {
      a = o.responder.answer(req);
    } catch (e) {
      fail(res, e);
      return;
    }
    if (a instanceof Promise) a.then((x) => send(res, x, ifNoneMatch), (e) => fail(res, e));
    else send(res, a, ifNoneMatch);
  }

  return (req, res) => {
    const url = req.url ?? '';
    if (!(url === '/ocsp' || url.startsWith('/ocsp/') || url.startsWith('/ocsp?'))) return false;
    const inm = rawHeader(req.rawHeaders, 'if-none-match');
    if (req.method === 'GET' || req.method === 'HEAD') {
      answer(res, getRequest(url, o.maxRequestBytes), inm);
      return true;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'GET, POST', 'content-type': 'text/plain' }).end('method not allowed\n');
      return true;
    }
    const declared = Number(rawHeader(req.rawHeaders, 'content-length') ?? 0);
    if (declared > o.maxRequestBytes) {
      res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end('OCSP request too large\n');
      req.resume();
      return true;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > o.maxRequestBytes) {
        if (!tooBig) res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end('OCSP request too large\n');
        tooBig = true;
        return;
      }
      chunks.push(c);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (tooBig) return;
      answer(res, postRequest(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)), inm);
    });
    return true;
  };
}
