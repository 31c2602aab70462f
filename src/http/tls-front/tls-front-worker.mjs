// The HTTPS listener's TLS, in its own thread (tls-front.ts says why).
//
// It accepts TCP connections on the HTTPS address, completes the handshake
// (ECDHE, the server's signature, the optional client certificate) and then
// relays the plaintext to the main thread's HTTP server over a local socket.
// Each relayed connection starts with one line of JSON (the preface): the
// per-process secret, the client's address and port, and the client
// certificate as the handshake saw it. Nothing else is added or changed.
//
// Plain JavaScript on purpose: it needs no TypeScript loader, so the thread
// starts in milliseconds with every node.
import { readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { setPriority } from 'node:os';
import { createServer } from 'node:tls';
import { parentPort, workerData } from 'node:worker_threads';

const { host, port, upstream, secret, identity, handshakeTimeoutMs, maxConnections, nice } = workerData;

// API traffic gives way to validation: when this thread and the one that answers OCSP want the same
// core, the scheduler favours OCSP (nice 5 weighs about a third of nice 0). A bulk export's TLS records
// would otherwise take an equal share. On Linux a thread's nice value is its own, set through its id
// (as core/thread-priority.ts does; repeated here so that this file stays plain JavaScript).
if (nice) {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, nice);
  } catch { /* not Linux: the default priority */ }
}

function contextOf(id) {
  return {
    key: id.keyPem, cert: id.certPem,
    // Operators may log in with a client certificate of this CA: asked for, never required,
    // and judged per request on the main thread (src/auth/operator-certs.ts).
    ...(id.caPem ? { requestCert: true, rejectUnauthorized: false, ca: id.caPem } : {}),
  };
}

function prefaceOf(tls) {
  const peer = tls.getPeerCertificate();
  const cert = peer && peer.raw ? peer.raw.toString('base64') : null;
  return `${JSON.stringify({
    k: secret, a: tls.remoteAddress ?? null, p: tls.remotePort ?? null, f: tls.remoteFamily ?? null,
    v: tls.authorized === true, e: tls.authorizationError ? String(tls.authorizationError) : null, c: cert,
  })}\n`;
}

function relay(tls) {
  // The client went away between the handshake and now: nothing to relay.
  if (tls.destroyed || !tls.remoteAddress) { tls.destroy(); return; }
  const up = connect({ path: upstream, allowHalfOpen: true });
  up.write(prefaceOf(tls));
  // pipe() ends the other side when one side ends (a half-close travels on); the
  // response of a client that half-closed still comes back.
  tls.pipe(up);
  up.pipe(tls);
  tls.on('error', () => up.destroy());
  // What the main thread wrote before the relay failed is still sent to the client.
  up.on('error', () => { tls.unpipe(up); if (!tls.destroyed) tls.destroySoon(); });
  tls.on('close', () => up.destroy());
  // The main thread closed the connection: what it wrote is flushed, then the TLS socket closes.
  up.on('close', () => { if (!tls.destroyed) tls.destroySoon(); });
}

const server = createServer({ ...contextOf(identity), handshakeTimeout: handshakeTimeoutMs, allowHalfOpen: true }, relay);
server.maxConnections = maxConnections;
server.on('drop', () => parentPort.postMessage({ type: 'drop' }));
// A failed or timed-out handshake is the client's problem: its socket is closed here. (Node
// only emits the event: a handshake timeout alone would leave a silent socket open.)
server.on('tlsClientError', (_err, socket) => socket.destroy());
server.on('error', (e) => parentPort.postMessage({ type: 'error', code: e.code ?? null, message: e.message }));
server.listen({ host, port }, () => parentPort.postMessage({ type: 'listening', address: server.address() }));

parentPort.on('message', (m) => {
  if (m.type === 'context') server.setSecureContext(contextOf(m.identity));
  else if (m.type === 'close') {
    // New connections are refused at once; open ones end as the main thread closes them ('drained').
    server.close(() => parentPort.postMessage({ type: 'drained' }));
    parentPort.postMessage({ type: 'closed' });
  }
});
