/**
 * Challenge validation against real servers on 127.0.0.1: node:http (and
 * node:https for redirects) for http-01, node:tls with acme-tls/1 and
 * challenge certificates made with @peculiar/x509 for tls-alpn-01, and the
 * UDP/TCP test DNS server for dns-01.
 */
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import dgram from 'node:dgram';
import { KeyObject, webcrypto } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as x509 from '@peculiar/x509';
import dnsPacket from 'dns-packet';
import { AcmeError, type AcmeErrorType } from '../problems.js';
import type { AcmeIdentifier } from '../../storage/acme-records.js';
import type { ValidationInput, ValidationSettings } from './validator.js';
import { createValidator } from './create-validator.js';
import { keyAuthorizationDigest, keyAuthorizationSha256 } from './key-authorization.js';
import { reverseDnsName } from './target.js';
import { HTTP01_MAX_BODY } from './http-01.js';
import { startDnsServer, type TestDnsServer } from '../../../test/helpers/dns-server.js';
import { freePort } from '../../../test/helpers/ports.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const LOOPBACK = '127.0.0.1';
const TOKEN = 'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA';
const THUMBPRINT = 'nP1qzpXGymHBrUEepNY9HCsoRU9B5qH4kBnqXvOgoRY';
const KEY_AUTH = `${TOKEN}.${THUMBPRINT}`;
const OTHER_KEY_AUTH = `${TOKEN}.someoneElsesThumbprintxxxxxxxxxxxxxxxxxxxxxx`;

function input(identifier: AcmeIdentifier | string, keyAuthorization = KEY_AUTH): ValidationInput {
  const id = typeof identifier === 'string' ? { type: 'dns' as const, value: identifier } : identifier;
  return { identifier: id, token: TOKEN, keyAuthorization };
}

function settings(over: Partial<ValidationSettings> = {}): ValidationSettings {
  return { dnsResolvers: [], timeoutSeconds: 5, httpPort: 80, tlsPort: 443, maxRedirects: 3, ...over };
}

async function rejectsWith(p: Promise<unknown>, type: AcmeErrorType, detail?: RegExp): Promise<AcmeError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof AcmeError, `expected an AcmeError, got ${String(e)}`);
    assert.equal(e.type, type, `expected ${type}, got ${e.type}: ${e.message}`);
    if (detail) assert.match(e.message, detail);
    if (process.env.SHOW_DETAILS) console.log(`  [${e.type}] ${e.message}`);
    return e;
  }
  assert.fail(`expected ${type}, but validation succeeded`);
}

const connections = new WeakMap<net.Server, Set<net.Socket>>();

function listen(server: net.Server): Promise<number> {
  const set = new Set<net.Socket>();
  connections.set(server, set);
  server.on('connection', (s: net.Socket) => {
    set.add(s);
    s.on('close', () => set.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => resolve((server.address() as net.AddressInfo).port));
  });
}

/** Closes a server and every connection it still has. */
function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    for (const s of connections.get(server) ?? []) s.destroy();
  });
}

// ---------------------------------------------------------------- certificates

const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

/** DER of OCTET STRING(bytes), through asn1js. */
function octetString(bytes: Uint8Array): ArrayBuffer {
  return new asn1js.OctetString({ valueHex: bytes }).toBER();
}

interface CertSpec {
  names: Array<{ type: 'dns' | 'ip'; value: string }>;
  /** The acmeIdentifier extension: omitted, or its digest and criticality. */
  acme?: { digest: Uint8Array; critical?: boolean };
}

async function makeCert(spec: CertSpec): Promise<{ cert: string; key: string }> {
  const keys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']) as CryptoKeyPair;
  const extensions: x509.Extension[] = [];
  if (spec.names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(spec.names, false));
  if (spec.acme) extensions.push(new x509.Extension('1.3.6.1.5.5.7.1.31', spec.acme.critical ?? true, octetString(spec.acme.digest)));
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=ACME challenge',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    signingAlgorithm: EC,
    keys,
    extensions,
  });
  const key = KeyObject.from(keys.privateKey).export({ format: 'pem', type: 'pkcs8' }) as string;
  return { cert: cert.toString('pem'), key };
}

// ---------------------------------------------------------------- helpers

