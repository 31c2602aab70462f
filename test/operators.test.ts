/**
 * Operators on a real node: provisioned and deprovisioned through the API
 * and the CLI; an operator's tokens carry its role; rotation gives a new
 * token while the old one works for the grace period only; deprovisioning
 * stops every token of the operator at once (the running node sees a CLI
 * deprovisioning on the very next request); every step audited.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { readFileSync, statSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { execFileSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { newCsr } from '../src/dr/lifecycle-check.js';
import { call } from './helpers/api-client.js';
import { RAMPART_BIN } from './helpers/node-process.js';
import { startTestNode, type TestNode } from './helpers/running-node.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A client certificate from no CA of ours (openssl, self-signed, clientAuth). */
function selfSigned(): { cert: string; key: string } {
  const dir = join(process.env.TMPDIR ?? '/tmp', `rampart-selfsigned-${process.pid}`);
  execFileSync('mkdir', ['-p', dir]);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${dir}/k.pem`, '-out', `${dir}/c.pem`,
    '-days', '1', '-subj', '/CN=operator:carol', '-addext', 'extendedKeyUsage=clientAuth'], { stdio: 'ignore' });
  const r = { cert: readFileSync(`${dir}/c.pem`, 'utf8'), key: readFileSync(`${dir}/k.pem`, 'utf8') };
  execFileSync('rm', ['-rf', dir]);
  return r;
}

describe('operators: roles, rotation, deprovisioning', { timeout: 180_000 }, () => {
  let node: TestNode;
  let ca: string;
  const admin = () => ({ token: node.adminToken!, ca });
  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', node.dataDir, '--json', ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, RAMPART_LOG__LEVEL: 'warn' } });
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  const issue = async (token: string) => (await call(`${node.httpsUrl}/api/v1/certificates`, { token, ca, json: { csr: await newCsr('op.example.test'), profile: 'server' } })).status;
  const audit = (action: string): number => {
    const db = new Database(join(node.dataDir, 'rampart.db'), { readonly: true });
    try {
      return (db.prepare('SELECT count(*) AS n FROM audit_log WHERE action = ?').get(action) as { n: number }).n;
    } finally {
      db.close();
    }
  };

  before(async () => {
    node = await startTestNode({ prefix: 'rampart-operators-' });
    ca = node.ca;
  });
  after(async () => {
    await node?.close();
  });

  it('API: an operator token carries the role; rotation with a grace period; deprovisioning stops every token at once', async () => {
    const made = await call(`${node.httpsUrl}/api/v1/operators`, { ...admin(), json: { name: 'alice', role: 'operator' } });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.equal((await call(`${node.httpsUrl}/api/v1/operators`, { ...admin(), json: { name: 'alice', role: 'admin' } })).status, 409);
    assert.equal((await call(`${node.httpsUrl}/api/v1/operators`, { ...admin(), json: { name: 'bad name!', role: 'admin' } })).status, 400);
    const t1 = await call(`${node.httpsUrl}/api/v1/operators/alice/tokens`, { ...admin(), json: { expiresInDays: 30 } });
    assert.equal(t1.status, 201);
    assert.equal(t1.body.role, 'operator');
    assert.ok(Math.abs(new Date(t1.body.expiresAt).getTime() - Date.now() - 30 * 86_400_000) < 60_000);
    const alice1 = t1.body.token as string;
    assert.equal(await issue(alice1), 201, 'the operator role may issue');
    assert.equal((await call(`${node.httpsUrl}/api/v1/operators`, { token: alice1, ca, json: { name: 'mallory', role: 'admin' } })).status, 403, 'but not provision operators');

    const rot = await call(`${node.httpsUrl}/api/v1/tokens/${t1.body.id}/rotate`, { ...admin(), json: { graceSeconds: 2 } });
    assert.equal(rot.status, 201, JSON.stringify(rot.body));
    const alice2 = rot.body.token as string;
    assert.ok(Math.abs(new Date(rot.body.expiresAt).getTime() - Date.now() - 30 * 86_400_000) < 60_000, 'same lifetime');
    assert.equal(await issue(alice2), 201, 'the new token works');
    assert.equal(await issue(alice1), 201, 'the old one too, within the grace period');
    await sleep(2500);
    assert.equal(await issue(alice1), 401, 'and not after it');
    assert.equal(await issue(alice2), 201);
    assert.equal((await call(`${node.httpsUrl}/api/v1/tokens/${t1.body.id}/rotate`, { ...admin(), json: {} })).status, 404, 'a revoked token cannot be rotated');

    const t3 = await call(`${node.httpsUrl}/api/v1/operators/alice/tokens`, { ...admin(), json: {} });
    const alice3 = t3.body.token as string;
    const gone = await call(`${node.httpsUrl}/api/v1/operators/alice`, { ...admin(), method: 'DELETE' });
    assert.equal(gone.status, 200, JSON.stringify(gone.body));
    assert.equal(gone.body.revokedTokens, 2);
    assert.equal(await issue(alice2), 401, 'deprovisioned: every token stops at once');
    assert.equal(await issue(alice3), 401);
    assert.equal((await call(`${node.httpsUrl}/api/v1/operators/alice/tokens`, { ...admin(), json: {} })).status, 409, 'no new tokens for a deprovisioned operator');
    assert.equal((await call(`${node.httpsUrl}/api/v1/operators/alice`, { ...admin(), method: 'DELETE' })).status, 409);
    const list = (await call(`${node.httpsUrl}/api/v1/operators`, admin())).body.operators as Array<{ name: string; disabledAt: string | null }>;
    assert.ok(list.find((o) => o.name === 'alice')?.disabledAt);
    assert.equal(audit('operator.create'), 1);
    assert.equal(audit('token.rotate'), 1);
    assert.equal(audit('operator.deprovision'), 1);
  });

  it('CLI: provisioning and deprovisioning reach the running node on its next request', async () => {
    cli('operator', 'add', 'bob', '--role', 'auditor');
    const t = cli('operator', 'token', 'bob', '--days', '1');
    assert.equal(t.role, 'auditor');
    assert.equal((await call(`${node.httpsUrl}/api/v1/audit/verify`, { token: t.token, ca })).status, 200);
    assert.equal(await issue(t.token), 403, 'auditors do not issue');
    const rotated = cli('token', 'rotate', t.id);
    assert.equal(await issue(rotated.token), 403);
    assert.equal((await call(`${node.httpsUrl}/api/v1/audit/verify`, { token: t.token, ca })).status, 401, 'no grace: the old token stopped');
    assert.deepEqual(cli('operator', 'list').operators.map((o: { name: string }) => o.name), ['alice', 'bob']);
    const r = cli('operator', 'remove', 'bob');
    assert.equal(r.revokedTokens, 1);
    assert.equal((await call(`${node.httpsUrl}/api/v1/audit/verify`, { token: rotated.token, ca })).status, 401);
  });

  it('mutual TLS: a short-lived client certificate logs the operator in with its role; revoking it or removing the operator stops it', async () => {
    cli('operator', 'add', 'carol', '--role', 'operator');
    const prefix = join(node.dataDir, 'carol-client');
    const c = cli('operator', 'cert', 'carol', '--hours', '2', '--out', prefix);
    assert.ok(Math.abs(new Date(c.notAfter).getTime() - Date.now() - 2 * 3_600_000) < 120_000);
    assert.equal(statSync(`${prefix}.key`).mode & 0o777, 0o600);
    const cert = readFileSync(`${prefix}.pem`, 'utf8');
    const key = readFileSync(`${prefix}.key`, 'utf8');
    const mtls = (path: string, json?: unknown, creds = { cert, key }) => new Promise<{ status: number; body: any }>((resolve, reject) => {
      const payload = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
      const req = httpsRequest(`${node.httpsUrl}${path}`, {
        method: payload ? 'POST' : 'GET', ca, ...creds, agent: false,
        headers: payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {},
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => { const t = Buffer.concat(chunks).toString(); resolve({ status: res.statusCode ?? 0, body: t ? JSON.parse(t) : null }); });
      });
      req.on('error', reject);
      req.end(payload);
    });
    const issued = await mtls('/api/v1/certificates', { csr: await newCsr('mtls.example.test'), profile: 'server' });
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    assert.equal((await mtls('/api/v1/operators', { name: 'eve', role: 'admin' })).status, 403, 'the operator role applies');
    assert.equal((await mtls('/api/v1/certificates')).status, 200);
    // A client certificate from another CA is refused (the handshake does not verify it).
    const self = selfSigned();
    assert.equal((await mtls('/api/v1/certificates', undefined, self)).status, 401);
    // Revoked: refused at the next request.
    assert.equal((await call(`${node.httpsUrl}/api/v1/certificates/${c.serial}/revoke`, { ...admin(), json: { reason: 'superseded' } })).status, 200);
    const revoked = await mtls('/api/v1/certificates');
    assert.equal(revoked.status, 401);
    assert.match(revoked.body.detail, /revoked/);
    // A fresh certificate works until the operator is removed.
    const c2 = cli('operator', 'cert', 'carol', '--out', `${prefix}2`);
    const creds2 = { cert: readFileSync(`${prefix}2.pem`, 'utf8'), key: readFileSync(`${prefix}2.key`, 'utf8') };
    assert.equal((await mtls('/api/v1/certificates', undefined, creds2)).status, 200, c2.serial);
    cli('operator', 'remove', 'carol');
    assert.equal((await mtls('/api/v1/certificates', undefined, creds2)).status, 401);
    assert.ok(audit('operator.client-cert') >= 2);
    assert.ok(audit('auth.client-cert') >= 3, 'refused client certificates are audited');
  });
});
