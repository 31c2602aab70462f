import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Agent, request } from 'node:https';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { TLS_THREAD_NICE, TlsFront } from './tls-front.js';

/** Keys and certificates made by openssl: a CA, two server certificates, a client certificate of the CA and a stranger's. */
function makePki(dir: string): Record<string, string> {
  const run = (...args: string[]): void => { execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' }); };
  const key = (name: string): void => run('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`);
  key('ca');
  run('req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=Front Test CA', '-days', '2', '-out', 'ca.pem');
  for (const [name, cn, ext] of [['server1', 'localhost', 'subjectAltName=IP:127.0.0.1'], ['server2', 'localhost', 'subjectAltName=IP:127.0.0.1'], ['client', 'operator:alice', 'extendedKeyUsage=clientAuth']] as const) {
    key(name);
    run('req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`);
    writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
    run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`);
  }
  key('stranger');
  run('req', '-x509', '-new', '-key', 'stranger.key', '-subj', '/CN=stranger', '-days', '2', '-out', 'stranger.pem');
  const out: Record<string, string> = {};
  for (const f of ['ca.pem', 'server1.key', 'server1.pem', 'server2.key', 'server2.pem', 'client.key', 'client.pem', 'stranger.key', 'stranger.pem']) out[f] = readFileSync(join(dir, f), 'utf8');
  return out;
}

interface Seen { remoteAddress?: string; remotePort?: number; encrypted: boolean; authorized?: boolean; authorizationError?: unknown; certificate: Buffer | null }

function seenOf(req: IncomingMessage): Seen {
  const s = req.socket as unknown as TLSSocket;
  const peer = s.getPeerCertificate?.() as { raw?: Buffer } | undefined;
  return {
    ...(s.remoteAddress === undefined ? {} : { remoteAddress: s.remoteAddress }),
    ...(s.remotePort === undefined ? {} : { remotePort: s.remotePort }),
    encrypted: s.encrypted === true, authorized: s.authorized, authorizationError: s.authorizationError,
    certificate: peer?.raw ?? null,
  };
}

describe('TLS of the HTTPS listener on its own thread (tls-front)', () => {
  let dir: string;
  let pki: Record<string, string>;
  let server: Server;
  let front: TlsFront;
  let port: number;
  let requests = 0;
  let drops = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tls-front-'));
    pki = makePki(dir);
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      requests++;
      if (req.url === '/echo') {
        const h = createHash('sha256');
        let n = 0;
        req.on('data', (c: Buffer) => { h.update(c); n += c.length; });
        req.on('end', () => res.end(JSON.stringify({ bytes: n, sha256: h.digest('hex') })));
        return;
      }
      if (req.url === '/refuse') {
        // As fastify answers a body over its limit: at once, unread, and the connection closed.
        res.writeHead(413, { connection: 'close', 'content-type': 'text/plain' }).end('too large');
        return;
      }
      if (req.url === '/big') {
        res.end(Buffer.alloc(3 * 1024 * 1024, 7));
        return;
      }
      const seen = seenOf(req);
      res.end(JSON.stringify({ ...seen, certificate: seen.certificate?.toString('base64') ?? null }));
    });
    server.keepAliveTimeout = 5000;
    front = new TlsFront({
      host: '127.0.0.1', port: 0, identity: { keyPem: pki['server1.key']!, certPem: pki['server1.pem']!, caPem: pki['ca.pem']! },
      handshakeTimeoutMs: 400, maxConnections: 3, onDrop: () => { drops++; },
    });
    front.adopt(server);
    await new Promise<void>((r) => server.listen({ path: front.path }, r));
    port = (await front.start()).port;
  });

  after(async () => {
    await front.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await front.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (path: string, o: { agent?: Agent; cert?: string; key?: string; body?: Buffer } = {}): Promise<{ status: number; body: Buffer; local: number; peerCert: X509Certificate }> =>
    new Promise((resolve, reject) => {
      const req = request({
        host: '127.0.0.1', port, path, method: o.body ? 'POST' : 'GET', ca: pki['ca.pem'], ...(o.agent ? { agent: o.agent } : { agent: false }),
        ...(o.cert ? { cert: o.cert, key: o.key } : {}),
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), local, peerCert: peer }));
      });
      let local = 0;
      let peer!: X509Certificate;
      req.on('socket', (s: TLSSocket) => {
        const note = (): void => { local = s.localPort ?? 0; peer = s.getPeerX509Certificate()!; };
        if (s.encrypted && (s as TLSSocket & { _secureEstablished?: boolean })._secureEstablished) note();
        else s.once('secureConnect', note);
      });
      req.on('error', reject);
      req.end(o.body);
    });

  it('runs below the priority of the thread that answers OCSP (Linux: the thread\'s own nice value)', () => {
    // Field 19 of /proc/<pid>/task/<tid>/stat is the nice value; this process's other threads keep 0.
    const nices = readdirSync('/proc/self/task').map((tid) => {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    });
    assert.ok(nices.includes(TLS_THREAD_NICE), `a thread at nice ${TLS_THREAD_NICE} (found ${[...new Set(nices)].join(', ')})`);
  });

  it('relays requests on kept-alive connections, with the client\'s address and port on the socket', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: pki['ca.pem'] });
    try {
      const a = await get('/who', { agent });
      const b = await get('/who', { agent });
      const seenA = JSON.parse(a.body.toString()) as Seen;
      assert.equal(a.status, 200);
      assert.equal(seenA.remoteAddress, '127.0.0.1');
      assert.equal(seenA.remotePort, a.local, 'the client\'s own port, not the relay\'s');
      assert.equal(seenA.encrypted, true);
      assert.equal(seenA.certificate, null, 'no client certificate was presented');
      assert.equal(JSON.parse(b.body.toString()).remotePort, a.local, 'the second request came on the same connection');
    } finally {
      agent.destroy();
    }
  });

  it('passes the client certificate with the handshake\'s verdict: the CA\'s is authorized, a stranger\'s is not', async () => {
    const mine = JSON.parse((await get('/who', { cert: pki['client.pem']!, key: pki['client.key']! })).body.toString()) as Seen & { certificate: string };
    assert.equal(mine.authorized, true);
    assert.equal(new X509Certificate(Buffer.from(mine.certificate, 'base64')).subject, 'CN=operator:alice');
    const theirs = JSON.parse((await get('/who', { cert: pki['stranger.pem']!, key: pki['stranger.key']! })).body.toString()) as Seen & { certificate: string };
    assert.equal(theirs.authorized, false);
    assert.match(String(theirs.authorizationError), /SELF_SIGNED|UNABLE|self.signed/i);
    assert.equal(new X509Certificate(Buffer.from(theirs.certificate, 'base64')).subject, 'CN=stranger');
  });

  it('carries large bodies both ways unchanged', async () => {
    const body = Buffer.alloc(2 * 1024 * 1024 + 17);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    const r = JSON.parse((await get('/echo', { body })).body.toString()) as { bytes: number; sha256: string };
    assert.equal(r.bytes, body.length);
    assert.equal(r.sha256, createHash('sha256').update(body).digest('hex'));
    const big = await get('/big');
    assert.equal(big.body.length, 3 * 1024 * 1024);
    assert.ok(big.body.every((x) => x === 7));
  });

  it('delivers an answer sent before the body was read (413) although the client is still sending', async () => {
    const body = Buffer.alloc(400_000, 0x41);
    for (let i = 0; i < 20; i++) {
      const r = await get('/refuse', { body });
      assert.equal(r.status, 413, `attempt ${i + 1}`);
      assert.equal(r.body.toString(), 'too large');
    }
  });

  it('answers a client that half-closes after its request', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, ca: pki['ca.pem'] }, () => {
        s.end('GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      });
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('end', () => resolve(Buffer.concat(chunks).toString()));
      s.on('error', reject);
    });
    assert.match(body, /^HTTP\/1\.1 200/);
    assert.match(body, /"remoteAddress":"127\.0\.0\.1"/);
  });

  it('closes local connections to the relay socket that do not carry this process\'s secret, unanswered', async () => {
    const before = requests;
    const forged = JSON.stringify({ k: 'f'.repeat(64), a: '10.9.9.9', p: 1, f: 'IPv4', v: true, e: null, c: null });
    for (const first of [`${forged}\n`, 'GET /who HTTP/1.1\r\nHost: x\r\n\r\n', '{"k":1}\n', `${'x'.repeat(70_000)}`]) {
      const answer = await new Promise<string>((resolve) => {
        const s: Socket = netConnect({ path: front.path }, () => { s.write(first); s.write('GET /who HTTP/1.1\r\nHost: x\r\n\r\n'); });
        const chunks: Buffer[] = [];
        s.on('data', (c: Buffer) => chunks.push(c));
        s.on('close', () => resolve(Buffer.concat(chunks).toString()));
        s.on('error', () => {});
      });
      assert.equal(answer, '', `nothing is answered after ${JSON.stringify(first.slice(0, 40))}`);
    }
    assert.equal(requests, before, 'no request reached the HTTP server');
  });

  it('closes a connection whose handshake does not finish in time', async () => {
    const t0 = Date.now();
    await new Promise<void>((resolve) => {
      const s = netConnect({ host: '127.0.0.1', port });
      s.on('close', () => resolve());
      s.on('error', () => {});
    });
    const waited = Date.now() - t0;
    assert.ok(waited >= 300 && waited < 5000, `closed after ${waited} ms (handshake timeout 400 ms)`);
  });

  it('refuses connections beyond maxConnections and reports each one', async () => {
    const held: TLSSocket[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        held.push(await new Promise<TLSSocket>((resolve, reject) => {
          const s = tlsConnect({ host: '127.0.0.1', port, ca: pki['ca.pem'] }, () => resolve(s));
          s.on('error', reject);
        }));
      }
      const dropsBefore = drops;
      const refused = await new Promise<boolean>((resolve) => {
        const s = tlsConnect({ host: '127.0.0.1', port, ca: pki['ca.pem'] }, () => { s.destroy(); resolve(false); });
        s.on('error', () => resolve(true));
        s.on('close', () => resolve(true));
      });
      assert.equal(refused, true);
      for (let i = 0; i < 50 && drops === dropsBefore; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(drops, dropsBefore + 1);
    } finally {
      for (const s of held) s.destroy();
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  it('gives new connections a renewed certificate', async () => {
    const first = (await get('/who')).peerCert;
    assert.equal(first.fingerprint256, new X509Certificate(pki['server1.pem']!).fingerprint256);
    front.setIdentity({ keyPem: pki['server2.key']!, certPem: pki['server2.pem']!, caPem: pki['ca.pem']! });
    let now = first;
    for (let i = 0; i < 50 && now.fingerprint256 === first.fingerprint256; i++) {
      await new Promise((r) => setTimeout(r, 20));
      now = (await get('/who')).peerCert;
    }
    assert.equal(now.fingerprint256, new X509Certificate(pki['server2.pem']!).fingerprint256);
  });

  it('stops promptly: no new connections, kept-alive idle ones closed by the HTTP server, then the thread ends', async () => {
    const s2 = createServer((_req, res) => res.end('ok'));
    const f2 = new TlsFront({
      host: '127.0.0.1', port: 0, identity: { keyPem: pki['server1.key']!, certPem: pki['server1.pem']! }, handshakeTimeoutMs: 1000, maxConnections: 10,
    });
    f2.adopt(s2);
    await new Promise<void>((r) => s2.listen({ path: f2.path }, r));
    const p2 = (await f2.start()).port;
    const agent = new Agent({ keepAlive: true, ca: pki['ca.pem'] });
    const r = await new Promise<number>((resolve, reject) => {
      request({ host: '127.0.0.1', port: p2, path: '/', agent }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); }).on('error', reject).end();
    });
    assert.equal(r, 200);
    const t0 = Date.now();
    await f2.close();
    await assert.rejects(new Promise((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: p2, ca: pki['ca.pem'] }, () => { s.destroy(); resolve(true); });
      s.on('error', reject);
    }), /ECONNREFUSED/);
    await new Promise((resolve) => s2.close(resolve));
    await f2.stop();
    agent.destroy();
    assert.ok(Date.now() - t0 < 3000, `stopped in ${Date.now() - t0} ms with a kept-alive connection open`);
  });

  it('fails to start on a port already taken, with the listen error', async () => {
    const taken = createNetServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const other = new TlsFront({
      host: '127.0.0.1', port: (taken.address() as AddressInfo).port,
      identity: { keyPem: pki['server1.key']!, certPem: pki['server1.pem']! }, handshakeTimeoutMs: 1000, maxConnections: 10,
    });
    try {
      await assert.rejects(other.start(), (e: Error & { code?: string }) => e.code === 'EADDRINUSE' && /EADDRINUSE/.test(e.message));
    } finally {
      await other.close();
      await new Promise((r) => taken.close(r));
    }
  });
});
