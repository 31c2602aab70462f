/**
 * OCSP over HTTP (RFC 6960 appendix A, RFC 5019), on plain node:http ahead of
 * the router: validation is the hottest path, so a request whose exact bytes
 * were answered before is served from the responder's cache without parsing
 * any ASN.1. Everything else goes through OcspResponder.respond.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import type { CacheEntry, OcspAnswer, OcspResponder } from '../../validation/ocsp/ocsp-responder.js';
import { ocspErrorResponse } from '../../validation/ocsp/ocsp-codec.js';

export interface OcspHandlerOptions {
  responder: OcspResponder;
  clock: Clock;
  maxAgeSeconds: number;
  maxRequestBytes: number;
  log?: Logger;
}

const CT = 'application/ocsp-response';

/** Decodes the GET form: base64 (URL-encoded or not, '/' and '//' allowed inside) after /ocsp/. */
export function decodeOcspGetPath(rawUrl: string): Uint8Array | null {
  const path = rawUrl.split('?')[0]!;
  const i = path.indexOf('/ocsp/');
  if (i < 0) return null;
  let b64 = path.slice(i + '/ocsp/'.length);
  try {
    b64 = decodeURIComponent(b64);
  } catch {
    return null;
  }
  b64 = b64.replace(/\s/g, '+'); // a '+' turned into a space by a form decoder
  if (!b64 || !/^[A-Za-z0-9+/=_-]+$/.test(b64)) return null;
  const der = Buffer.from(b64.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return der.length ? new Uint8Array(der) : null;
}

/**
 * Returns a request listener that takes /ocsp requests (returns true) and
 * leaves the rest to the caller (returns false).
 */
export function createOcspHandler(o: OcspHandlerOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const malformed = Buffer.from(ocspErrorResponse('malformedRequest'));
  const internal = Buffer.from(ocspErrorResponse('internalError'));

  const maxAge = (nextUpdate: Date): number =>
    Math.max(0, Math.min(o.maxAgeSeconds, Math.floor((nextUpdate.getTime() - o.clock.now().getTime()) / 1000)));

  function sendEntry(res: ServerResponse, e: CacheEntry, ifNoneMatch: string | undefined): void {
    const headers = {
      'content-type': CT,
      'cache-control': `max-age=${maxAge(e.nextUpdate)}, public, no-transform, must-revalidate`,
      'last-modified': e.lastModified,
      expires: e.expires,
      etag: e.etag,
    };
    if (ifNoneMatch !== undefined && ifNoneMatch === e.etag) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': e.der.length }).end(e.der);
  }

  function sendUncached(res: ServerResponse, body: Uint8Array): void {
    res.writeHead(200, { 'content-type': CT, 'content-length': body.length, 'cache-control': 'no-cache, no-store' }).end(body);
  }

  async function answer(res: ServerResponse, key: string, der: Uint8Array | null, ifNoneMatch: string | undefined): Promise<void> {
    if (!der) return sendUncached(res, malformed);
    const a: OcspAnswer = await o.responder.respond(der);
    if (a.entry) {
      o.responder.rememberRaw(key, a.entry);
      return sendEntry(res, a.entry, ifNoneMatch);
    }
    return sendUncached(res, a.body);
  }

  function fail(res: ServerResponse, e: unknown): void {
    o.log?.error({ err: e }, 'OCSP request failed');
    if (!res.headersSent) res.writeHead(500, { 'content-type': CT, 'content-length': internal.length }).end(internal);
    else res.destroy();
  }

  return (req, res) => {
    const url = req.url ?? '';
    if (!(url === '/ocsp' || url.startsWith('/ocsp/') || url.startsWith('/ocsp?'))) return false;
    const inm = typeof req.headers['if-none-match'] === 'string' ? req.headers['if-none-match'] : undefined;
    if (req.method === 'GET' || req.method === 'HEAD') {
      const key = `G${url}`;
      const hit = o.responder.lookupRaw(key);
      if (hit) { sendEntry(res, hit, inm); return true; }
      const der = url.length > o.maxRequestBytes * 2 ? null : decodeOcspGetPath(url);
      answer(res, key, der, inm).catch((e) => fail(res, e));
      return true;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'GET, POST', 'content-type': 'text/plain' }).end('method not allowed\n');
      return true;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
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
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      const key = `P${body.toString('latin1')}`;
      const hit = body.length ? o.responder.lookupRaw(key) : undefined;
      if (hit) { sendEntry(res, hit, inm); return; }
      answer(res, key, body.length ? new Uint8Array(body.buffer, body.byteOffset, body.length) : null, inm).catch((e) => fail(res, e));
    });
    return true;
  };
}
