/**
 * Ed25519 keys (SSH CAs) in the PKCS#11 backend against a real SoftHSM2:
 * generated in the token (CKM_EC_EDWARDS_KEY_PAIR_GEN), the public key read
 * from CKA_EC_POINT, CKM_EDDSA signatures that node:crypto verifies; the
 * export refused clearly (SoftHSM2 2.6 wraps no Edwards key); a software
 * Ed25519 key imported (restore) into every token of a pool, which then
 * signs with one token pulled; an extractable key generated in a pool stays
 * in one token, and health says so; KeyPlacement (what the SSH CA creation
 * ceremony uses): the wrap limit found by probing, and a verified test
 * signature from every token.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import type { Signer } from '../key-backend.js';
import { createSoftHsm, TEST_PIN, type SoftHsm, type SoftHsmToken } from '../../../test/helpers/softhsm.js';
import { Pkcs11KeyBackend, type Pkcs11BackendOptions } from './pkcs11-backend.js';
import * as asn1js from 'asn1js';
import { edwardsParams, keyIdFor, partsFromSpki, spkiFromEdwards } from './public-key.js';
import { wrapInNode } from './wrapped-key.js';

const verifies = (s: Pick<Signer, 'spki'>, data: Uint8Array, sig: Uint8Array): boolean =>
  verify(null, data, createPublicKey({ key: Buffer.from(s.spki), format: 'der', type: 'spki' }), sig);

describe('Ed25519 keys in the PKCS#11 backend (SoftHSM2)', () => {
  let hsm: SoftHsm;
  let one: SoftHsmToken;
  let a: SoftHsmToken;
  let b: SoftHsmToken;
  const opened: Pkcs11KeyBackend[] = [];
  const open = async (tokens: SoftHsmToken[], o: Partial<Pkcs11BackendOptions> = {}): Promise<Pkcs11KeyBackend> => {
    const kb = await Pkcs11KeyBackend.open({
      module: hsm.module, tokens: tokens.map((t) => ({ uri: t.uri, pin: TEST_PIN })), sessionsPerToken: 2, extractable: false, retrySeconds: 1, ...o,
    });
    opened.push(kb);
    return kb;
  };

  before(() => {
    hsm = createSoftHsm();
    one = hsm.initToken('ed-one');
    a = hsm.initToken('ed-a');
    b = hsm.initToken('ed-b');
    hsm.useInProcess();
  });
  after(async () => {
    for (const kb of opened) await kb.close();
    hsm?.cleanup();
  });

  it('generates an Ed25519 key in the token, reads its public key back and signs pure Ed25519 (CKM_EDDSA)', async () => {
    const kb = await open([one]);
    const s = await kb.generate('ssh-user-ca-users', 'ed25519');
    assert.equal(s.algorithm, 'ed25519');
    const jwk = createPublicKey({ key: Buffer.from(s.spki), format: 'der', type: 'spki' }).export({ format: 'jwk' });
    assert.equal(jwk.crv, 'Ed25519');
    assert.equal(s.keyRef, `pkcs11:type=private;id=${[...keyIdFor(s.spki)].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('')}`);
    const big = randomBytes(5000);
    for (const data of [Buffer.from('ssh certificate to be signed'), big]) {
      const sig = await s.sign(data);
      assert.equal(sig.length, 64);
      assert.ok(verifies(s, data, sig));
      assert.ok(!verifies(s, Buffer.concat([data, Buffer.from('x')]), sig), 'the signature covers the message');
    }
    // Found again by another backend (the public key object's CKA_EC_POINT, an OCTET STRING).
    const again = await open([one]);
    const found = await again.open(s.keyRef);
    assert.equal(found.algorithm, 'ed25519');
    assert.deepEqual(Buffer.from(found.spki), Buffer.from(s.spki));
    const data = Buffer.from('signed after reopening');
    assert.ok(verifies(s, data, await found.sign(data)));
    const h = await again.health();
    assert.equal(h.ok, true, h.detail);
  });

  it('reads CKA_EC_PARAMS as the OID or the "edwards25519" name, CKA_EC_POINT as an OCTET STRING or the bare key; refuses other curves', () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
    const parts = partsFromSpki(spki);
    assert.equal(parts.kind, 'edwards');
    assert.deepEqual(Buffer.from(parts.ecParams), Buffer.from(edwardsParams()));
    const bare = new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url'));
    const byName = new Uint8Array(new asn1js.PrintableString({ value: 'edwards25519' }).toBER());
    for (const [params, point] of [[parts.ecParams, parts.ecPointAttr], [byName, parts.ecPointAttr], [parts.ecParams, bare]] as const) {
      assert.deepEqual(Buffer.from(spkiFromEdwards(params, point).spki), Buffer.from(spki));
    }
    const ed448 = new Uint8Array(new asn1js.ObjectIdentifier({ value: '1.3.101.113' }).toBER());
    assert.throws(() => spkiFromEdwards(ed448, parts.ecPointAttr), /unsupported Edwards curve 1\.3\.101\.113/);
    assert.throws(() => spkiFromEdwards(parts.ecParams, parts.ecPointAttr.subarray(0, 20)), /CKA_EC_POINT of an Ed25519 key/);
  });

  it('refuses to export an extractable Ed25519 key the token cannot wrap, naming why', async () => {
    const kb = await open([one], { extractable: true });
    const s = await kb.generate('ssh-user-ca-export', 'ed25519');
    await assert.rejects(kb.exportWrapped(s.keyRef, randomBytes(32)), /cannot wrap key pkcs11:.*CKR_KEY_NOT_WRAPPABLE.*rampart key restore/);
    assert.ok(kb.stats().every((t) => t.state === 'up'), 'the refusal is about the key: the token stays in the pool');
  });

  it('imports (restores) a software Ed25519 key into every token of a pool, which signs on with one token pulled', async () => {
    const kb = await open([a, b], { retrySeconds: 1 });
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
    const kek = randomBytes(32);
    const wrapped = wrapInNode(privateKey.export({ type: 'pkcs8', format: 'der' }), kek);
    await assert.rejects(kb.importWrapped('bad', 'ed25519', wrapped, randomBytes(32)), /does not unwrap under this key-encryption key/);
    await assert.rejects(kb.importWrapped('bad', 'ecdsa-p256', wrapped, kek), /the wrapped key is ed25519, not ecdsa-p256/);
    const s = await kb.importWrapped('ssh-user-ca-restored', 'ed25519', wrapped, kek);
    assert.deepEqual(Buffer.from(s.spki), Buffer.from(spki));
    const h0 = await kb.health();
    assert.ok(h0.ok && !h0.degraded, h0.detail);
    assert.match(h0.detail, /2 of 2 token\(s\) in use.*each in every token/);
    // Imported sensitive and not extractable (keys.pkcs11.extractable false).
    await assert.rejects(kb.exportWrapped(s.keyRef, kek), /not extractable/);
    const data = Buffer.from('ssh certificate');
    for (let i = 0; i < 4; i++) assert.ok(verifies(s, data, await s.sign(data)));
    assert.ok(kb.stats().every((t) => t.signatures >= 1), 'both tokens signed');

    for (const pulled of ['ed-a', 'ed-b']) {
      const putBack = hsm.removeToken(pulled);
      try {
        for (let i = 0; i < 4; i++) assert.ok(verifies(s, data, await s.sign(data)), `signing goes on without ${pulled}`);
        const h = await kb.health();
        assert.equal(h.degraded, true);
        assert.match(h.detail, new RegExp(`out of the pool: token "${pulled}"`));
      } finally {
        putBack();
      }
      for (let i = 0; i < 150 && (await kb.health()).degraded; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal((await kb.health()).degraded, undefined, `token ${pulled} back in the pool`);
    }
  });

  it('an extractable Ed25519 key generated in a pool stays in the token that made it, and health reports it', async () => {
    const kb = await open([a, b], { extractable: true });
    const s = await kb.generate('ssh-user-ca-pool', 'ed25519');
    const data = Buffer.from('x');
    assert.ok(verifies(s, data, await s.sign(data)));
    const h = await kb.health();
    assert.equal(h.degraded, true);
    assert.match(h.detail, new RegExp(`key ${s.keyRef.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} only in token "ed-a"`));
  });

  it('KeyPlacement: finds that the tokens cannot wrap Ed25519 (P-256 they can), and signs with a key from every token', async () => {
    const pool = await open([a, b], { extractable: true });
    assert.deepEqual(pool.places(), [{ name: 'token "ed-a"', up: true }, { name: 'token "ed-b"', up: true }]);
    assert.match((await pool.copyLimit('ed25519')) ?? '', /token "ed-a" cannot wrap ed25519 keys \(CKR_KEY_NOT_WRAPPABLE\); token "ed-b" cannot/);
    assert.equal(await pool.copyLimit('ecdsa-p256'), null);
    assert.match((await (await open([a], { extractable: false })).copyLimit('ecdsa-p256')) ?? '', /keys.pkcs11.extractable is off/);

    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
    const kek = randomBytes(32);
    const imported = await pool.importWrapped('placement', 'ed25519', wrapInNode(new Uint8Array(privateKey.export({ type: 'pkcs8', format: 'der' })), kek), kek);
    assert.equal(imported.keyRef, pool.keyRefForSpki(spki));
    const data = Buffer.from('one signature from each token');
    const sigs = await pool.signInEveryPlace(imported.keyRef, data);
    assert.deepEqual(sigs.map((x) => x.place), ['token "ed-a"', 'token "ed-b"']);
    for (const x of sigs) assert.ok(verifies(imported, data, x.signature));
  });
});
