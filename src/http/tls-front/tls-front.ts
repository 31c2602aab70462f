/**
 * TLS of the HTTPS listener on its own thread.
 *
 * Why: the main thread answers OCSP. A full TLS handshake costs it an ECDHE
 * key agreement and an ECDSA signature (about a millisecond), and every
 * record is encrypted there too. A client that opens a new HTTPS connection
 * per API call (curl in a loop, most scripts) therefore delayed validation:
 * at 10M certificates, name searches with a new connection each raised
 * cached OCSP p99 from 7.5 to 18.1 ms (docs/DESIGN.md, "Validation never
 * waits for TLS").
 *
 * How: a worker thread (tls-front-worker.mjs) listens on the HTTPS address,
 * completes each handshake and relays the plaintext to the main thread's
 * HTTP server, which listens on an abstract Unix socket of this process.
 * Every relayed connection starts with a one-line preface: a random secret of
 * this process (any local process can connect to an abstract socket; without
 * the secret it is closed unread), the client's address and port, and the
 * client certificate with the handshake's verdict. The socket is then handed
 * to node's HTTP server with those facts on it (`remoteAddress`,
 * `encrypted`, `authorized`, `getPeerCertificate()`), so fastify, the rate
 * limits, the audit log and client-certificate login see what they saw on a
 * TLS socket. HTTP itself (parsing, timeouts, keep-alive) stays on the main
 * thread, where the handlers are.
 *
 * The thread owns the handshake timeout and the connection cap (a refused
 * connection is reported back and counted); a thread that dies is started
 * again after a second. The relay costs one local socket hop per request.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { parsePreface, type Preface } from './preface.js';

const ENTRY = new URL('./tls-front-worker.mjs', import.meta.url);
const RESTART_DELAY_MS = 1000;
/** The TLS thread's nice value: below validation, above the background threads (10). */
export const TLS_THREAD_NICE = 5;
const CLOSE_TIMEOUT_MS = 5000;
/** A preface is a few hundred bytes, or a few KiB with a client certificate. */
const PREFACE_MAX_BYTES = 64 * 1024;
const PREFACE_TIMEOUT_MS = 5000;

export interface TlsFrontIdentity { keyPem: string; certPem: string; caPem?: string }

export interface TlsFrontOptions {
  host: string;
  port: number;
  identity: TlsFrontIdentity;
  handshakeTimeoutMs: number;
  maxConnections: number;
  /** A connection refused at maxConnections. */
  onDrop?: () => void;
  /** The thread died and is started again. */
  onRestart?: (err: Error | null) => void;
}

interface WorkerMessage { type: 'listening' | 'error' | 'drop' | 'closed' | 'drained'; address?: AddressInfo; code?: string | null; message?: string }

export class TlsFront {
  /** Where the main thread's HTTP server must listen (`server.listen({ path })`). */
  readonly path = `\0rampart-https-${process.pid}-${randomBytes(8).toString('hex')}`;
  private readonly secret = randomBytes(32).toString('hex');
  private identity: TlsFrontIdentity;
  private worker: Worker | null = null;
  private closing = false;
  private closeSent = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private boundAddress: AddressInfo | null = null;

  constructor(private readonly o: TlsFrontOptions) {
    this.identity = o.identity;
  }

  /** The TCP address the thread listens on (the real port when `port` was 0). */
  get address(): AddressInfo | null { return this.boundAddress; }

  /**
   * Makes `server` take relayed connections: each socket's preface is read
   * and checked before node's HTTP server sees the socket.
   */
  adopt(server: Server): void {
    const handlers = server.listeners('connection') as ((s: Socket) => void)[];
    server.removeAllListeners('connection');
    server.on('connection', (socket: Socket) => {
      readPreface(socket, this.secret, (p) => {
        if (!p) { socket.destroy(); return; }
        dress(socket, p);
        for (const h of handlers) h.call(server, socket);
        socket.resume();
      });
    });
  }

