import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../core/clock.js';
import { SoftwareKeyBackend } from '../keys/software/software-backend.js';
import { toPem } from '../pki/certificate-builder.js';
import { SqliteStore } from '../storage/sqlite/sqlite-store.js';
import { CertificateAuthority } from './certificate-authority.js';
import { createHierarchy } from './hierarchy.js';
import { caUrls } from './urls.js';

const DAY = 86_400_000;

test('delegated OCSP signers are issued, then renewed before expiry, and chain with -x509_strict', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-ca-'));
  const store = new SqliteStore({ path: join(dir, 'db') });
  try {
    await store.migrate();
    const clock = new ManualClock(Date.UTC(2026, 5, 1));
    const keys = new SoftwareKeyBackend({ dir: join(dir, 'keys'), secret: Buffer.from('a test passphrase') });
    const urls = caUrls('http://127.0.0.1:1');
    const { root, intermediate } = await createHierarchy({
      spec: { root: { subject: 'CN=T Root', algorithm: 'ecdsa-p256', validityDays: 3650 }, intermediate: { subject: 'CN=T Int', algorithm: 'rsa-2048', validityDays: 365 } },
      keys, store, clock, urls,
    });
    const ca = new CertificateAuthority({ store, keys, clock, urls });
    await ca.load();
    const spec = { algorithm: 'ecdsa-p256' as const, validityDays: 30, renewBeforeDays: 10 };
    const first = await ca.ensureOcspSigners(spec);
    assert.equal(first.length, 2, 'one signer for the root and one for the intermediate');
    assert.deepEqual(await ca.ensureOcspSigners(spec), [], 'nothing to renew yet');
    clock.advance(19 * DAY);
    assert.deepEqual(await ca.ensureOcspSigners(spec), [], 'still outside the renewal window');
    clock.advance(2 * DAY);
    const renewed = await ca.ensureOcspSigners(spec);
    assert.equal(renewed.length, 2, 'renewed inside the window');
    const current = ca.ocspSignerOf(intermediate.id)!;
    assert.ok(renewed.includes(current.id), 'the newest signer is used');
    // a fresh CA instance sees the same from storage
    const again = new CertificateAuthority({ store, keys, clock, urls });
    await again.load();
    assert.equal(again.ocspSignerOf(intermediate.id)!.id, current.id);

    writeFileSync(join(dir, 'root.pem'), toPem(root.certDer));
    writeFileSync(join(dir, 'int.pem'), toPem(intermediate.certDer));
    writeFileSync(join(dir, 'ocsp.pem'), toPem(current.certDer));
    const at = String(Math.floor(clock.now().getTime() / 1000));
    const out = execFileSync('openssl', ['verify', '-x509_strict', '-attime', at, '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'int.pem'), join(dir, 'ocsp.pem')], { encoding: 'utf8' });
    assert.match(out, /OK/);
    const text = execFileSync('openssl', ['x509', '-in', join(dir, 'ocsp.pem'), '-noout', '-text'], { encoding: 'utf8' });
    assert.match(text, /OCSP Signing/);
    assert.match(text, /OCSP No Check/);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the hierarchy refuses an intermediate that outlives the root', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-ca-'));
  const store = new SqliteStore({ path: join(dir, 'db') });
  try {
    await store.migrate();
    const keys = new SoftwareKeyBackend({ dir: join(dir, 'keys'), secret: Buffer.from('a test passphrase') });
    await assert.rejects(createHierarchy({
      spec: { root: { subject: 'CN=R', algorithm: 'ecdsa-p256', validityDays: 10 }, intermediate: { subject: 'CN=I', algorithm: 'ecdsa-p256', validityDays: 20 } },
      keys, store, clock: new ManualClock(), urls: caUrls('http://x'),
    }), /outlive/);
    assert.equal((await store.listIssuers()).length, 0);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
