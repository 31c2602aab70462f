import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as asn1js from 'asn1js';
import { parseDn } from '../src/pki/names.js';
import { SoftwareKeyBackend } from '../src/keys/software/software-backend.js';
import type { KeyAlgorithm, Signer } from '../src/core/signing.js';
import { buildCertificate, EKU_OIDS, toPem } from '../src/pki/certificate-builder.js';
import { buildCrl, encodeRevokedEntry, parseCrl, parseCrlNumber, type BuildCrlOptions, type RevokedEntry } from '../src/pki/crl-builder.js';
import { REVOCATION_REASONS, reasonFromName, reasonName, crlReasonName } from '../src/pki/revocation-reasons.js';

const CRL_URL = 'http://pki.example.test/crl/test-ca.crl';
const HOUR = 3600_000;

interface Run { status: number | null; out: string }

function openssl(args: string[]): Run {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

interface Fixture {
  dir: string;
  ca: Signer;
  caName: ReturnType<typeof parseDn>;
  caPem: string;
  /** Serial 00 8f ..: the sign byte is needed, so the CRL must encode the same INTEGER. */
  revokedLeaf: { pem: string; serial: Uint8Array };
  goodLeaf: { pem: string; serial: Uint8Array };
  file(name: string, data: string | Uint8Array): string;
  opts(over: Partial<BuildCrlOptions>): BuildCrlOptions;
}

async function fixture(alg: KeyAlgorithm): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-crl-test-'));
  const keys = new SoftwareKeyBackend({ dir: join(dir, 'keys'), secret: Buffer.from('test secret') });
  const ca = await keys.generate('ca', alg);
  const caName = parseDn('CN=Rampart Test CA, O=Rampart');
  const now = Date.now();
  const caDer = await buildCertificate({
    serial: new Uint8Array([0x01]), subject: caName, subjectSpki: ca.spki,
    notBefore: new Date(now - HOUR), notAfter: new Date(now + 24 * HOUR),
    ca: {}, keyUsage: ['keyCertSign', 'cRLSign'],
  }, ca);
  const leaf = async (cn: string, serial: Uint8Array) => {
    const key = await keys.generate(cn, 'ecdsa-p256');
    const der = await buildCertificate({
      serial, subject: parseDn(`CN=${cn}`), subjectSpki: key.spki,
      notBefore: new Date(now - HOUR), notAfter: new Date(now + 12 * HOUR),
      issuer: { name: caName, spki: ca.spki },
      keyUsage: ['digitalSignature'], extKeyUsage: [EKU_OIDS.serverAuth!], san: { dns: [`${cn}.example.test`] },
      crlUrls: [CRL_URL],
    }, ca);
    return { pem: toPem(der), serial };
  };
  const file = (name: string, data: string | Uint8Array) => {
    const p = join(dir, name);
    writeFileSync(p, data);
    return p;
  };
  const f: Fixture = {
    dir, ca, caName, caPem: file('ca.pem', toPem(caDer)),
    revokedLeaf: await leaf('revoked', new Uint8Array([0x00, 0x8f, ...randomBytes(15)])),
    goodLeaf: await leaf('good', new Uint8Array([0x42, ...randomBytes(15)])),
    file,
    opts: (over) => ({
      signer: ca, issuerName: caName, issuerSpki: ca.spki, crlNumber: 42n,
      thisUpdate: new Date(Date.now() - 60_000), nextUpdate: new Date(Date.now() + 6 * HOUR),
      revoked: [], idpUrl: CRL_URL, ...over,
    }),
  };
  f.file('revoked.pem', f.revokedLeaf.pem);
  f.file('good.pem', f.goodLeaf.pem);
  return f;
}

function hex(u: Uint8Array): string {
  return Buffer.from(u).toString('hex');
}

/** Writes the CRL as DER and PEM; returns the paths. */
function writeCrl(f: Fixture, name: string, der: Uint8Array): { der: string; pem: string } {
  return { der: f.file(`${name}.der`, der), pem: f.file(`${name}.pem`, toPem(der, 'X509 CRL')) };
}

