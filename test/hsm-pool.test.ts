/**
 * An HSM pool of two SoftHSM2 tokens behind a real node: keys generated
 * extractable are copied into both tokens; with one token pulled (its token
 * directory moved away under the running node) issuance goes on with the
 * other and /readyz says degraded, naming the token and the error; when the
 * token comes back the node takes it back by itself. With both pulled the
 * node is unhealthy, and recovers when they return.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call } from './helpers/api-client.js';
import { makeCsr, mustOpenssl } from './helpers/openssl.js';
import { startTestNode, type TestNode } from './helpers/running-node.js';
import { createSoftHsm, type SoftHsm } from './helpers/softhsm.js';

interface Ready { status: number; health: string; key: { status: string; detail: string } }

describe('an HSM pool of two tokens behind a running node', () => {
  let hsm: SoftHsm;
  let node: TestNode;
  let dir: string;
  let ca = '';
  let csr = '';
  const files = (n: string): string => join(dir, n);

  const ready = async (): Promise<Ready> => {
    const r = await call(`${node.httpUrl}/readyz`);
    return { status: r.status, health: r.body.status, key: r.body.checks.keyBackend };
  };
  const waitReady = async (what: string, cond: (r: Ready) => boolean, ms = 20_000): Promise<Ready> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const r = await ready();
      if (cond(r)) return r;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last /readyz: ${JSON.stringify(r)}`);
      await new Promise((res) => setTimeout(res, 200));
    }
  };
  const issue = async (n: number): Promise<string[]> => {
    const pems: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = await call(`${node.httpsUrl}/api/v1/certificates`, { token: node.adminToken!, ca, json: { csr, profile: 'server' } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      pems.push(r.body.certificatePem);
    }
    return pems;
  };
  const verifyAll = (pems: string[]): void => {
    for (const [i, pem] of pems.entries()) {
      writeFileSync(files(`leaf${i}.pem`), pem);
      assert.match(mustOpenssl(['verify', '-CAfile', files('root.pem'), '-untrusted', files('int.pem'), files(`leaf${i}.pem`)]), /: OK/);
    }
  };

  before(async () => {
    hsm = createSoftHsm();
    const a = hsm.initToken('pool-a');
    const b = hsm.initToken('pool-b');
    node = await startTestNode({
      prefix: 'rampart-hsm-pool-', pkcs11: { hsm, tokens: [a, b] },
      env: { RAMPART_KEYS__PKCS11__EXTRACTABLE: 'true', RAMPART_KEYS__PKCS11__RETRY_SECONDS: '1', RAMPART_KEYS__PKCS11__SESSIONS_PER_TOKEN: '2' },
    });
    ({ dir, ca } = node);
    const items = (await call(`${node.httpsUrl}/api/v1/issuers`, { token: node.adminToken!, ca })).body.items as Array<{ kind: string; active: boolean; certificatePem: string }>;
    writeFileSync(files('root.pem'), items.find((i) => i.kind === 'root')!.certificatePem);
    writeFileSync(files('int.pem'), items.find((i) => i.kind === 'intermediate' && i.active)!.certificatePem);
    csr = readFileSync(makeCsr(dir, 'pool', { subj: '/CN=pool.example.test', san: 'DNS:pool.example.test' }).csrPath, 'utf8');
  });

  after(async () => {
    await node?.close();
    hsm?.cleanup();
  });

  it('starts with every key in both tokens', async () => {
    const r = await ready();
    assert.equal(r.status, 200);
    assert.equal(r.health, 'healthy');
    assert.equal(r.key.status, 'pass');
    assert.match(r.key.detail, /2 of 2 token\(s\) in use \(token "pool-a", token "pool-b"\); [3-9] key\(s\) loaded, each in every token/);
    verifyAll(await issue(4));
  });

  it('keeps issuing while token A is pulled, reports degraded with the reason, and takes A back when it returns', async () => {
    const putBack = hsm.removeToken('pool-a');
    let degraded: Ready;
    try {
      verifyAll(await issue(6));
      degraded = await waitReady('keyBackend warn', (r) => r.key.status === 'warn');
      assert.equal(degraded.status, 200);
      assert.equal(degraded.health, 'degraded');
      assert.match(degraded.key.detail, /1 of 2 token\(s\) in use \(token "pool-b"\); out of the pool: token "pool-a": CKR_[A-Z_]+/);
      verifyAll(await issue(2));
    } finally {
      putBack();
    }
    const t0 = Date.now();
    const healthy = await waitReady('token A back', (r) => r.key.status === 'pass');
    assert.equal(healthy.health, 'healthy');
    assert.match(healthy.key.detail, /2 of 2 token\(s\) in use/);
    assert.ok(Date.now() - t0 < 15_000);

    // A really signs again: pull B now.
    const putBackB = hsm.removeToken('pool-b');
    try {
      verifyAll(await issue(3));
      const r = await waitReady('keyBackend warn for B', (x) => x.key.status === 'warn');
      assert.match(r.key.detail, /\(token "pool-a"\); out of the pool: token "pool-b"/);
    } finally {
      putBackB();
    }
    await waitReady('token B back', (r) => r.key.status === 'pass');
  });

  it('is unhealthy with both tokens pulled, saying why, and recovers when they return', async () => {
    const a = hsm.removeToken('pool-a');
    const b = hsm.removeToken('pool-b');
    try {
      const r = await waitReady('keyBackend fail', (x) => x.key.status === 'fail');
      assert.equal(r.status, 503);
      assert.equal(r.health, 'unhealthy');
      assert.match(r.key.detail, /no PKCS#11 token usable: token "pool-a": .*; token "pool-b": /);
      const refused = await call(`${node.httpsUrl}/api/v1/certificates`, { token: node.adminToken!, ca, json: { csr, profile: 'server' } });
      assert.ok(refused.status >= 500, `issuance without any token fails (${refused.status})`);
    } finally {
      a();
      b();
    }
    await waitReady('both tokens back', (r) => r.key.status === 'pass');
    verifyAll(await issue(2));
  });
});
