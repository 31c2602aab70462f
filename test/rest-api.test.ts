/**
 * The REST API as a client sees it: idempotent issuance, inventory filters and
 * pagination, certificate formats, the OpenAPI document, metrics and health.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { call } from './helpers/api-client.js';
import { makeCsr, mustOpenssl } from './helpers/openssl.js';
import { startTestNode, type TestNode } from './helpers/running-node.js';

describe('REST API', () => {
  let node: TestNode;
  let dir: string;
  let ca: string;
  let token: string;
  const post = (json: unknown, headers: Record<string, string> = {}) => call(`${node.httpsUrl}/api/v1/certificates`, { token, ca, json, headers });

  before(async () => {
    node = await startTestNode({ prefix: 'rampart-rest-' });
    ({ dir, ca } = node);
    token = node.adminToken!;
  });
  after(async () => {
    await node?.close();
  });

  it('an Idempotency-Key makes a retried issuance return the first certificate', async () => {
    const csr = readFileSync(makeCsr(dir, 'idem', { subj: '/CN=idem.example.test', san: 'DNS:idem.example.test' }).csrPath, 'utf8');
    const before = (await call(`${node.httpsUrl}/api/v1/certificates?limit=1`, { token, ca })).body.total;
    const first = await post({ csr, profile: 'server' }, { 'idempotency-key': 'order-42' });
    assert.equal(first.status, 201);
    const retry = await post({ csr, profile: 'server' }, { 'idempotency-key': 'order-42' });
    assert.equal(retry.status, 200);
    assert.equal(retry.headers['idempotent-replayed'], 'true');
    assert.equal(retry.body.serial, first.body.serial);
    const other = await post({ csr, profile: 'server', validityDays: 10 }, { 'idempotency-key': 'order-42' });
    assert.equal(other.status, 422);
    const after = (await call(`${node.httpsUrl}/api/v1/certificates?limit=1`, { token, ca })).body.total;
    assert.equal(after, before + 1, 'exactly one certificate issued');
    const without = await post({ csr, profile: 'server' });
    assert.equal(without.status, 201);
    assert.notEqual(without.body.serial, first.body.serial);
  });

  it('lists with filters and pagination, and serves one certificate as JSON, PEM and DER', async () => {
    const serials: string[] = [];
    for (let i = 0; i < 7; i++) {
      const csr = readFileSync(makeCsr(dir, `inv${i}`, { subj: `/CN=inv${i}.inventory.test`, san: `DNS:inv${i}.inventory.test` }).csrPath, 'utf8');
      const r = await post({ csr, profile: 'server', validityDays: i < 3 ? 5 : 60 });
      assert.equal(r.status, 201);
      serials.push(r.body.serial);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let guard = 0; guard < 10; guard++) {
      const q: string = `name=inventory.test&limit=3${cursor ? `&cursor=${cursor}` : ''}`;
      const r = await call(`${node.httpsUrl}/api/v1/certificates?${q}`, { token, ca });
      assert.equal(r.status, 200);
      assert.equal(r.body.total, 7);
      seen.push(...r.body.items.map((c: { serial: string }) => c.serial));
      cursor = r.body.nextCursor;
      if (!cursor) break;
    }
    assert.deepEqual(seen, serials);
    const expiring = await call(`${node.httpsUrl}/api/v1/certificates?name=inventory.test&expiringWithinDays=7`, { token, ca });
    assert.equal(expiring.body.total, 3);
    await call(`${node.httpsUrl}/api/v1/certificates/${serials[0]}/revoke`, { token, ca, json: { reason: 4 } });
    const revoked = await call(`${node.httpsUrl}/api/v1/certificates?name=inventory.test&status=revoked`, { token, ca });
    assert.equal(revoked.body.total, 1);
    assert.equal(revoked.body.items[0].revocationReason, 'superseded');
    const badQuery = await call(`${node.httpsUrl}/api/v1/certificates?status=maybe`, { token, ca });
    assert.equal(badQuery.status, 400);

    const pem = await call(`${node.httpsUrl}/api/v1/certificates/${serials[1]}?format=pem`, { token, ca });
    assert.equal(pem.status, 200);
    assert.equal((String(pem.body).match(/BEGIN CERTIFICATE/g) ?? []).length, 2);
    const der = await call(`${node.httpsUrl}/api/v1/certificates/${serials[1]}?format=der`, { token, ca });
    assert.equal(der.headers['content-type'], 'application/pkix-cert');
    const text = mustOpenssl(['x509', '-inform', 'DER', '-noout', '-serial'], der.raw);
    assert.equal(text.trim().toLowerCase(), `serial=${serials[1]}`);
    const upper = await call(`${node.httpsUrl}/api/v1/certificates/${serials[1]!.toUpperCase().replace(/(..)(?=.)/g, '$1:')}`, { token, ca });
    assert.equal(upper.status, 200, 'colon-separated upper-case serials are accepted');
  });

  it('serves an OpenAPI document, Prometheus metrics and health with per-check details', async () => {
    const doc = await call(`${node.httpsUrl}/openapi.json`, { ca });
    assert.equal(doc.status, 200);
    assert.match(doc.body.openapi, /^3\./);
    for (const p of ['/api/v1/certificates', '/api/v1/certificates/{serial}', '/api/v1/certificates/{serial}/revoke', '/api/v1/tokens']) {
      assert.ok(doc.body.paths[p], `OpenAPI documents ${p}`);
    }
    const metrics = await call(`${node.httpUrl}/metrics`);
    assert.equal(metrics.status, 200);
    const m = String(metrics.raw);
    assert.match(m, /rampart_certificates_issued_total\{profile="server"\} \d+/);
    assert.match(m, /rampart_ca_certificate_expiry_timestamp_seconds/);
    assert.match(m, /rampart_crl_number/);
    const ready = await call(`${node.httpUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.status, 'healthy');
    assert.deepEqual(Object.keys(ready.body.checks).sort(), ['auditChain', 'auditLog', 'backup', 'caExpiry', 'clockSkew', 'database', 'diskSpace', 'drills', 'integrity', 'keyBackend']);
    const live = await call(`${node.httpUrl}/healthz`);
    assert.equal(live.status, 200);
    const status = await call(`${node.httpsUrl}/api/v1/status`, { ca });
    assert.ok(status.body.urls.ocsp && status.body.urls.api && status.body.rootFingerprintSha256);
  });
});
