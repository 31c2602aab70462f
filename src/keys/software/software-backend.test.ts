import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEY_ALGORITHMS, signHash, signingKey } from '../key-backend.js';
import { SoftwareKeyBackend } from './software-backend.js';

test('every algorithm: generate, reopen from disk, sign and verify; files hold no clear key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-keys-'));
  try {
    const kb = new SoftwareKeyBackend({ dir, secret: Buffer.from('correct horse battery') });
    for (const alg of KEY_ALGORITHMS) {
      const s = await kb.generate(alg, alg);
      const reopened = await new SoftwareKeyBackend({ dir, secret: Buffer.from('correct horse battery') }).open(s.keyRef);
      const data = Buffer.from(`hello ${alg}`);
      const sig = await reopened.sign(data);
      const pub = createPublicKey({ key: Buffer.from(s.spki), format: 'der', type: 'spki' });
      const ok = verify(signHash(alg), data, signingKey(alg, pub), sig);
      assert.ok(ok, `${alg} signature verifies`);
    }
    for (const f of readdirSync(dir)) {
      const text = readFileSync(join(dir, f), 'utf8');
      assert.ok(!text.includes('PRIVATE KEY'));
      assert.ok(!/"d"\s*:/.test(text));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a wrong passphrase or an altered key file is refused with a clear message', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-keys-'));
  try {
    const s = await new SoftwareKeyBackend({ dir, secret: Buffer.from('right passphrase') }).generate('k', 'ecdsa-p256');
    await assert.rejects(new SoftwareKeyBackend({ dir, secret: Buffer.from('wrong passphrase') }).open(s.keyRef), /wrong passphrase/);
    const p = join(dir, `${s.keyRef}.key.json`);
    const file = JSON.parse(readFileSync(p, 'utf8'));
    const ct = Buffer.from(file.sealed.ct, 'base64');
    ct[5]! ^= 1;
    file.sealed.ct = ct.toString('base64');
    writeFileSync(p, JSON.stringify(file));
    await assert.rejects(new SoftwareKeyBackend({ dir, secret: Buffer.from('right passphrase') }).open(s.keyRef), /altered/);
    await assert.rejects(new SoftwareKeyBackend({ dir, secret: Buffer.from('x') }).open('../etc/passwd'), /invalid key reference/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a background signature is made on the thread pool (the caller\'s thread goes on); a plain small one in place', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-keys-'));
  try {
    const kb = new SoftwareKeyBackend({ dir, secret: Buffer.from('correct horse battery') });
    const s = await kb.generate('bg', 'ecdsa-p256');
    const pub = signingKey('ecdsa-p256', createPublicKey({ key: Buffer.from(s.spki), format: 'der', type: 'spki' }));
    const data = Buffer.from('an OCSP ResponseData');
    const settledAfterMicrotasks = async (p: Promise<Uint8Array>): Promise<{ settled: boolean; sig: Uint8Array }> => {
      let settled = false;
      void p.then(() => { settled = true; });
      for (let i = 0; i < 5; i++) await Promise.resolve();
      const seen = settled;
      return { settled: seen, sig: await p };
    };
    const inPlace = await settledAfterMicrotasks(s.sign(data));
    assert.equal(inPlace.settled, true, 'signed before sign() returned');
    const bg = await settledAfterMicrotasks(s.sign(data, { background: true }));
    assert.equal(bg.settled, false, 'a background signature needs a turn of the event loop: it came from the pool');
    for (const sig of [inPlace.sig, bg.sig]) assert.ok(verify('sha256', data, pub, sig));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
