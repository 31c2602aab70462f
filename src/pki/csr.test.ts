import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRampartError } from '../core/errors.js';
import { dnToString } from './names.js';
import { MAX_CSR_BYTES, parseCsr } from './csr.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-csr-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Generated { pem: string; der: Uint8Array; spki: Uint8Array; keyFile: string }

let counter = 0;
/** Runs `openssl req -new` with the given key options and returns the CSR as PEM and DER plus the key's SPKI. */
function opensslCsr(dir: string, keyArgs: string[], subj: string, addext: string[] = []): Generated {
  const n = counter++;
  const key = join(dir, `k${n}.pem`);
  const out = join(dir, `r${n}.pem`);
  const args = ['req', '-new', ...keyArgs, '-nodes', '-keyout', key, '-subj', subj, '-out', out];
  for (const e of addext) args.push('-addext', e);
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const der = execFileSync('openssl', ['req', '-in', out, '-outform', 'DER']);
  const spki = execFileSync('openssl', ['pkey', '-in', key, '-pubout', '-outform', 'DER']);
  return { pem: readFileSync(out, 'utf8'), der: new Uint8Array(der), spki: new Uint8Array(spki), keyFile: key };
}

const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];

async function badCsr(input: string | Uint8Array, message: RegExp): Promise<void> {
  await assert.rejects(parseCsr(input), (e: unknown) => {
    assert.ok(isRampartError(e), `expected a RampartError, got ${String(e)}`);
    assert.equal(e.code, 'badCsr');
    assert.match(e.message, message);
    return true;
  });
}

test('P-256 CSR in PEM: subject, key, SANs and SPKI are extracted', async (t) => {
  const dir = tempDir(t);
  const g = opensslCsr(dir, P256, '/O=Example Org/CN=a.example.com',
    ['subjectAltName=DNS:a.example.com,DNS:B.Example.com,IP:127.0.0.1,IP:2001:db8:0:0:0:0:0:1']);
  const csr = await parseCsr(g.pem);
  assert.deepEqual(csr.key, { type: 'ecdsa', curve: 'P-256' });
  assert.equal(csr.commonName, 'a.example.com');
  assert.equal(csr.subject, 'O=Example Org, CN=a.example.com');
  assert.equal(dnToString(csr.subjectName), csr.subject);
  assert.deepEqual(csr.san, { dns: ['a.example.com', 'B.Example.com'], ip: ['127.0.0.1', '2001:db8::1'], email: [], uri: [] });
  assert.deepEqual(Buffer.from(csr.spki), Buffer.from(g.spki));
  assert.deepEqual(Buffer.from(csr.der), Buffer.from(g.der));
  assert.equal(csr.requestedEkus, undefined);
});

test('DER bytes, PEM bytes and the NEW CERTIFICATE REQUEST label give the same result', async (t) => {
  const dir = tempDir(t);
  const g = opensslCsr(dir, P256, '/CN=b.example.com', ['subjectAltName=DNS:b.example.com']);
  const fromPem = await parseCsr(g.pem);
  const fromDer = await parseCsr(g.der);
  const fromPemBytes = await parseCsr(new Uint8Array(Buffer.from(`\n${g.pem}\n`)));
  const legacy = await parseCsr(g.pem.replace(/CERTIFICATE REQUEST/g, 'NEW CERTIFICATE REQUEST').replace(/\n/g, '\r\n'));
  for (const c of [fromDer, fromPemBytes, legacy]) {
    assert.deepEqual(Buffer.from(c.der), Buffer.from(fromPem.der));
    assert.equal(c.subject, fromPem.subject);
    assert.deepEqual(c.san, fromPem.san);
  }
});

