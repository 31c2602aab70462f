// The container image's HEALTHCHECK: exits 0 when the node's /readyz, on the
// plain-HTTP listener named by RAMPART_HTTP__LISTEN (the image sets
// 0.0.0.0:8080), answers 200 within 4 s; exits 1 otherwise. Plain node, no
// tsx: it runs every interval and must start fast.
const listen = process.env.RAMPART_HTTP__LISTEN || '0.0.0.0:8080';
const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen.trim());
const host = !m ? '127.0.0.1'
  : m[1] !== undefined ? (m[1] === '::' ? '[::1]' : `[${m[1]}]`)
  : (m[2] === '0.0.0.0' ? '127.0.0.1' : m[2]);
const url = `http://${host}:${m ? m[3] : '8080'}/readyz`;
try {
  const r = await fetch(url, { signal: AbortSignal.timeout(4000) });
  process.stdout.write(`${url}: ${r.status}\n`);
  process.exit(r.status === 200 ? 0 : 1);
} catch (e) {
  process.stdout.write(`${url}: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