function verifyLeaf(f: Fixture, crlPem: string, leaf: string, extra: string[] = []): Run {
  return openssl(['verify', ...extra, '-crl_check', '-CAfile', f.caPem, '-CRLfile', crlPem, join(f.dir, leaf)]);
}

for (const alg of ['ecdsa-p256', 'rsa-2048'] as const) {
  test(`CRL signed with ${alg} is accepted by openssl`, async (t) => {
    const f = await fixture(alg);
    t.after(() => rmSync(f.dir, { recursive: true, force: true }));

    await t.test('revoking one leaf: verifies, shows number and reason, revokes only that leaf', async () => {
      const revoked: RevokedEntry[] = [
        // Serial given without the sign byte and in upper case: still the certificate's INTEGER.
        { serialHex: hex(f.revokedLeaf.serial.subarray(1)).toUpperCase(), revokedAt: new Date(Date.now() - 30_000), reason: REVOCATION_REASONS.keyCompromise },
        { serialHex: '0a1b2c', revokedAt: new Date(Date.now() - 40_000), reason: 0 },
        { serialHex: '00:7f:01', revokedAt: new Date(Date.now() - 50_000), reason: REVOCATION_REASONS.certificateHold },
      ];
      const crl = await buildCrl(f.opts({ revoked, crlNumber: 4242n }));
      assert.equal(crl.count, 3);
      const p = writeCrl(f, 'one', crl.der);

      const check = openssl(['crl', '-in', p.der, '-inform', 'DER', '-CAfile', f.caPem, '-noout']);
      assert.equal(check.status, 0, check.out);
      assert.match(check.out, /verify OK/);

      const text = openssl(['crl', '-in', p.der, '-inform', 'DER', '-text', '-noout']);
      assert.equal(text.status, 0, text.out);
      assert.match(text.out, /Version 2 \(0x1\)/);
      assert.match(text.out, /X509v3 CRL Number:\s*\n\s*4242\b/);
      assert.match(text.out, /X509v3 Authority Key Identifier:/);
      assert.match(text.out, /X509v3 Issuing Distribution Point: critical\s*\n\s*Full Name:\s*\n\s*URI:http:\/\/pki\.example\.test\/crl\/test-ca\.crl/);
      assert.match(text.out, new RegExp(`Serial Number: ${hex(f.revokedLeaf.serial.subarray(1)).toUpperCase()}\\s*\\n\\s*Revocation Date:[^\\n]*\\n\\s*CRL entry extensions:\\s*\\n\\s*X509v3 CRL Reason Code:\\s*\\n\\s*Key Compromise`));
      assert.match(text.out, /Certificate Hold/);
      assert.equal(text.out.match(/Serial Number:/g)?.length, 3);
      assert.equal(text.out.match(/X509v3 CRL Reason Code/g)?.length, 2, 'unspecified (0) must carry no reasonCode');

      const info = parseCrl(crl.der);
      assert.equal(info.crlNumber, 4242n);
      assert.deepEqual(info.idpUrls, [CRL_URL]);
      assert.deepEqual(info.entries.map((e) => [e.serialHex, e.reason]), [
        [hex(f.revokedLeaf.serial.subarray(1)), 1], ['0a1b2c', null], ['7f01', 6],
      ]);

      const bad = verifyLeaf(f, p.pem, 'revoked.pem');
      assert.notEqual(bad.status, 0, bad.out);
      assert.match(bad.out, /certificate revoked/);
      // The same leaf is fine without CRL checking: the failure above is the revocation.
      const noCrl = openssl(['verify', '-x509_strict', '-CAfile', f.caPem, join(f.dir, 'revoked.pem')]);
      assert.equal(noCrl.status, 0, noCrl.out);

      const good = verifyLeaf(f, p.pem, 'good.pem', ['-x509_strict']);
      assert.equal(good.status, 0, good.out);
      assert.match(good.out, /good\.pem: OK/);
    });

    await t.test('empty CRL: verifies, has a number, omits revokedCertificates', async () => {
      const crl = await buildCrl(f.opts({ crlNumber: 1n, revoked: [] }));
      assert.equal(crl.count, 0);
      const p = writeCrl(f, 'empty', crl.der);
      const check = openssl(['crl', '-in', p.der, '-inform', 'DER', '-CAfile', f.caPem, '-noout']);
      assert.equal(check.status, 0, check.out);
      assert.match(check.out, /verify OK/);
      const text = openssl(['crl', '-in', p.der, '-inform', 'DER', '-text', '-noout']);
      assert.match(text.out, /X509v3 CRL Number:\s*\n\s*1\s*\n/);
      assert.match(text.out, /No Revoked Certificates/);
      assert.equal(parseCrlNumber(crl.der), 1n);

      // TBSCertList = version, signature, issuer, thisUpdate, nextUpdate, [0] crlExtensions: no SEQUENCE OF at all.
      const root = asn1js.fromBER(crl.der).result as asn1js.Sequence;
      const tbs = root.valueBlock.value[0] as asn1js.Sequence;
      assert.equal(tbs.valueBlock.value.length, 6);
      assert.equal(tbs.valueBlock.value[5]!.idBlock.tagClass, 3);

      for (const leaf of ['good.pem', 'revoked.pem']) {
        const r = verifyLeaf(f, p.pem, leaf, ['-x509_strict']);
        assert.equal(r.status, 0, r.out);
      }
    });

    await t.test('tampered CRL and foreign IDP are rejected', async () => {
      const crl = await buildCrl(f.opts({ revoked: [{ serialHex: hex(f.revokedLeaf.serial), revokedAt: new Date(), reason: 1 }] }));
      const tampered = Uint8Array.from(crl.der);
      tampered[tampered.length - 1]! ^= 0x01;
      const p = writeCrl(f, 'tampered', tampered);
      const check = openssl(['crl', '-in', p.der, '-inform', 'DER', '-CAfile', f.caPem, '-noout']);
      assert.doesNotMatch(check.out, /verify OK/);
      assert.match(check.out, /verify fail/);
      assert.notEqual(verifyLeaf(f, p.pem, 'good.pem').status, 0);

      // An IDP that does not match the certificates' CDP puts them out of the CRL's scope.
      const other = await buildCrl(f.opts({ idpUrl: 'http://elsewhere.example.test/other.crl' }));
      const r = verifyLeaf(f, writeCrl(f, 'other-idp', other.der).pem, 'good.pem');
      assert.notEqual(r.status, 0, r.out);
      assert.match(r.out, /different CRL scope/);
    });
  });
}

