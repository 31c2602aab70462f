/**
 * The PKCS#11 backend against a real SoftHSM2 (its own token directory in a
 * temp dir): key generation in the token, signatures verified by node:crypto,
 * wrapping contract with node:crypto, import into another token, parallel
 * sessions, and an HSM pool losing and regaining a token.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign as nodeSign, verify } from 'node:crypto';
import { hashFor, isKeyWrapper, type KeyAlgorithm, type Signer } from '../key-backend.js';
import { createSoftHsm, TEST_PIN, type SoftHsm, type SoftHsmToken } from '../../../test/helpers/softhsm.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openPkcs11Backend } from './from-config.js';
import { Pkcs11KeyBackend, type Pkcs11BackendOptions } from './pkcs11-backend.js';
import { parsePkcs11Uri } from './pkcs11-uri.js';
import { keyIdFor } from './public-key.js';
import { wrapInNode } from './wrapped-key.js';

function verifies(s: Pick<Signer, 'algorithm' | 'spki'>, data: Uint8Array, sig: Uint8Array): boolean {
  const key = createPublicKey({ key: Buffer.from(s.spki), format: 'der', type: 'spki' });
  return verify(hashFor(s.algorithm), data, s.algorithm.startsWith('ecdsa') ? { key, dsaEncoding: 'der' } : key, sig);
}

const waitFor = async (what: string, cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('PKCS#11 key backend on SoftHSM2', () => {
  let hsm: SoftHsm;
  let alpha: SoftHsmToken;
  let beta: SoftHsmToken;
  let gamma: SoftHsmToken;
  const opened: Pkcs11KeyBackend[] = [];
  const open = async (tokens: SoftHsmToken[], o: Partial<Pkcs11BackendOptions> = {}): Promise<Pkcs11KeyBackend> => {
    const b = await Pkcs11KeyBackend.open({
      module: hsm.module, tokens: tokens.map((t) => ({ uri: t.uri, pin: TEST_PIN })), sessionsPerToken: 2, extractable: false, retrySeconds: 1, ...o,
    });
    opened.push(b);
    return b;
  };

  before(() => {
    hsm = createSoftHsm();
    alpha = hsm.initToken('alpha');
    beta = hsm.initToken('beta');
    gamma = hsm.initToken('gamma');
    hsm.useInProcess();
  });
  after(async () => {
    for (const b of opened) await b.close();
    hsm?.cleanup();
  });

  it('generates P-256, P-384 and RSA-2048 keys in the token, finds them again and signs verifiably', async () => {
    const kb = await open([alpha]);
    assert.ok(isKeyWrapper(kb));
    const made: Signer[] = [];
    for (const alg of ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048'] as KeyAlgorithm[]) {
      const s = await kb.generate(`test-${alg}`, alg);
      assert.equal(s.algorithm, alg);
      const ref = parsePkcs11Uri(s.keyRef);
      assert.equal(ref.type, 'private');
      assert.deepEqual([...ref.id!], [...keyIdFor(s.spki)], 'CKA_ID is the SHA-1 key identifier');
      assert.equal(createPublicKey({ key: Buffer.from(s.spki), format: 'der', type: 'spki' }).asymmetricKeyType, alg.startsWith('ecdsa') ? 'ec' : 'rsa');
      const data = Buffer.from(`to be signed by ${alg}`);
      assert.ok(verifies(s, data, await s.sign(data)), `${alg} signature verifies`);
      made.push(s);
    }
    // A second backend instance shares the initialized module and finds the keys by reference.
    const again = await open([alpha]);
    for (const s of made) {
      const r = await again.open(s.keyRef);
      assert.deepEqual(Buffer.from(r.spki), Buffer.from(s.spki));
      assert.equal(r.algorithm, s.algorithm);
      const data = randomBytes(1000);
      assert.ok(verifies(s, data, await r.sign(data)));
    }
    assert.equal(await again.has(made[0]!.keyRef), true);
    assert.equal(await again.has('pkcs11:type=private;id=%00%01'), false);
    await assert.rejects(again.open('pkcs11:type=private;id=%00%01'), /key not found/);
    await assert.rejects(again.open('root-1234abcd'), /not a PKCS#11 key reference/);
    const h = await again.health();
    assert.equal(h.ok, true);
    assert.ok(!h.degraded, h.detail);
    assert.match(h.detail, /1 of 1 token\(s\) in use \(token "alpha"\)/);
  });

  it('refuses to export a non-extractable key, naming why', async () => {
    const kb = await open([alpha]);
    const s = await kb.generate('locked', 'ecdsa-p256');
    await assert.rejects(kb.exportWrapped(s.keyRef, randomBytes(32)), /is not extractable \(CKA_EXTRACTABLE false/);
  });

  it('wraps an extractable key so that node:crypto unwraps it (RFC 5649) into the exact PKCS#8', async () => {
    const kb = await open([alpha], { extractable: true });
    for (const alg of ['ecdsa-p256', 'rsa-2048'] as KeyAlgorithm[]) {
      const s = await kb.generate(`export-${alg}`, alg);
      const kek = randomBytes(32);
      const out = await kb.exportWrapped(s.keyRef, kek);
      assert.equal(out.algorithm, alg);
      assert.deepEqual(Buffer.from(out.spki), Buffer.from(s.spki));
      const d = createDecipheriv('id-aes256-wrap-pad', kek, Buffer.from('A65959A6', 'hex'));
      const pkcs8 = Buffer.concat([d.update(out.wrapped), d.final()]);
      const key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
      assert.deepEqual(key.export({ type: 'pkcs8', format: 'der' }).subarray(0, 2), pkcs8.subarray(0, 2));
      assert.equal(pkcs8.length, 2 + (pkcs8[1]! & 0x80 ? (pkcs8[1]! & 0x7f) : 0) + (pkcs8[1]! & 0x80 ? pkcs8.readUIntBE(2, pkcs8[1]! & 0x7f) : pkcs8[1]!),
        'no bytes after the PKCS#8 structure (SoftHSM2 zero padding removed)');
      assert.deepEqual(Buffer.from(createPublicKey(key).export({ type: 'spki', format: 'der' })), Buffer.from(s.spki));
      const data = Buffer.from('signed by the unwrapped software key');
      assert.ok(verifies(s, data, nodeSign(hashFor(alg), data, alg.startsWith('ecdsa') ? { key, dsaEncoding: 'der' } : key)));
      await assert.rejects(kb.importWrapped('x', alg, out.wrapped, randomBytes(32)), /does not unwrap under this key-encryption key/);
    }
  });

  it('imports a wrapped key into another token, which then signs under the same public key and reference', async () => {
    const src = await open([alpha], { extractable: true });
    const dst = await open([beta]);
    const s = await src.generate('moving', 'ecdsa-p384');
    const kek = randomBytes(32);
    const { wrapped, spki } = await src.exportWrapped(s.keyRef, kek);
    await assert.rejects(dst.open(s.keyRef), /key not found/);
    const imported = await dst.importWrapped('moving', 'ecdsa-p384', wrapped, kek);
    assert.equal(imported.keyRef, s.keyRef, 'the reference depends on the key only');
    assert.deepEqual(Buffer.from(imported.spki), Buffer.from(spki));
    const data = Buffer.from('signed in token beta');
    assert.ok(verifies(s, data, await imported.sign(data)));
    assert.equal(dst.stats()[0]!.name, 'token "beta"');
    assert.ok(dst.stats()[0]!.signatures >= 1);
    // Imported non-extractable (the importing backend's setting).
    await assert.rejects(dst.exportWrapped(s.keyRef, kek), /not extractable/);
    // In a pool holding both copies, an export moves on to the copy that may leave its token (either round-robin start).
    const both = await open([beta, alpha]);
    for (let i = 0; i < 3; i++) assert.deepEqual(Buffer.from((await both.exportWrapped(s.keyRef, kek)).spki), Buffer.from(spki));
    // Idempotent: importing again changes nothing.
    assert.equal((await dst.importWrapped('moving', 'ecdsa-p384', wrapped, kek, spki)).keyRef, s.keyRef);

    // A software key (PKCS#8 wrapped by node:crypto) restores into the HSM, with the spki given.
    const soft = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const softSpki = new Uint8Array(soft.publicKey.export({ type: 'spki', format: 'der' }));
    const w = wrapInNode(soft.privateKey.export({ type: 'pkcs8', format: 'der' }), kek);
    const fromSoft = await dst.importWrapped('from-software', 'rsa-2048', w, kek, softSpki);
    assert.ok(verifies({ algorithm: 'rsa-2048', spki: softSpki }, data, await fromSoft.sign(data)));
    // A public key that does not belong to the wrapped key is refused (the test signature does not verify).
    const wrongSpki = new Uint8Array(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'der' }));
    await assert.rejects(dst.importWrapped('mismatch', 'rsa-2048', w, kek, wrongSpki), /does not match the public key/);
    await assert.rejects(dst.importWrapped('mismatch', 'ecdsa-p256', w, kek), /is rsa-2048, not ecdsa-p256/);
  });

  it('signs in parallel on several sessions, off the event loop', async () => {
    const kb = await open([gamma], { sessionsPerToken: 4 });
    const s = await kb.generate('parallel', 'rsa-2048');
    const data = randomBytes(512);
    let ticks = 0;
    let running = true;
    const tick = (): void => { ticks++; if (running) setImmediate(tick); };
    setImmediate(tick);
    const t0 = performance.now();
    const sigs = await Promise.all(Array.from({ length: 64 }, () => s.sign(data)));
    const ms = performance.now() - t0;
    running = false;
    for (const sig of sigs) assert.ok(verifies(s, data, sig));
    const st = kb.stats()[0]!;
    assert.equal(st.sessions, 4);
    assert.equal(st.peakSessionsBusy, 4, 'four signatures were in flight at once');
    // C_Sign runs on libuv worker threads: the event loop kept turning while 64 RSA signatures were computed.
    assert.ok(ticks >= 10, `the event loop turned ${ticks} times during ${ms.toFixed(0)} ms of signing`);
  });

  it('an HSM pool replicates extractable keys, uses its tokens in turn, survives losing one and takes it back', async () => {
    const kb = await open([alpha, beta], { extractable: true, sessionsPerToken: 2, retrySeconds: 1 });
    const s = await kb.generate('pooled', 'ecdsa-p256');
    const h0 = await kb.health();
    assert.equal(h0.ok, true);
    assert.ok(!h0.degraded, h0.detail);
    const data = Buffer.from('pool');
    for (let i = 0; i < 10; i++) assert.ok(verifies(s, data, await s.sign(data)));
    const [a0, b0] = kb.stats();
    assert.ok(a0!.signatures >= 5 && b0!.signatures >= 5, `round robin: ${a0!.signatures} / ${b0!.signatures}`);

    // Signers in the background all along: no signature may fail while alpha leaves and comes back
    // (its return re-initializes the module under beta's signatures in flight).
    let stop = false;
    let signed = 0;
    const failures: string[] = [];
    const background = Promise.all(Array.from({ length: 4 }, async () => {
      while (!stop) {
        try {
          if (!verifies(s, data, await s.sign(data))) failures.push('bad signature');
          signed++;
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    }));
    const putBack = hsm.removeToken('alpha');
    try {
      for (let i = 0; i < 10; i++) assert.ok(verifies(s, data, await s.sign(data)), 'signing goes on with token beta');
      const h1 = await kb.health();
      assert.equal(h1.ok, true);
      assert.equal(h1.degraded, true);
      assert.match(h1.detail, /1 of 2 token\(s\) in use \(token "beta"\)/);
      assert.match(h1.detail, /out of the pool: token "alpha": CKR_\w+/);
    } finally {
      putBack();
    }
    await waitFor('token alpha back in the pool', async () => !(await kb.health()).degraded);
    assert.equal(kb.stats()[0]!.state, 'up');
    const signedBefore = signed;
    await waitFor('signatures after alpha came back', () => signed > signedBefore + 50);
    stop = true;
    await background;
    assert.deepEqual(failures, [], `${failures.length} of ${signed + failures.length} background signatures failed`);
    // Prove alpha really signs again: take beta away.
    const putBackBeta = hsm.removeToken('beta');
    try {
      const before = kb.stats()[0]!.signatures;
      for (let i = 0; i < 4; i++) assert.ok(verifies(s, data, await s.sign(data)));
      assert.ok(kb.stats()[0]!.signatures >= before + 4);
      const h2 = await kb.health();
      assert.equal(h2.degraded, true);
      assert.match(h2.detail, /out of the pool: token "beta"/);
    } finally {
      putBackBeta();
    }
    await waitFor('token beta back in the pool', async () => !(await kb.health()).degraded);
    // Both gone: health is not ok and signing fails with both reasons.
    const a = hsm.removeToken('alpha');
    const b = hsm.removeToken('beta');
    try {
      await assert.rejects(s.sign(data), /cannot sign with pkcs11:.*token "(alpha|beta)"/);
      const h3 = await kb.health();
      assert.equal(h3.ok, false);
      assert.match(h3.detail, /no PKCS#11 token usable: token "alpha": .*; token "beta": /);
    } finally {
      a();
      b();
    }
    await waitFor('both tokens back', async () => (await kb.health()).ok && kb.stats().every((t) => t.state === 'up'));
    assert.ok(verifies(s, data, await s.sign(data)));
  });

  it('builds from keys.pkcs11 settings: PIN from a file relative to dataDir or from the variable, clear errors otherwise', async () => {
    const settings = { module: hsm.module, tokens: [alpha.uri], pinEnv: 'TEST_HSM_PIN', sessionsPerToken: 1, extractable: false, retrySeconds: 5 };
    mkdirSync(join(hsm.dir, 'data', 'secrets'), { recursive: true });
    writeFileSync(join(hsm.dir, 'data', 'secrets', 'pin'), `${TEST_PIN}\n`);
    const fromFile = await openPkcs11Backend({ ...settings, pinFile: 'secrets/pin' }, { dataDir: join(hsm.dir, 'data'), env: {} });
    opened.push(fromFile);
    assert.equal((await fromFile.health()).ok, true);
    const fromEnv = await openPkcs11Backend(settings, { dataDir: hsm.dir, env: { TEST_HSM_PIN: TEST_PIN } });
    opened.push(fromEnv);
    assert.equal((await fromEnv.health()).ok, true);
    await assert.rejects(openPkcs11Backend(settings, { dataDir: hsm.dir, env: {} }),
      /no token user PIN is configured: set the environment variable TEST_HSM_PIN or keys.pkcs11.pinFile/);
    await assert.rejects(openPkcs11Backend({ ...settings, pinFile: 'nope' }, { dataDir: hsm.dir, env: {} }), /keys.pkcs11.pinFile .*nope cannot be read \(ENOENT\)/);
    await assert.rejects(openPkcs11Backend({ ...settings, tokens: [] }, { dataDir: hsm.dir, env: {} }), /keys.pkcs11.tokens is empty/);
    await assert.rejects(openPkcs11Backend({ ...settings, tokens: ['pkcs11:token=alpha;id=%01'] }, { dataDir: hsm.dir, env: { TEST_HSM_PIN: TEST_PIN } }),
      /a token URI names a token; drop object=, id= and type=/);
    await assert.rejects(openPkcs11Backend({ ...settings, tokens: [alpha.uri, `${alpha.uri};serial=${alpha.serial}`] }, { dataDir: hsm.dir, env: { TEST_HSM_PIN: TEST_PIN } }),
      /are the same token/);
  });

  it('fails clearly on a wrong PIN (without retrying it) and on a URI that matches no token', async () => {
    await assert.rejects(
      Pkcs11KeyBackend.open({ module: hsm.module, tokens: [{ uri: gamma.uri, pin: '000000' }], sessionsPerToken: 1, extractable: false, retrySeconds: 1 }),
      /login refused \(CKR_PIN_INCORRECT.*not retried automatically/,
    );
    await assert.rejects(
      Pkcs11KeyBackend.open({ module: hsm.module, tokens: [{ uri: 'pkcs11:token=nope', pin: TEST_PIN }], sessionsPerToken: 1, extractable: false, retrySeconds: 1 }),
      /token "nope": no token matches; tokens present: .*"alpha"/,
    );
    await assert.rejects(
      Pkcs11KeyBackend.open({ module: '/nonexistent/libpkcs11.so', tokens: [{ uri: alpha.uri, pin: TEST_PIN }], sessionsPerToken: 1, extractable: false, retrySeconds: 1 }),
      /cannot load the PKCS#11 module \/nonexistent\/libpkcs11.so/,
    );
  });
});
