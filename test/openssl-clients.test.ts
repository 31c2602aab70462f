/**
 * End to end with real clients nobody here wrote: a real node process,
 * `openssl req` for CSRs, `openssl verify -x509_strict` for chains,
 * `openssl ocsp` for good / revoked / unknown, `openssl verify -crl_check`
 * with the downloaded CRL.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call } from './helpers/api-client.js';
import { makeCsr, mustOpenssl, openssl } from './helpers/openssl.js';
import { startTestNode, type TestNode } from './helpers/running-node.js';

describe('real openssl clients against a running node', () => {
  let node: TestNode;
  let dir: string;
  let ca = '';
  let intId = '';
  const files = (n: string) => join(dir, n);

  before(async () => {
    node = await startTestNode({ prefix: 'rampart-openssl-' });
    dir = node.dir;
    assert.ok(node.adminToken, 'first run prints a one-time admin token');
    // node.ca: the bundle served over plain HTTP; the first certificate in it is the root.
    const issuers = await call(`${node.httpsUrl}/api/v1/issuers`, { token: node.adminToken!, ca: node.ca });
    assert.equal(issuers.status, 200);
    const items = issuers.body.items as Array<{ id: string; kind: string; active: boolean; certificatePem: string; parentId: string | null }>;
    const root = items.find((i) => i.kind === 'root')!;
    const int = items.find((i) => i.kind === 'intermediate' && i.active)!;
    intId = int.id;
    ca = root.certificatePem;
    writeFileSync(files('root.pem'), root.certificatePem);
    writeFileSync(files('int.pem'), int.certificatePem);
    const ocspSigner = items.find((i) => i.kind === 'ocsp-signer' && i.parentId === int.id)!;
    writeFileSync(files('ocsp-signer.pem'), ocspSigner.certificatePem);
  });

  after(async () => {
    await node?.close();
  });

  async function issue(name: string, san: string): Promise<{ serial: string; leaf: string }> {
    const { csrPath } = makeCsr(dir, name, { subj: `/CN=${name}`, san });
    const r = await call(`${node.httpsUrl}/api/v1/certificates`, { token: node.adminToken!, ca, json: { csr: readFileSync(csrPath, 'utf8'), profile: 'server' } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const leaf = files(`${name}.pem`);
    writeFileSync(leaf, r.body.certificatePem);
    return { serial: r.body.serial, leaf };
  }

  function ocsp(args: string[]): string {
    return mustOpenssl(['ocsp', '-issuer', files('int.pem'), '-CAfile', files('root.pem'), '-url', `${node.httpUrl}/ocsp`, ...args]);
  }

  it('openssl verify -x509_strict accepts every chain the CA produced', async () => {
    const { leaf } = await issue('app.example.test', 'DNS:app.example.test,DNS:www.app.example.test');
    for (const cert of [leaf, files('ocsp-signer.pem')]) {
      const out = mustOpenssl(['verify', '-x509_strict', '-purpose', cert === leaf ? 'sslserver' : 'any', '-CAfile', files('root.pem'), '-untrusted', files('int.pem'), cert]);
      assert.match(out, /: OK/);
    }
    assert.match(mustOpenssl(['verify', '-x509_strict', '-CAfile', files('root.pem'), files('int.pem')]), /: OK/);
    // The node's own HTTPS certificate chains too.
    const tls = mustOpenssl(['s_client', '-connect', node.httpsUrl.replace('https://', ''), '-CAfile', files('root.pem'), '-verify_return_error', '-x509_strict'], 'Q\n');
    assert.match(tls, /Verify return code: 0 \(ok\)/);
    const text = mustOpenssl(['x509', '-in', leaf, '-noout', '-text']);
    for (const needle of ['Authority Information Access', 'OCSP - URI:', 'CA Issuers - URI:', 'CRL Distribution Points', 'Subject Key Identifier', 'Authority Key Identifier', 'CA:FALSE', 'TLS Web Server Authentication', 'DNS:app.example.test']) {
      assert.ok(text.includes(needle), `certificate has ${needle}`);
    }
  });

  it('openssl ocsp: good, then revoked right after revocation, unknown for a made-up serial', async () => {
    const { serial, leaf } = await issue('ocsp.example.test', 'DNS:ocsp.example.test');
    const good = ocsp(['-cert', leaf]);
    assert.match(good, /Response verify OK/);
    assert.match(good, /: good/);
    const cached = ocsp(['-cert', leaf, '-no_nonce']);
    assert.match(cached, /: good/);

    const rv = await call(`${node.httpsUrl}/api/v1/certificates/${serial}/revoke`, { token: node.adminToken!, ca, json: { reason: 'keyCompromise' } });
    assert.equal(rv.status, 200, JSON.stringify(rv.body));
    assert.equal(rv.body.status, 'revoked');
    for (const extra of [[], ['-no_nonce']]) {
      const revoked = ocsp(['-cert', leaf, ...extra]);
      assert.match(revoked, /Response verify OK/);
      assert.match(revoked, /: revoked/);
      assert.match(revoked, /Reason: keyCompromise/);
    }
    const unknown = ocsp(['-serial', '0x3b9aca07deadbeefcafe0123456789ab']);
    assert.match(unknown, /Response verify OK/);
    assert.match(unknown, /: unknown/);
  });

  it('openssl verify -crl_check rejects the revoked certificate with the downloaded CRL', async () => {
    const keep = await issue('keep.example.test', 'DNS:keep.example.test');
    const gone = await issue('gone.example.test', 'DNS:gone.example.test');
    const rv = await call(`${node.httpsUrl}/api/v1/certificates/${gone.serial}/revoke`, { token: node.adminToken!, ca, json: { reason: 'superseded' } });
    assert.equal(rv.status, 200);
    // The revocation triggers a new CRL at once; poll the published URL briefly.
    let crlText = '';
    for (let i = 0; i < 50; i++) {
      const crl = await call(`${node.httpUrl}/crl/${intId}.crl`);
      assert.equal(crl.status, 200);
      writeFileSync(files('crl.der'), crl.raw);
      crlText = mustOpenssl(['crl', '-inform', 'DER', '-in', files('crl.der'), '-noout', '-text']);
      if (crlText.toLowerCase().includes(gone.serial.toUpperCase().toLowerCase())) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    mustOpenssl(['crl', '-inform', 'DER', '-in', files('crl.der'), '-out', files('crl.pem')]);
    assert.match(mustOpenssl(['crl', '-in', files('crl.pem'), '-CAfile', files('int.pem'), '-noout']), /verify OK/);
    const bad = openssl(['verify', '-x509_strict', '-crl_check', '-CAfile', files('root.pem'), '-untrusted', files('int.pem'), '-CRLfile', files('crl.pem'), gone.leaf]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.out, /certificate revoked/);
    const ok = openssl(['verify', '-x509_strict', '-crl_check', '-CAfile', files('root.pem'), '-untrusted', files('int.pem'), '-CRLfile', files('crl.pem'), keep.leaf]);
    assert.equal(ok.code, 0, ok.out);
  });
});
