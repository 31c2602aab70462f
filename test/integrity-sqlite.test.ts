/**
 * Corruption detection on a real SQLite file: a running node's scheduled
 * integrity check (in its worker thread) finds a damaged page of the
 * certificates_expiry index, written to the database file on disk while
 * the node runs. The node then says what is wrong in /healthz, /readyz and
 * its metrics, refuses issuance with 503, and OCSP (openssl ocsp) still
 * answers, also for a certificate it had not been asked about. The CLI check
 * finds the same damage.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call } from './helpers/api-client.js';
import { RAMPART_BIN } from './helpers/node-process.js';
import { makeCsr, mustOpenssl } from './helpers/openssl.js';
import { startTestNode, type TestNode } from './helpers/running-node.js';
import { damageSqlitePage } from '../src/storage/sqlite-damage.js';
import { waitUntil } from '../src/core/wait.js';

describe('integrity check on a damaged SQLite page', () => {
  let node: TestNode | undefined;
  after(async () => { await node?.close(); });

  it('is detected by the scheduled check; issuance stops with 503, health says why, OCSP keeps answering', async () => {
    node = await startTestNode({ prefix: 'rampart-integrity-', env: { RAMPART_INTEGRITY__FIRST_CHECK_SECONDS: '1', RAMPART_INTEGRITY__EVERY_SECONDS: '2' } });
    const { dir, dataDir, httpUrl, httpsUrl, ca } = node;
    const token = node.adminToken!;
    const issue = async (name: string) => {
      const { csrPath } = makeCsr(dir, name, { subj: `/CN=${name}.example.test`, san: `DNS:${name}.example.test` });
      return call(`${httpsUrl}/api/v1/certificates`, { token, ca, json: { csr: readFileSync(csrPath, 'utf8'), profile: 'server' } });
    };
    const pems: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await issue(`c${i}`);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      pems.push(join(dir, `c${i}.pem`));
      writeFileSync(pems[i]!, r.body.certificatePem);
    }
    const issuers = (await call(`${httpsUrl}/api/v1/issuers`, { token, ca })).body.items as Array<{ kind: string; active: boolean; certificatePem: string }>;
    writeFileSync(join(dir, 'int.pem'), issuers.find((i) => i.kind === 'intermediate' && i.active)!.certificatePem);
    writeFileSync(join(dir, 'root.pem'), issuers.find((i) => i.kind === 'root')!.certificatePem);
    const ocsp = (pem: string) => mustOpenssl(['ocsp', '-issuer', join(dir, 'int.pem'), '-CAfile', join(dir, 'root.pem'), '-cert', pem, '-url', `${httpUrl}/ocsp`]);
    assert.match(ocsp(pems[0]!), /: good/);

    // The clean database passes first.
    const clean = await waitUntil('a first integrity check', async () => {
      const h = await call(`${httpUrl}/healthz`);
      return h.body.integrity?.status === 'ok' ? h.body : null;
    }, 120_000, 250);
    assert.equal(clean.issuing, true);

    const damaged = damageSqlitePage(join(dataDir, 'rampart.db'), 'certificates_expiry');
    const live = await waitUntil('the scheduled check to find the damage', async () => {
      const h = await call(`${httpUrl}/healthz`);
      return h.body.integrity?.status === 'corrupt' ? h.body : null;
    }, 120_000, 250);
    assert.equal(live.status, 'alive');
    assert.equal(live.issuing, false);
    assert.match(live.integrity.summary, /sqlite\.quick_check/);
    assert.match(live.integrity.summary, new RegExp(`page ${damaged.page}`));

    const ready = await call(`${httpUrl}/readyz`);
    assert.equal(ready.status, 200, 'degraded, still ready: validation keeps being routed here');
    assert.equal(ready.body.status, 'degraded');
    assert.equal(ready.body.checks.integrity.status, 'fail');
    assert.match(ready.body.checks.integrity.detail, /DATABASE CORRUPTION .*sqlite\.quick_check.*Issuance is stopped on this node/s);
    assert.equal((await call(`${httpUrl}/readyz?write=1`)).status, 503);
    const metrics = (await call(`${httpUrl}/metrics`)).raw.toString();
    assert.match(metrics, /^rampart_integrity_ok 0$/m);
    assert.match(metrics, /^rampart_integrity_last_check_timestamp_seconds \d/m);

    const refused = await issue('after');
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.match(refused.body.detail, /issuance is stopped on this node: the integrity check .* found database corruption/);

    // OCSP answers: for a certificate asked about before, and for one never asked about (a lookup by serial).
    assert.match(ocsp(pems[0]!), /: good/);
    assert.match(ocsp(pems[3]!), /: good/);

    const cli = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', dataDir, '--json', 'integrity', 'check'], { encoding: 'utf8', timeout: 180_000 });
    assert.equal(cli.status, 1, cli.stderr + cli.stdout);
    const report = JSON.parse(cli.stdout) as { status: string; findings: Array<{ check: string; status: string; problems?: string[] }> };
    assert.equal(report.status, 'corrupt');
    const quick = report.findings.find((f) => f.check === 'sqlite.quick_check')!;
    assert.equal(quick.status, 'corrupt');
    assert.ok(quick.problems!.some((p) => p.includes(`page ${damaged.page}`)), JSON.stringify(quick));
  });
});
