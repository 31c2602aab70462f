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
import Database from 'better-sqlite3';
import { newCsr } from '../src/dr/lifecycle-check.js';
import { call } from './helpers/api-client.js';
import { RAMPART_BIN, removeDir, startNode, type NodeProcess } from './helpers/node-process.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('operators: roles, rotation, deprovisioning', { timeout: 180_000 }, () => {
  let node: NodeProcess;
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
    node = await startNode();
    ca = String((await call(`${node.httpUrl}/ca/bundle.pem`)).body);
  });
  after(async () => {
    await node?.stop();
    if (node) removeDir(node.dataDir);
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
});