  /** Starts the thread; resolves once it listens, rejects with the listen error (EADDRINUSE…). */
  start(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const w = this.spawn();
      const onMessage = (m: WorkerMessage): void => {
        if (m.type === 'listening' && m.address) { w.off('exit', onExit); w.off('message', onMessage); resolve(m.address); }
        if (m.type === 'error') {
          w.off('exit', onExit); w.off('message', onMessage);
          this.closing = true;
          this.worker = null;
          void w.terminate();
          reject(Object.assign(new Error(m.message ?? 'the HTTPS listener could not start'), { code: m.code ?? undefined }));
        }
      };
      const onExit = (): void => reject(new Error('the HTTPS listener thread exited while starting'));
      w.on('message', onMessage);
      w.once('exit', onExit);
    });
  }

  /** New connections get this certificate (a renewal); open ones keep theirs. */
  setIdentity(identity: TlsFrontIdentity): void {
    this.identity = identity;
    this.worker?.postMessage({ type: 'context', identity });
  }

  /**
   * Stops accepting connections; those already relayed go on until the HTTP
   * server closes them. Then `stop()`.
   */
  async close(): Promise<void> {
    this.closing = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const w = this.worker;
    if (!w || this.closeSent) return;
    this.closeSent = true;
    const closed = new Promise<void>((r) => {
      w.on('message', (m: WorkerMessage) => { if (m.type === 'closed') r(); });
      w.once('exit', () => r());
    });
    w.postMessage({ type: 'close' });
    await closed;
  }

  /** Waits (at most CLOSE_TIMEOUT_MS) for the relayed connections to end, then ends the thread. */
  async stop(): Promise<void> {
    await this.close();
    const w = this.worker;
    this.worker = null;
    if (!w) return;
    const drained = new Promise<void>((r) => {
      w.on('message', (m: WorkerMessage) => { if (m.type === 'drained') r(); });
      w.once('exit', () => r());
    });
    const timer = setTimeout(() => void w.terminate(), CLOSE_TIMEOUT_MS);
    await drained;
    clearTimeout(timer);
    await w.terminate();
  }

  private spawn(): Worker {
    const w = new Worker(ENTRY, {
      workerData: {
        host: this.o.host, port: this.boundAddress?.port ?? this.o.port, upstream: this.path, secret: this.secret,
        identity: this.identity, handshakeTimeoutMs: this.o.handshakeTimeoutMs, maxConnections: this.o.maxConnections,
        nice: TLS_THREAD_NICE,
      },
    });
    this.worker = w;
    w.on('message', (m: WorkerMessage) => {
      if (m.type === 'listening' && m.address) this.boundAddress = m.address;
      else if (m.type === 'drop') this.o.onDrop?.();
      // A restarted thread that cannot listen again: it exits and is tried again after the delay.
      else if (m.type === 'error' && this.boundAddress) void w.terminate();
    });
    let failure: Error | null = null;
    w.on('error', (e) => { failure = e; });
    w.on('exit', () => {
      if (this.closing || this.worker !== w || !this.boundAddress) return;
      this.worker = null;
      this.o.onRestart?.(failure);
      this.restartTimer = setTimeout(() => { this.restartTimer = null; if (!this.closing) this.spawn(); }, RESTART_DELAY_MS);
      this.restartTimer.unref();
    });
    return w;
  }
}

/** Reads the first line; calls back with the preface, or null (wrong secret, malformed, too long, too slow). */
function readPreface(socket: Socket, secret: string, done: (p: Preface | null) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = (p: Preface | null): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('error', onEnd);
    socket.off('end', onEnd);
    done(p);
  };
  const onEnd = (): void => finish(null);
  const onData = (chunk: Buffer): void => {
    const nl = chunk.indexOf(10);
    if (nl < 0) {
      chunks.push(chunk);
      size += chunk.length;
      if (size > PREFACE_MAX_BYTES) finish(null);
      return;
    }
    socket.pause();
    const line = Buffer.concat([...chunks, chunk.subarray(0, nl)]);
    const rest = chunk.subarray(nl + 1);
    if (rest.length) socket.unshift(rest);
    const p = line.length <= PREFACE_MAX_BYTES ? parsePreface(line) : null;
    finish(p && sameSecret(p.secret, secret) ? p : null);
  };
  const timer = setTimeout(() => finish(null), PREFACE_TIMEOUT_MS);
  timer.unref();
  socket.on('data', onData);
  socket.on('error', onEnd);
  socket.on('end', onEnd);
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * How long a relayed connection that the HTTP server closes waits for the
 * thread's end of it (see lingeringClose).
 */
const LINGER_MS = 2000;

/**
 * node's HTTP server closes a connection after a `Connection: close` answer
 * with `destroySoon()`: end, then destroy once written. When the answer came
 * before the request was read (a 413 for a body over the limit), the client is
 * still sending; the thread's next write of that body to a closed socket fails
 * (EPIPE), node then destroys the relay, and the answer the thread had not read
 * yet was lost (the client saw a reset). Here the socket ends and stays open,
 * the rest of the request drained by the HTTP parser, until the thread closes
 * its side, which it does once the client's TLS connection is done, or at most
 * LINGER_MS: a lingering close, as HTTP servers do over TCP.
 */
function lingeringClose(this: Socket, destroyNow: () => void): void {
  if (this.destroyed) return;
  if (this.writable) this.end();
  if (this.readableEnded) {
    if (this.writableFinished) destroyNow();
    else this.once('finish', destroyNow);
    return;
  }
  const timer = setTimeout(destroyNow, LINGER_MS);
  timer.unref();
  this.once('end', () => { clearTimeout(timer); destroyNow(); });
  this.once('close', () => clearTimeout(timer));
}

/** Puts the facts of the TLS connection on the relayed socket, where code that reads a TLS socket looks. */
function dress(socket: Socket, p: Preface): void {
  const peer = p.certificate ? { raw: p.certificate } : {};
  const destroyNow = (): void => { socket.destroy(); };
  Object.defineProperties(socket, {
    destroySoon: { value: function destroySoon(this: Socket) { lingeringClose.call(this, destroyNow); }, configurable: true },
    remoteAddress: { value: p.address ?? undefined, configurable: true },
    remotePort: { value: p.port ?? undefined, configurable: true },
    remoteFamily: { value: p.family ?? undefined, configurable: true },
    encrypted: { value: true, configurable: true },
    authorized: { value: p.authorized, configurable: true },
    authorizationError: { value: p.authorizationError ?? undefined, configurable: true },
    getPeerCertificate: { value: () => peer, configurable: true },
  });
}
