import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';
import { isRampartError } from '../../core/errors.js';
import { randomSerial } from '../../core/serial.js';
import { lintSigner } from '../lint/lint-signer.js';
import { parseDn } from '../names.js';
import type { CertificateTemplate } from '../certificate-template.js';
import { assembleCertificate } from '../certificate-builder.js';
import { toPlainTemplate } from './pki-jobs.js';
import { PkiPool } from './pki-pool.js';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function csrPem(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-pool-'));
  try {
    const r = spawnSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k.pem'),
      '-subj', '/CN=pool.example.test/O=Example', '-addext', 'subjectAltName=DNS:pool.example.test', '-out', join(dir, 'r.pem')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return readFileSync(join(dir, 'r.pem'), 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const issuerSigner = lintSigner('ecdsa-p256');
function template(over: Partial<CertificateTemplate> = {}): CertificateTemplate {
  const spki = new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }));
  return {
    serial: randomSerial(), subject: parseDn('CN=pool.example.test'), subjectSpki: spki,
    notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 30 * 86_400_000),
    issuer: { name: parseDn('CN=Pool Issuing CA, O=Rampart, C=XX'), spki: issuerSigner.spki }, keyUsage: ['digitalSignature'],
    extKeyUsage: ['1.3.6.1.5.5.7.3.1'], san: { dns: ['pool.example.test'] }, policies: ['2.23.140.1.2.1'],
    ocspUrls: ['http://127.0.0.1:1/ocsp'], caIssuersUrls: ['http://127.0.0.1:1/ca/i.crt'], crlUrls: ['http://127.0.0.1:1/crl/i.crl'],
    ...over,
  };
}

for (const workers of [0, 2]) {
  test(`${workers} workers: CSRs parse and verify, TBS bytes sign into a certificate that lints clean, errors keep their codes`, async (t) => {
    const pool = new PkiPool(workers);
    t.after(() => pool.close());
    const pem = csrPem();
    const csrs = await Promise.all(Array.from({ length: 8 }, () => pool.parseCsr(pem)));
    for (const c of csrs) {
      assert.equal(c.subject, 'CN=pool.example.test, O=Example');
      assert.deepEqual(c.san.dns, ['pool.example.test']);
      assert.ok(c.subjectName instanceof asn.Name);
    }
    assert.equal(pool.workers, workers);
    // A malformed CSR is a badCsr RampartError whichever thread parsed it.
    await assert.rejects(pool.parseCsr('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----'), (e: unknown) => isRampartError(e) && e.code === 'badCsr');

    const built = await pool.encodeAndLint({ template: toPlainTemplate(template()), algorithm: 'ecdsa-p256', lintProfile: 'tls-server' });
    assert.deepEqual(built.errors, []);
    const der = assembleCertificate(built.tbsDer, 'ecdsa-p256', await issuerSigner.sign(built.tbsDer));
    const cert = AsnConvert.parse(der, asn.Certificate);
    assert.equal(cert.tbsCertificate.subject.toString(), parseDn('CN=pool.example.test').toString());
    assert.deepEqual(new Uint8Array(AsnConvert.serialize(cert.tbsCertificate)), built.tbsDer);

    // A certificate the lint refuses comes back with its findings, not signed (a TLS server certificate valid for 5 years).
    const bad = await pool.encodeAndLint({ template: toPlainTemplate(template({ notAfter: new Date(Date.now() + 5 * 365 * 86_400_000) })), algorithm: 'ecdsa-p256', lintProfile: 'tls-server' });
    assert.ok(bad.errors.length > 0, 'expected lint errors');
  });
}

test('a worker that dies fails its jobs and is replaced; the pool keeps working', async (t) => {
  const pool = new PkiPool(1, () => undefined);
  t.after(() => pool.close());
  const pem = csrPem();
  await pool.parseCsr(pem);
  const slot = (pool as unknown as { slots: Array<{ worker: { terminate: () => Promise<number> } }> }).slots[0]!;
  const inFlight = pool.parseCsr(pem);
  await slot.worker.terminate();
  await inFlight.then(() => undefined, () => undefined); // answered before the kill, or failed by it: either is fine
  const again = await pool.parseCsr(pem);
  assert.equal(again.subject, 'CN=pool.example.test, O=Example');
  assert.equal(pool.workers, 1);
});
