/**
 * Work a dead node leaves half-done is finished by another node's sweeper:
 * a validation stuck in "processing" is run again, and an order stuck in
 * "processing" is issued again without a second certificate when the first
 * node had already stored one (the order id is the idempotency key). Runs
 * the real node services in-process on a real SQLite file.
 */
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { loadConfig } from '../src/config/load.js';
import { RampartNode } from '../src/main/node.js';
import { bootstrapNode } from '../src/main/first-run.js';
import { acmeUrls } from '../src/acme/urls.js';
import type { AcmeAccount } from '../src/storage/acme-records.js';
import { freePort } from './helpers/ports.js';
import { removeDir, tempDir } from './helpers/node-process.js';
import { mustOpenssl } from './helpers/openssl.js';

let node: RampartNode;
let dir: string;
let http01: Server;
const tokens = new Map<string, string>();
const req = { urls: acmeUrls('https://127.0.0.1:1'), ip: '127.0.0.1' };
const MIN = 60_000;

async function newAccount(): Promise<AcmeAccount> {
  const { publicKey } = await generateKeyPair('ES256');
  const jwk = await exportJWK(publicKey);
  return (await node.acme!.accounts.newAccount(jwk, await calculateJwkThumbprint(jwk), {}, req)).account;
}

function csrDer(name: string): Buffer {
  const out = join(dir, `${name}.der`);
  mustOpenssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, `${name}.key`), '-subj', '/', '-addext', `subjectAltName=DNS:${name}`, '-outform', 'DER', '-out', out]);
  return readFileSync(out);
}

before(async () => {
  dir = tempDir('rampart-acme-recovery-');
  const port = await freePort();
  http01 = createServer((r, res) => {
    const v = tokens.get((r.url ?? '').split('/').pop() ?? '');
    res.writeHead(v ? 200 : 404).end(v ?? 'no');
  });
  await new Promise<void>((r) => http01.listen(port, '127.0.0.1', r));
  const config = loadConfig({ overrides: { dataDir: dir, acme: { validation: { connectAddress: '127.0.0.1', httpPort: port, timeoutSeconds: 3 } } }, env: {} });
  node = await RampartNode.open({ config, createSecret: true, logger: pino({ level: 'silent' }), env: {} });
  await bootstrapNode(node);
});

after(async () => {
  await node?.close();
  http01?.close();
  if (dir) removeDir(dir);
});

describe('ACME recovery of work a dead node left', () => {
  it('re-runs a validation stuck in processing', async () => {
    const account = await newAccount();
    const order = await node.acme!.orders.newOrder(account, { identifiers: [{ type: 'dns', value: 'stuck.example.test' }] }, req);
    const authz = (await node.store.getAcmeAuthorization(order.authorizationIds[0]!))!;
    const ch = authz.challenges.find((c) => c.type === 'http-01')!;
    tokens.set(ch.token, `${ch.token}.${account.keyThumbprint}`);
    // The node that claimed the challenge died before recording a result.
    const dead = { ...authz, processingSince: new Date(Date.now() - 10 * MIN), challenges: authz.challenges.map((c) => (c.id === ch.id ? { ...c, status: 'processing' as const } : c)) };
    assert.equal(await node.store.updateAcmeAuthorization(dead, authz.version), true);
    assert.equal((await node.acme!.sweep()).validations, 1);
    const done = (await node.store.getAcmeAuthorization(authz.id))!;
    assert.equal(done.status, 'valid');
    assert.equal(done.processingSince, null);
    assert.equal((await node.acme!.orders.getOrder(account, order.id)).status, 'ready');
    assert.equal((await node.acme!.sweep()).validations, 0, 'nothing left to do');
  });

  it('finishes an order stuck in processing, without issuing twice', async () => {
    const account = await newAccount();
    const name = 'half-issued.example.test';
    const order = await node.acme!.orders.newOrder(account, { identifiers: [{ type: 'dns', value: name }] }, req);
    const authz = (await node.store.getAcmeAuthorization(order.authorizationIds[0]!))!;
    assert.equal(await node.store.updateAcmeAuthorization({ ...authz, status: 'valid', expires: new Date(Date.now() + 60 * MIN) }, authz.version), true);
    const ready = await node.acme!.orders.getOrder(account, order.id);
    assert.equal(ready.status, 'ready');
    const csr = csrDer(name);
    // The dead node claimed the order and stored the certificate, but died before marking the order valid.
    const first = await node.issuance.issue({ csr, profile: 'server', sans: { dns: [name], ip: [] }, idempotencyKey: `acme-order:${order.id}` }, { id: `acme:${account.id}`, role: 'acme', source: '127.0.0.1', channel: 'acme' });
    const claimed = { ...ready, status: 'processing' as const, csrDer: new Uint8Array(csr), processingSince: new Date(Date.now() - 10 * MIN) };
    assert.equal(await node.store.updateAcmeOrder(claimed, ready.version), true);
    const before = await node.store.countCertificates();
    assert.equal((await node.acme!.sweep()).orders, 1);
    const valid = await node.acme!.orders.getOrder(account, order.id);
    assert.equal(valid.status, 'valid');
    assert.equal(valid.certificateSerial, first.record.serial, 'the certificate the dead node stored');
    assert.deepEqual(await node.store.countCertificates(), before, 'no second certificate');
  });

  it('finishes an order whose node died before issuing', async () => {
    const account = await newAccount();
    const name = 'never-issued.example.test';
    const order = await node.acme!.orders.newOrder(account, { identifiers: [{ type: 'dns', value: name }] }, req);
    const authz = (await node.store.getAcmeAuthorization(order.authorizationIds[0]!))!;
    await node.store.updateAcmeAuthorization({ ...authz, status: 'valid', expires: new Date(Date.now() + 60 * MIN) }, authz.version);
    const ready = await node.acme!.orders.getOrder(account, order.id);
    await node.store.updateAcmeOrder({ ...ready, status: 'processing', csrDer: new Uint8Array(csrDer(name)), processingSince: new Date(Date.now() - 10 * MIN) }, ready.version);
    const before = await node.store.countCertificates();
    assert.equal((await node.acme!.sweep()).orders, 1);
    const valid = await node.acme!.orders.getOrder(account, order.id);
    assert.equal(valid.status, 'valid');
    assert.equal((await node.store.countCertificates()).total, before.total + 1);
    const rec = (await node.store.getCertificate(valid.certificateSerial!))!;
    assert.deepEqual(rec.sans, [name]);
  });
});