describe('key authorization helpers', () => {
  it('digests as base64url(SHA-256)', () => {
    assert.equal(keyAuthorizationDigest('abc'), 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0');
    assert.equal(keyAuthorizationSha256('abc').toString('hex'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('names IP addresses in reverse DNS (RFC 8738 §6)', () => {
    assert.equal(reverseDnsName('127.0.0.1'), '1.0.0.127.in-addr.arpa');
    assert.equal(reverseDnsName('2001:db8::567:89ab'), 'b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa');
    assert.equal(reverseDnsName('::1'), `1.${'0.'.repeat(31)}ip6.arpa`);
  });
});

// ---------------------------------------------------------------- http-01

describe('http-01', () => {
  type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
  const routes = new Map<string, Handler>();
  const hosts: string[] = [];
  let server: http.Server;
  let port: number;
  let tlsServer: https.Server;
  let tlsPort: number;
  const path = `/.well-known/acme-challenge/${TOKEN}`;

  const handle = (scheme: string) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    hosts.push(req.headers.host ?? '');
    const h = routes.get(`${scheme}${req.url}`);
    if (h) h(req, res);
    else { res.statusCode = 404; res.end('not found'); }
  };
  const serve = (url: string, body: string, status = 200) => routes.set(`http:${url}`, (_q, r) => { r.statusCode = status; r.end(body); });
  const redirect = (from: string, to: string, status = 302) => routes.set(from.startsWith('https:') ? from : `http:${from}`, (_q, r) => {
    r.statusCode = status;
    r.setHeader('Location', to);
    r.end();
  });
  const validate = (id: AcmeIdentifier | string, over: Partial<ValidationSettings> = {}) =>
    createValidator(settings({ httpPort: port, tlsPort, connectAddress: LOOPBACK, ...over })).validate('http-01', input(id));

  before(async () => {
    server = http.createServer(handle('http:'));
    port = await listen(server);
    const { cert, key } = await makeCert({ names: [{ type: 'dns', value: 'example.test' }] });
    tlsServer = https.createServer({ cert, key }, handle('https:'));
    tlsPort = await listen(tlsServer);
  });
  after(async () => {
    await closeServer(server);
    await closeServer(tlsServer);
  });

  it('accepts the key authorization, ignoring trailing whitespace, and sends the identifier as Host', async () => {
    routes.clear(); hosts.length = 0;
    serve(path, `${KEY_AUTH}\r\n \n`);
    await validate('example.test');
    assert.deepEqual(hosts, [`example.test:${port}`]);
  });

  it('rejects a wrong body as incorrectResponse', async () => {
    routes.clear();
    serve(path, `${KEY_AUTH}x`);
    await rejectsWith(validate('example.test'), 'incorrectResponse', /does not match/);
    serve(path, ` ${KEY_AUTH}`);
    await rejectsWith(validate('example.test'), 'incorrectResponse');
    serve(path, '');
    await rejectsWith(validate('example.test'), 'incorrectResponse');
  });

  it('rejects a body over the size cap', async () => {
    routes.clear();
    serve(path, KEY_AUTH + ' '.repeat(HTTP01_MAX_BODY));
    await rejectsWith(validate('example.test'), 'incorrectResponse', /larger than/);
  });

  it('rejects a 404 as unauthorized', async () => {
    routes.clear();
    await rejectsWith(validate('example.test'), 'unauthorized', /HTTP 404/);
    serve(path, KEY_AUTH, 500);
    await rejectsWith(validate('example.test'), 'unauthorized', /HTTP 500/);
  });

  it('reports a refused connection as connection', async () => {
    const closed = await freePort();
    await rejectsWith(validate('example.test', { httpPort: closed }), 'connection', /connection refused/);
  });

  it('times out on a server that never answers', async () => {
    const silent = net.createServer(() => { /* accept and say nothing */ });
    const silentPort = await listen(silent);
    try {
      const started = Date.now();
      await rejectsWith(validate('example.test', { httpPort: silentPort, timeoutSeconds: 1 }), 'connection', /timed out after 1s/);
      assert.ok(Date.now() - started < 4000);
    } finally {
      await closeServer(silent);
    }
  });

  it('follows redirects within the limit, relative and absolute, to http and https', async () => {
    routes.clear(); hosts.length = 0;
    redirect(path, '/step2', 301);
    redirect('/step2', `http://www.example.test:${port}/step3`, 307);
    redirect('/step3', `https://secure.example.test:${tlsPort}/final`, 308);
    routes.set('https:/final', (_q, r) => r.end(KEY_AUTH));
    await validate('example.test', { maxRedirects: 3 });
    assert.deepEqual(hosts, [`example.test:${port}`, `example.test:${port}`, `www.example.test:${port}`, `secure.example.test:${tlsPort}`]);
  });

  it('stops at the redirect limit', async () => {
    routes.clear(); hosts.length = 0;
    redirect(path, path);
    await rejectsWith(validate('example.test', { maxRedirects: 3 }), 'connection', /too many redirects/);
    assert.equal(hosts.length, 4);
    // One redirect too many for a chain that would otherwise succeed.
    routes.clear();
    redirect(path, '/a');
    redirect('/a', '/b');
    serve('/b', KEY_AUTH);
    await rejectsWith(validate('example.test', { maxRedirects: 1 }), 'connection', /too many redirects/);
    await validate('example.test', { maxRedirects: 2 });
  });

  it('refuses redirects to other ports and schemes', async () => {
    routes.clear();
    redirect(path, `http://example.test:${port + 1}/x`);
    await rejectsWith(validate('example.test'), 'connection', /port/);
    redirect(path, `ftp://example.test/${TOKEN}`);
    await rejectsWith(validate('example.test'), 'connection', /only http and https/);
    redirect(path, `https://example.test:${port}/x`);
    await rejectsWith(validate('example.test'), 'connection', /port/);
  });

  it('validates an IPv4 identifier via connectAddress', async () => {
    routes.clear(); hosts.length = 0;
    serve(path, KEY_AUTH);
    await validate({ type: 'ip', value: '127.0.0.1' });
    assert.deepEqual(hosts, [`127.0.0.1:${port}`]);
  });

  it('validates an IPv4 identifier by connecting to the address itself', async () => {
    routes.clear(); hosts.length = 0;
    serve(path, KEY_AUTH);
    await validate({ type: 'ip', value: '127.0.0.1' }, { connectAddress: undefined });
    assert.deepEqual(hosts, [`127.0.0.1:${port}`]);
  });

  it('puts an IPv6 identifier in brackets in the Host header', async () => {
    routes.clear(); hosts.length = 0;
    serve(path, KEY_AUTH);
    await validate({ type: 'ip', value: '::1' });
    assert.deepEqual(hosts, [`[::1]:${port}`]);
  });

  it('rejects malformed identifiers', async () => {
    await rejectsWith(validate({ type: 'ip', value: 'example.test' }), 'malformed');
    await rejectsWith(validate('bad name/with slash'), 'malformed');
  });
});

// ---------------------------------------------------------------- tls-alpn-01

describe('tls-alpn-01', () => {
  const digest = keyAuthorizationSha256(KEY_AUTH);
  const started: net.Server[] = [];
  const snis: string[] = [];

  /** A TLS server presenting cert; alpn null = no ALPN support at all. */
  async function tlsServer(spec: CertSpec, alpn: string[] | null = ['acme-tls/1']): Promise<number> {
    const { cert, key } = await makeCert(spec);
    const ctx = tls.createSecureContext({ cert, key });
    const server = tls.createServer({
      cert,
      key,
      ...(alpn ? { ALPNProtocols: alpn } : {}),
      SNICallback: (name, cb) => { snis.push(name); cb(null, ctx); },
    }, (socket) => socket.end());
    server.on('tlsClientError', () => { /* expected in the failure cases */ });
    started.push(server);
    return listen(server);
  }
  const validate = (id: AcmeIdentifier | string, tlsPort: number, over: Partial<ValidationSettings> = {}) =>
    createValidator(settings({ tlsPort, connectAddress: LOOPBACK, ...over })).validate('tls-alpn-01', input(id));

  after(async () => {
    for (const s of started) await closeServer(s);
  });

  it('accepts a correct challenge certificate and sends the identifier as SNI', async () => {
    snis.length = 0;
    const port = await tlsServer({ names: [{ type: 'dns', value: 'example.test' }], acme: { digest } });
    await validate('example.test', port);
    await validate('EXAMPLE.test', port);
    assert.deepEqual(snis, ['example.test', 'example.test']);
  });

  it('rejects a server that does not negotiate acme-tls/1', async () => {
    const spec: CertSpec = { names: [{ type: 'dns', value: 'example.test' }], acme: { digest } };
    await rejectsWith(validate('example.test', await tlsServer(spec, ['http/1.1'])), 'tls');
    await rejectsWith(validate('example.test', await tlsServer(spec, null)), 'tls', /did not negotiate/);
  });

  it('rejects a certificate without the acmeIdentifier extension', async () => {
    const port = await tlsServer({ names: [{ type: 'dns', value: 'example.test' }] });
    await rejectsWith(validate('example.test', port), 'incorrectResponse', /missing/);
  });

  it('rejects a non-critical acmeIdentifier extension', async () => {
    const port = await tlsServer({ names: [{ type: 'dns', value: 'example.test' }], acme: { digest, critical: false } });
    await rejectsWith(validate('example.test', port), 'incorrectResponse', /not critical/);
  });

  it('rejects a wrong digest', async () => {
    const port = await tlsServer({ names: [{ type: 'dns', value: 'example.test' }], acme: { digest: keyAuthorizationSha256(OTHER_KEY_AUTH) } });
    await rejectsWith(validate('example.test', port), 'incorrectResponse', /expected SHA-256/);
  });

  it('rejects a wrong, extra or missing SAN', async () => {
    await rejectsWith(validate('example.test', await tlsServer({ names: [{ type: 'dns', value: 'other.test' }], acme: { digest } })), 'unauthorized', /dns:other\.test/);
    await rejectsWith(validate('example.test', await tlsServer({
      names: [{ type: 'dns', value: 'example.test' }, { type: 'dns', value: 'other.test' }], acme: { digest },
    })), 'unauthorized');
    await rejectsWith(validate('example.test', await tlsServer({ names: [], acme: { digest } })), 'unauthorized', /found 0/);
    // An IP SAN does not stand for a DNS identifier, nor the reverse.
    await rejectsWith(validate({ type: 'ip', value: '127.0.0.1' }, await tlsServer({ names: [{ type: 'dns', value: '127.0.0.1' }], acme: { digest } })), 'unauthorized');
  });

  it('validates an IPv4 identifier via connectAddress, with the reverse-DNS SNI', async () => {
    snis.length = 0;
    const port = await tlsServer({ names: [{ type: 'ip', value: '127.0.0.1' }], acme: { digest } });
    await validate({ type: 'ip', value: '127.0.0.1' }, port);
    await validate({ type: 'ip', value: '127.0.0.1' }, port, { connectAddress: undefined });
    assert.deepEqual(snis, ['1.0.0.127.in-addr.arpa', '1.0.0.127.in-addr.arpa']);
    await rejectsWith(validate({ type: 'ip', value: '127.0.0.2' }, port), 'unauthorized', /ip:127\.0\.0\.1/);
  });

  it('validates an IPv6 identifier (SAN iPAddress, ip6.arpa SNI)', async () => {
    snis.length = 0;
    const port = await tlsServer({ names: [{ type: 'ip', value: '::1' }], acme: { digest } });
    await validate({ type: 'ip', value: '0:0:0:0:0:0:0:1' }, port);
    assert.deepEqual(snis, [`1.${'0.'.repeat(31)}ip6.arpa`]);
  });

  it('reports a refused connection and a stalled handshake as connection', async () => {
    await rejectsWith(validate('example.test', await freePort()), 'connection', /connection refused/);
    const silent = net.createServer(() => { /* never answers the ClientHello */ });
    started.push(silent);
    await rejectsWith(validate('example.test', await listen(silent), { timeoutSeconds: 1 }), 'connection', /timed out/);
  });

  it('reports a peer that is not TLS as tls', async () => {
    const garbage = net.createServer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    started.push(garbage);
    await rejectsWith(validate('example.test', await listen(garbage)), 'tls');
  });
});

// ---------------------------------------------------------------- dns-01

describe('dns-01', () => {
  let dns: TestDnsServer;
  const expected = keyAuthorizationDigest(KEY_AUTH);
  const name = '_acme-challenge.example.test';
  const validate = (id: AcmeIdentifier | string, over: Partial<ValidationSettings> = {}) =>
    createValidator(settings({ dnsResolvers: [dns.address], ...over })).validate('dns-01', input(id));

  before(async () => { dns = await startDnsServer(); });
  after(async () => { await dns.close(); });

  it('accepts a TXT record with the digest among others', async () => {
    dns.clearAll();
    dns.setTxt(name, ['unrelated', expected]);
    await validate('example.test');
    await validate('Example.Test');
    assert.ok(dns.queries.some((q) => q.name === name && q.type === 'TXT'));
  });

  it('joins the character-strings of a TXT record', async () => {
    dns.clearAll();
    dns.setTxt(name, [[expected.slice(0, 20), expected.slice(20)]]);
    await validate('example.test');
  });

  it('rejects a missing record as unauthorized (NODATA and NXDOMAIN)', async () => {
    dns.clearAll();
    await rejectsWith(validate('example.test'), 'unauthorized', /No TXT record found at _acme-challenge\.example\.test/);
    const nx = await startDnsServer({ missingTxt: 'nxdomain' });
    try {
      await rejectsWith(validate('example.test', { dnsResolvers: [nx.address] }), 'unauthorized', /No TXT record/);
    } finally {
      await nx.close();
    }
  });

  it('rejects a wrong record as incorrectResponse', async () => {
    dns.clearAll();
    dns.setTxt(name, [keyAuthorizationDigest(OTHER_KEY_AUTH), KEY_AUTH]);
    await rejectsWith(validate('example.test'), 'incorrectResponse', /Incorrect TXT record/);
  });

  it('reports SERVFAIL and an unresponsive resolver as dns', async () => {
    dns.clearAll();
    dns.setTxt(name, [expected]);
    dns.setRcode(name, 'SERVFAIL');
    await rejectsWith(validate('example.test'), 'dns', /ESERVFAIL/);
    dns.setRcode(name, null);
    await validate('example.test');

    const blackHole = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => blackHole.bind(0, LOOPBACK, () => resolve()));
    try {
      const started = Date.now();
      await rejectsWith(validate('example.test', { dnsResolvers: [`${LOOPBACK}:${blackHole.address().port}`], timeoutSeconds: 1 }), 'dns', /timed out|ETIMEOUT/);
      assert.ok(Date.now() - started < 4000);
    } finally {
      blackHole.close();
    }
  });

  it('is not allowed for IP identifiers', async () => {
    await rejectsWith(validate({ type: 'ip', value: '127.0.0.1' }), 'malformed');
  });

  it('falls back to TCP for answers too large for UDP', async () => {
    dns.clearAll();
    const filler = Array.from({ length: 60 }, (_, i) => `${'x'.repeat(40)}${i}`);
    dns.setTxt(name, [...filler, expected]);
    dns.queries.length = 0;
    await validate('example.test');
    assert.ok(dns.queries.some((q) => q.transport === 'tcp'), 'expected a TCP retry');
  });

  it('serves records from a JSON file that is reread on every query', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-dns-'));
    const file = join(dir, 'txt.json');
    const fileDns = await startDnsServer({ filePath: file });
    const write = (records: Record<string, string[]>) => {
      writeFileSync(`${file}.tmp`, JSON.stringify(records));
      renameSync(`${file}.tmp`, file);
    };
    try {
      const over = { dnsResolvers: [fileDns.address] };
      await rejectsWith(validate('example.test', over), 'unauthorized');
      write({ [`${name.toUpperCase()}.`]: [expected] });
      await validate('example.test', over);
      write({});
      await rejectsWith(validate('example.test', over), 'unauthorized');
    } finally {
      await fileDns.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('test DNS server', () => {
  let dns: TestDnsServer;
  before(async () => { dns = await startDnsServer({ records: { 'a.test': ['hello'] } }); });
  after(async () => { await dns.close(); });

  function tcpQuery(qname: string, type: 'A' | 'SOA' | 'TXT' | 'MX'): Promise<dnsPacket.DecodedPacket> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(dns.port, LOOPBACK);
      let buf = Buffer.alloc(0);
      socket.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          socket.end();
          resolve(dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        }
      });
      socket.on('error', reject);
      socket.write(dnsPacket.streamEncode({ type: 'query', id: 7, questions: [{ type, name: qname }] }));
    });
  }

  it('answers TXT, SOA and A over TCP, and NODATA for other types', async () => {
    const txt = await tcpQuery('A.test.', 'TXT');
    assert.equal(txt.id, 7);
    assert.deepEqual(txt.answers?.map((a) => (a as dnsPacket.TxtAnswer).data), [[Buffer.from('hello')]]);
    const soa = await tcpQuery('deep.name.test', 'SOA');
    assert.equal(soa.answers?.[0]?.type, 'SOA');
    const a = await tcpQuery('anything.test', 'A');
    assert.equal((a.answers?.[0] as dnsPacket.StringAnswer | undefined)?.data, '127.0.0.1');
    const mx = await tcpQuery('anything.test', 'MX');
    assert.equal(mx.answers?.length, 0);
    assert.equal(mx.authorities?.[0]?.type, 'SOA');
  });

  it('answers A and SOA over UDP through node:dns', async () => {
    const { Resolver } = await import('node:dns/promises');
    const r = new Resolver();
    r.setServers([dns.address]);
    assert.deepEqual(await r.resolve4('whatever.example'), ['127.0.0.1']);
    assert.equal((await r.resolveSoa('whatever.example')).nsname, 'ns.rampart-test.invalid');
    dns.addTxt('b.test', 'one');
    dns.addTxt('b.test', 'two');
    assert.deepEqual((await r.resolveTxt('b.test')).map((x) => x.join('')).sort(), ['one', 'two']);
    dns.clear('b.test');
    await assert.rejects(r.resolveTxt('b.test'), { code: 'ENODATA' });
  });
});

describe('createValidator', () => {
  it('rejects unknown challenge types as malformed', async () => {
    const v = createValidator(settings());
    await rejectsWith(v.validate('tls-sni-01' as never, input('example.test')), 'malformed');
  });
});
