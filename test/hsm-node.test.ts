/**
 * A real node with keys.backend pkcs11 on SoftHSM2: it creates its hierarchy
 * in the token (root P-384, issuing CA RSA-2048, OCSP signer P-256), issues
 * over the REST API, and what it signs passes openssl: the chain (verify),
 * an OCSP answer (ocsp) and the CRL (crl -CAfile).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyRefFor, Pkcs11KeyBackend } from '../src/keys/pkcs11/pkcs11-backend.js';
import { keyIdFor } from '../src/keys/pkcs11/public-key.js';
import { call } from './helpers/api-client.js';
import { makeCsr, mustOpenssl, openssl } from './helpers/openssl.js';
import { startTestNode, type TestNode } from './helpers/running-node.js';
import { createSoftHsm, TEST_PIN, type SoftHsm, type SoftHsmToken } from './helpers/softhsm.js';

describe('a node whose CA keys live in a PKCS#11 token (SoftHSM2)', () => {
  let hsm: SoftHsm;
  let token: SoftHsmToken;
  let node: TestNode;
  let dir: string;
  let ca = '';
  let intId = '';
  const files = (n: string): string => join(dir, n);
  const issuers: Array<{ id: string; kind: string; active: boolean; certificatePem: string; parentId: string | null }> = [];

  before(async () => {
    hsm = createSoftHsm();
    token = hsm.initToken('rampart-ca');
    node = await startTestNode({
      prefix: 'rampart-hsm-node-', pkcs11: { hsm, tokens: [token] },
      env: { RAMPART_HIERARCHY__INTERMEDIATE__ALGORITHM: 'rsa-2048' },
    });
    ({ dir, ca } = node);
    assert.ok(node.adminToken);
    const r = await call(`${node.httpsUrl}/api/v1/issuers`, { token: node.adminToken!, ca });
    assert.equal(r.status, 200);
    issuers.push(...r.body.items);
    const root = issuers.find((i) => i.kind === 'root')!;
    const int = issuers.find((i) => i.kind === 'intermediate' && i.active)!;
    intId = int.id;
    writeFileSync(files('root.pem'), root.certificatePem);
    writeFileSync(files('int.pem'), int.certificatePem);
  });

  after(async () => {
    await node?.close();
    hsm?.cleanup();
  });

  async function issue(name: string): Promise<{ serial: string; leaf: string }> {
    const { csrPath } = makeCsr(dir, name, { subj: `/CN=${name}`, san: `DNS:${name}` });
    const r = await call(`${node.httpsUrl}/api/v1/certificates`, { token: node.adminToken!, ca, json: { csr: readFileSync(csrPath, 'utf8'), profile: 'server' } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const leaf = files(`${name}.pem`);
    writeFileSync(leaf, r.body.certificatePem);
    return { serial: r.body.serial, leaf };
  }

  it('keeps the CA and OCSP signer keys in the token, none on disk', async () => {
    const status = await call(`${node.httpsUrl}/api/v1/status`, { ca });
    assert.equal(status.body.keyBackend, 'pkcs11');
    const ready = await call(`${node.httpUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.checks.keyBackend.status, 'pass', ready.body.checks.keyBackend.detail);
    assert.match(ready.body.checks.keyBackend.detail, /^pkcs11: 1 of 1 token\(s\) in use \(token "rampart-ca"\); \d+ key\(s\) loaded/);
    assert.equal(existsSync(join(node.dataDir, 'keys')), false, 'no software key directory');
    // Another process opens the same token and finds each issuer's key under the id derived from its public key.
    hsm.useInProcess();
    const kb = await Pkcs11KeyBackend.open({ module: hsm.module, tokens: [{ uri: token.uri, pin: TEST_PIN }], sessionsPerToken: 1, extractable: false, retrySeconds: 5 });
    try {
      const kinds = new Set<string>();
      const refs: string[] = [];
      for (const i of issuers) {
        const spki = new Uint8Array(new X509Certificate(i.certificatePem).publicKey.export({ type: 'spki', format: 'der' }));
        refs.push(keyRefFor(keyIdFor(spki)));
        const s = await kb.open(refs[refs.length - 1]!);
        assert.deepEqual(Buffer.from(s.spki), Buffer.from(spki));
        kinds.add(`${i.kind}:${s.algorithm}`);
      }
      assert.deepEqual([...kinds].sort(), ['intermediate:rsa-2048', 'ocsp-signer:ecdsa-p256', 'root:ecdsa-p384']);
      // Generated non-extractable (keys.pkcs11.extractable defaults to false): they cannot leave the token.
      for (const ref of refs) await assert.rejects(kb.exportWrapped(ref, Buffer.alloc(32)), /not extractable/);
    } finally {
      kb.close();
    }
  });

  it('issues certificates whose chain, OCSP answers and CRL openssl verifies', async () => {
    const { leaf } = await issue('hsm.example.test');
    assert.match(mustOpenssl(['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', files('root.pem'), '-untrusted', files('int.pem'), leaf]), /: OK/);
    assert.match(mustOpenssl(['verify', '-x509_strict', '-CAfile', files('root.pem'), files('int.pem')]), /: OK/);
    assert.match(mustOpenssl(['x509', '-in', files('int.pem'), '-noout', '-text']), /Public-Key: \(2048 bit\)/);
    assert.match(mustOpenssl(['x509', '-in', leaf, '-noout', '-text']), /Signature Algorithm: sha256WithRSAEncryption/);

    // OCSP, signed by the delegated responder whose key is in the token: with a nonce (fresh signature) and without (pre-signed).
    for (const extra of [[], ['-no_nonce']]) {
      const out = mustOpenssl(['ocsp', '-issuer', files('int.pem'), '-CAfile', files('root.pem'), '-url', `${node.httpUrl}/ocsp`, '-cert', leaf, ...extra]);
      assert.match(out, /Response verify OK/);
      assert.match(out, /: good/);
    }

    // Revoke another one; the CRL published at once is signed by the issuing CA key in the token.
    const gone = await issue('gone.hsm.example.test');
    const rv = await call(`${node.httpsUrl}/api/v1/certificates/${gone.serial}/revoke`, { token: node.adminToken!, ca, json: { reason: 'keyCompromise' } });
    assert.equal(rv.status, 200, JSON.stringify(rv.body));
    let text = '';
    for (let i = 0; i < 50 && !text.toLowerCase().includes(gone.serial.toLowerCase()); i++) {
      if (i) await new Promise((r) => setTimeout(r, 100));
      const crl = await call(`${node.httpUrl}/crl/${intId}.crl`);
      assert.equal(crl.status, 200);
      writeFileSync(files('crl.der'), crl.raw);
      text = mustOpenssl(['crl', '-inform', 'DER', '-in', files('crl.der'), '-noout', '-text']);
    }
    assert.ok(text.toLowerCase().includes(gone.serial.toLowerCase()), 'the revoked serial is on the CRL');
    assert.match(mustOpenssl(['crl', '-inform', 'DER', '-in', files('crl.der'), '-CAfile', files('int.pem'), '-noout']), /verify OK/);
    mustOpenssl(['crl', '-inform', 'DER', '-in', files('crl.der'), '-out', files('crl.pem')]);
    const bad = openssl(['verify', '-crl_check', '-CAfile', files('root.pem'), '-untrusted', files('int.pem'), '-CRLfile', files('crl.pem'), gone.leaf]);
    assert.match(bad.out, /certificate revoked/);
    const revoked = mustOpenssl(['ocsp', '-issuer', files('int.pem'), '-CAfile', files('root.pem'), '-url', `${node.httpUrl}/ocsp`, '-cert', gone.leaf]);
    assert.match(revoked, /Response verify OK/);
    assert.match(revoked, /: revoked/);
  });
});
