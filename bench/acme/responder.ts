/**
 * The one http-01 responder of the ACME benchmark: a node:http server on
 * 127.0.0.1 answering GET /.well-known/acme-challenge/<token> with the key
 * authorization the client registered for that token. Both ACME servers
 * (Rampart and pebble) validate against it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const PREFIX = '/.well-known/acme-challenge/';

export interface Responder {
  port: number;
  /** token -> key authorization. */
  tokens: Map<string, string>;
  /** Validation requests answered 200 / 404 since the last reset. */
  hits: { ok: number; notFound: number };
  close(): Promise<void>;
}

export async function startResponder(): Promise<Responder> {
  const tokens = new Map<string, string>();
  const hits = { ok: 0, notFound: 0 };
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    const keyAuth = req.method === 'GET' && path.startsWith(PREFIX) ? tokens.get(path.slice(PREFIX.length)) : undefined;
    if (keyAuth === undefined) {
      hits.notFound++;
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    hits.ok++;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(keyAuth) }).end(keyAuth);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port, tokens, hits,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