test('RSA key sizes are computed from the modulus', async (t) => {
  const dir = tempDir(t);
  const weak = await parseCsr(opensslCsr(dir, ['-newkey', 'rsa:1024'], '/CN=weak.example.com').pem);
  assert.deepEqual(weak.key, { type: 'rsa', bits: 1024 });
  const ok = await parseCsr(opensslCsr(dir, ['-newkey', 'rsa:2048'], '/CN=ok.example.com').pem);
  assert.deepEqual(ok.key, { type: 'rsa', bits: 2048 });
  assert.deepEqual(ok.san, { dns: [], ip: [], email: [], uri: [] });
});

test('EC curves P-384 and P-521 are recognized; Ed25519 is reported as other', async (t) => {
  const dir = tempDir(t);
  const p384 = await parseCsr(opensslCsr(dir, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'], '/CN=x').pem);
  assert.deepEqual(p384.key, { type: 'ecdsa', curve: 'P-384' });
  const p521 = await parseCsr(opensslCsr(dir, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521'], '/CN=x').pem);
  assert.deepEqual(p521.key, { type: 'ecdsa', curve: 'P-521' });
  const ed = await parseCsr(opensslCsr(dir, ['-newkey', 'ed25519'], '/CN=x').pem);
  assert.deepEqual(ed.key, { type: 'other', oid: '1.3.101.112' });
});

test('unsupported key algorithms are refused', async (t) => {
  const dir = tempDir(t);
  await badCsr(opensslCsr(dir, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp256k1'], '/CN=x').pem,
    /unsupported key algorithm: EC curve 1\.3\.132\.0\.10/);
  const params = join(dir, 'dsa.pem');
  execFileSync('openssl', ['genpkey', '-genparam', '-algorithm', 'DSA', '-pkeyopt', 'dsa_paramgen_bits:1024', '-out', params], { stdio: 'ignore' });
  await badCsr(opensslCsr(dir, ['-newkey', `dsa:${params}`], '/CN=x').pem, /unsupported key algorithm 1\.2\.840\.10040\.4\.1/);
});

test('email and URI SANs, requested EKUs and a non-hostname CN are reported', async (t) => {
  const dir = tempDir(t);
  const g = opensslCsr(dir, P256, '/CN=Alice Example/emailAddress=alice@example.com',
    ['subjectAltName=email:alice@example.com,URI:spiffe://example.com/alice', 'extendedKeyUsage=clientAuth,serverAuth']);
  const csr = await parseCsr(g.pem);
  assert.equal(csr.commonName, 'Alice Example');
  assert.deepEqual(csr.san, { dns: [], ip: [], email: ['alice@example.com'], uri: ['spiffe://example.com/alice'] });
  assert.deepEqual(csr.requestedEkus, ['1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.1']);
});

test('a CSR without a commonName has no commonName', async (t) => {
  const dir = tempDir(t);
  const csr = await parseCsr(opensslCsr(dir, P256, '/O=Example', ['subjectAltName=DNS:x.example.com']).pem);
  assert.equal(csr.commonName, undefined);
  assert.equal(csr.subject, 'O=Example');
});

test('a CSR whose signature was tampered with is refused', async (t) => {
  const dir = tempDir(t);
  for (const keyArgs of [P256, ['-newkey', 'rsa:2048']]) {
    const g = opensslCsr(dir, keyArgs, '/CN=a.example.com', ['subjectAltName=DNS:a.example.com']);
    const sig = new Uint8Array(g.der);
    sig[sig.length - 2]! ^= 0x01;
    await badCsr(sig, /^CSR signature does not verify$/);
  }
  // Changing the signed content (the CN) also breaks the signature.
  const g = opensslCsr(dir, P256, '/CN=a.example.com');
  const body = Buffer.from(g.der);
  const at = body.indexOf('a.example.com');
  assert.ok(at > 0);
  body[at] = 'b'.charCodeAt(0);
  await badCsr(new Uint8Array(body), /^CSR signature does not verify$/);
});

test('malformed input is refused with badCsr', async (t) => {
  const dir = tempDir(t);
  const g = opensslCsr(dir, P256, '/CN=a.example.com');
  const b64 = g.pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('\n');
  await badCsr('', /empty/);
  await badCsr('   \n', /empty/);
  await badCsr(new Uint8Array(0), /empty/);
  await badCsr('hello world', /must be PEM/);
  await badCsr(b64, /must be PEM/);
  await badCsr(new Uint8Array([0x01, 0x02, 0x03, 0x04]), /neither PEM nor DER/);
  await badCsr(g.der.subarray(0, g.der.length - 10), /not valid DER/);
  await badCsr(new Uint8Array([...g.der, 0x00, 0x00]), /2 bytes of trailing data/);
  await badCsr(g.pem.replace(/\n([A-Za-z0-9+/]{10})/, '\n$1!'), /valid base64/);
  await badCsr(g.pem.replace(/\n[A-Za-z0-9+/]{3}/, '\n'), /valid base64|not valid DER/);
  await badCsr(g.pem.replace(/^-----BEGIN CERTIFICATE REQUEST-----\n[\s\S]*\n-----END/, '-----BEGIN CERTIFICATE REQUEST-----\n-----END'), /empty/);
  await badCsr(g.pem.replace(/CERTIFICATE REQUEST/g, 'CERTIFICATE'), /got "CERTIFICATE"/);
  await badCsr(g.pem + g.pem, /well-formed PEM|exactly one block/);
  await badCsr(`${g.pem}trailing text\n`, /well-formed PEM/);
  await badCsr(g.pem.replace('-----END CERTIFICATE REQUEST-----', '-----END NEW CERTIFICATE REQUEST-----'), /well-formed PEM/);
  // A valid DER SEQUENCE that is not a CSR.
  await badCsr(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x05]), /not a PKCS#10/);
  // A certificate is not a CSR.
  const cert = execFileSync('openssl', ['req', '-x509', '-key', g.keyFile, '-subj', '/CN=x', '-days', '1', '-outform', 'DER'], { stdio: ['ignore', 'pipe', 'ignore'] });
  await badCsr(new Uint8Array(cert), /not a PKCS#10/);
});

test('input larger than 64 KiB is refused before parsing', async (t) => {
  const dir = tempDir(t);
  const g = opensslCsr(dir, P256, '/CN=a.example.com');
  await badCsr(g.pem + ' '.repeat(MAX_CSR_BYTES), /larger than 65536 bytes/);
  await badCsr(new Uint8Array(MAX_CSR_BYTES + 1).fill(0x30), /larger than 65536 bytes/);
  // Multi-byte characters count in bytes.
  await badCsr(`${g.pem}${'é'.repeat(MAX_CSR_BYTES / 2 + 1)}`, /larger than/);
});

test('an EC key is checked: a point off the curve is refused, a compressed point verifies', async (t) => {
  const dir = tempDir(t);
  const g = opensslCsr(dir, P256, '/CN=point.example.test');
  // The last byte of the point's y coordinate, inside the CSR (the SPKI ends with the point).
  const at = Buffer.from(g.der).indexOf(Buffer.from(g.spki)) + g.spki.length - 1;
  assert.ok(at > g.spki.length);
  const off = new Uint8Array(g.der);
  off[at] = off[at]! ^ 0x01;
  await badCsr(off, /CSR signature does not verify/);

  const key = join(dir, 'compressed.pem');
  execFileSync('openssl', ['ec', '-in', g.keyFile, '-conv_form', 'compressed', '-out', key], { stdio: 'ignore' });
  const der = new Uint8Array(execFileSync('openssl', ['req', '-new', '-key', key, '-subj', '/CN=point.example.test', '-outform', 'DER']));
  const csr = await parseCsr(der);
  assert.deepEqual(csr.key, { type: 'ecdsa', curve: 'P-256' });
  assert.equal(csr.spki.length, g.spki.length - 32, 'the SPKI carries the compressed point');
});
