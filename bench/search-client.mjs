// Name searches against a node's REST API in loops, each on a new TLS connection (a full handshake),
// until SIGTERM; then prints one JSON line: { searches, latencyMs: { p50, p99, max } }.
//
// Its own process on purpose (bench/scale-bench.ts): the client's half of every handshake (key
// agreement, chain verification) would otherwise run on the event loop that also drives the OCSP
// load, and the OCSP latency recorded would be the load generator's own stall.
//
// usage: node bench/search-client.mjs HTTPS_URL TOKEN CA_PEM_FILE [LOOPS]
import { createSecureContext } from 'node:tls';
import { request } from 'node:https';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

const [url, token, caFile, loopsArg] = process.argv.slice(2);
const secureContext = createSecureContext({ ca: readFileSync(caFile, 'utf8') });
const lat = [];
let stop = false;
process.on('SIGTERM', () => { stop = true; });

const one = () => new Promise((resolve) => {
  const t0 = performance.now();
  const req = request(`${url}/api/v1/certificates?name=${randomBytes(2).toString('hex')}&limit=50`, {
    agent: false, secureContext, headers: { authorization: `Bearer ${token}`, connection: 'close' },
  }, (res) => {
    res.resume();
    res.on('end', () => { lat.push(performance.now() - t0); resolve(); });
    res.on('error', () => resolve());
  });
  req.on('error', () => resolve());
  req.end();
});

await Promise.all(Array.from({ length: Number(loopsArg ?? 5) }, async () => { while (!stop) await one(); }));
lat.sort((a, b) => a - b);
const q = (p) => (lat.length ? Math.round(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] * 100) / 100 : 0);
process.stdout.write(`${JSON.stringify({ searches: lat.length, latencyMs: { p50: q(0.5), p99: q(0.99), max: q(1) } })}\n`);
