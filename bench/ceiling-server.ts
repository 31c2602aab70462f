/**
 * The OCSP CEILING: a plain node:http server (no framework, no parsing, no
 * lookup) that answers every GET and POST with a fixed body and fixed headers
 * — the bytes Rampart's cached OCSP response puts on the wire. Run in its own
 * process by bench/ocsp-bench.ts:
 *
 *   node --import tsx bench/ceiling-server.ts <body-file> <headers-json-file>
 *
 * Listens on 127.0.0.1 on a free port and prints "CEILING_LISTENING <port>".
 */
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';

const [bodyFile, headersFile] = process.argv.slice(2);
if (!bodyFile || !headersFile) {
  console.error('usage: ceiling-server.ts <body-file> <headers-json-file>');
  process.exit(2);
}
const body = readFileSync(bodyFile);
const extra = JSON.parse(readFileSync(headersFile, 'utf8')) as Record<string, string>;
const headers: Record<string, string | number> = { ...extra, 'content-type': 'application/ocsp-response', 'content-length': body.length };

const server = createServer((req, res) => {
  if (req.method === 'POST') {
    // Read the request body completely before answering, as a real responder must.
    req.on('data', () => undefined);
    req.on('end', () => { res.writeHead(200, headers); res.end(body); });
    return;
  }
  res.writeHead(200, headers);
  res.end(body);
});
// The same connection limits as Rampart's listeners (src/http/servers.ts).
server.keepAliveTimeout = 5_000;
server.requestTimeout = 30_000;
server.maxRequestsPerSocket = 10_000;

server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  console.log(`CEILING_LISTENING ${port}`);
});

const shutdown = (): void => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2_000).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