test('buildCrl: entries from an async iterable, dates and validation', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-crl-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keys = new SoftwareKeyBackend({ dir, secret: Buffer.from('s') });
  const ca = await keys.generate('ca', 'ecdsa-p256');
  const other = await keys.generate('other', 'ecdsa-p256');
  const base: BuildCrlOptions = {
    signer: ca, issuerName: parseDn('CN=Unit CA'), issuerSpki: ca.spki, crlNumber: 7n,
    thisUpdate: new Date('2030-01-01T00:00:00Z'), nextUpdate: new Date('2051-01-01T00:00:00Z'), revoked: [],
  };
  async function* many(n: number): AsyncGenerator<RevokedEntry> {
    for (let i = 1; i <= n; i++) yield { serialHex: i.toString(16), revokedAt: new Date('2029-06-01T12:00:00.789Z'), reason: i % 2 ? 4 : undefined };
  }
  const crl = await buildCrl({ ...base, revoked: many(5000) });
  assert.equal(crl.count, 5000);
  const info = parseCrl(crl.der);
  assert.equal(info.count, 5000);
  assert.equal(info.entries[4999]!.serialHex, (5000).toString(16).padStart(4, '0'));
  assert.equal(info.entries[0]!.reason, 4);
  assert.equal(info.entries[1]!.reason, null);
  assert.equal(info.entries[0]!.revokedAt.toISOString(), '2029-06-01T12:00:00.000Z');
  assert.equal(info.nextUpdate?.toISOString(), '2051-01-01T00:00:00.000Z');
  assert.deepEqual(info.idpUrls, []);
  assert.equal(parseCrlNumber(crl.der), 7n);

  const big = await buildCrl({ ...base, crlNumber: (1n << 159n) - 1n });
  assert.equal(parseCrlNumber(big.der), (1n << 159n) - 1n);

  await assert.rejects(buildCrl({ ...base, crlNumber: 1n << 159n }), /20 octets/);
  await assert.rejects(buildCrl({ ...base, crlNumber: -1n }), /non-negative/);
  await assert.rejects(buildCrl({ ...base, nextUpdate: base.thisUpdate }), /nextUpdate/);
  await assert.rejects(buildCrl({ ...base, issuerSpki: other.spki }), /does not match the signer/);
  await assert.rejects(buildCrl({ ...base, revoked: [{ serialHex: 'zz', revokedAt: new Date() }] }), /entry 0 .*invalid serial/);
  await assert.rejects(buildCrl({ ...base, revoked: [{ serialHex: '01', revokedAt: new Date(), reason: 7 }] }), /invalid CRL reason code 7/);
  await assert.rejects(buildCrl({ ...base, revoked: [{ serialHex: '01', revokedAt: new Date(), reason: 8 }] }), /delta CRLs/);
  await assert.rejects(buildCrl({ ...base, revoked: [{ serialHex: '01', revokedAt: new Date('nope') }] }), /revokedAt/);
});

test('revocation reasons table', () => {
  assert.deepEqual(Object.values(REVOCATION_REASONS), [0, 1, 2, 3, 4, 5, 6, 8, 9, 10]);
  assert.equal(reasonFromName('keyCompromise'), 1);
  assert.equal(reasonFromName('key-compromise'), 1);
  assert.equal(reasonFromName('CA_COMPROMISE'), 2);
  assert.equal(reasonFromName('aACompromise'), 10);
  assert.equal(reasonFromName(' 9 '), 9);
  assert.equal(reasonFromName(6), 6);
  assert.equal(reasonFromName(7), null);
  assert.equal(reasonFromName('7'), null);
  assert.equal(reasonFromName('stolen'), null);
  assert.equal(reasonFromName(''), null);
  assert.equal(reasonName(5), 'cessationOfOperation');
  assert.equal(reasonName(11), null);
  assert.equal(crlReasonName(0), 'unspecified');
});

test('entries encoded at revocation time give the same CRL as entries encoded while building', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-crl-pre-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keys = new SoftwareKeyBackend({ dir, secret: Buffer.from('s') });
  const ca = await keys.generate('ca', 'ecdsa-p256');
  const entries: RevokedEntry[] = [];
  for (let i = 1; i <= 300; i++) entries.push({ serialHex: (0x4000_0000 + i * 7919).toString(16), revokedAt: new Date(Date.UTC(2029, 0, 1, 0, 0, i)), reason: i % 11 === 7 || i % 11 === 8 ? 1 : i % 11 });
  const tbsOf = async (revoked: RevokedEntry[]) => {
    const crl = await buildCrl({ signer: ca, issuerName: parseDn('CN=Pre CA'), issuerSpki: ca.spki, crlNumber: 3n, thisUpdate: new Date('2030-01-01T00:00:00Z'), nextUpdate: new Date('2030-01-02T00:00:00Z'), revoked });
    return parseCrl(crl.der);
  };
  const plain = await tbsOf(entries);
  const pre = await tbsOf(entries.map((e) => ({ ...e, der: encodeRevokedEntry(e) })));
  assert.deepEqual(pre.entries, plain.entries);
  assert.equal(pre.entries.length, 300);
});
