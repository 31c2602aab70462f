/**
 * Corruption detection on real PostgreSQL (data checksums on, amcheck
 * installed): with a node running, PostgreSQL is stopped, bytes of the
 * certificates table's first page are overwritten in its relation file
 * (found with pg_relation_filepath), and PostgreSQL started again. The node's
 * scheduled integrity check finds it (the sequential read fails with "invalid
 * page", checksum_failures counts it, verify_heapam reports it), health says
 * what is wrong, issuance is refused with 503, and OCSP keeps answering for
 * the certificate it answered before (from its cache of signed answers,
 * requests without a nonce; a request with a nonce, or the first lookup of a
 * serial on the damaged page, needs that page and fails).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { call } from './helpers/api-client.js';
import { clusterEnv } from './helpers/cluster.js';
import { RAMPART_BIN } from './helpers/node-process.js';
import { makeCsr, mustOpenssl, openssl } from './helpers/openssl.js';
import { startPostgres, type PgCluster } from './helpers/postgres.js';
import { startTestNode, type TestNode } from './helpers/running-node.js';
import { waitUntil } from '../src/core/wait.js';

describe('integrity check on a damaged PostgreSQL relation', () => {
  let pg: PgCluster | undefined;
  let node: TestNode | undefined;
  before(async () => {
    pg = await startPostgres();
    await pg.psql('CREATE EXTENSION amcheck', undefined, 'rampart');
    await pg.psql('GRANT EXECUTE ON FUNCTION bt_index_check(regclass), verify_heapam(regclass, boolean, boolean, text, bigint, bigint) TO rampart', undefined, 'rampart');
  });
  after(async () => {
    await node?.close();
    await pg?.stop();
  });

  it('is detected by the scheduled check; issuance stops with 503, health says why, OCSP keeps answering', async () => {
    const env = {
      ...clusterEnv({ hosts: pg!.hosts(), database: 'rampart', mode: 'active-active', nodeId: 'pg-int' }),
      RAMPART_CLUSTER__MODE: 'single', RAMPART_INTEGRITY__FIRST_CHECK_SECONDS: '1', RAMPART_INTEGRITY__EVERY_SECONDS: '2',
    };
    node = await startTestNode({ prefix: 'rampart-pg-integrity-', env });
    const { dir, httpUrl, httpsUrl, ca } = node;
    const token = node.adminToken!;
    const issue = async (name: string) => {
      const { csrPath } = makeCsr(dir, name, { subj: `/CN=${name}.example.test`, san: `DNS:${name}.example.test` });
      return call(`${httpsUrl}/api/v1/certificates`, { token, ca, json: { csr: readFileSync(csrPath, 'utf8'), profile: 'server' } });
    };
    for (let i = 0; i < 3; i++) {
      const r = await issue(`p${i}`);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      writeFileSync(join(dir, `p${i}.pem`), r.body.certificatePem);
    }
    const issuers = (await call(`${httpsUrl}/api/v1/issuers`, { token, ca })).body.items as Array<{ kind: string; active: boolean; certificatePem: string }>;
    writeFileSync(join(dir, 'int.pem'), issuers.find((i) => i.kind === 'intermediate' && i.active)!.certificatePem);
    writeFileSync(join(dir, 'root.pem'), issuers.find((i) => i.kind === 'root')!.certificatePem);
    const ocsp = () => mustOpenssl(['ocsp', '-issuer', join(dir, 'int.pem'), '-CAfile', join(dir, 'root.pem'), '-cert', join(dir, 'p0.pem'), '-url', `${httpUrl}/ocsp`, '-no_nonce']);
    assert.match(ocsp(), /: good/);

    const clean = await waitUntil('a first integrity check that passes', async () => {
      const h = await call(`${httpUrl}/healthz`);
      return h.body.integrity?.status === 'ok' ? h.body : null;
    }, 120_000, 250);
    assert.equal(clean.issuing, true);
    const ready = await call(`${httpUrl}/readyz`);
    assert.match(ready.body.checks.integrity.detail, /postgres\.read, postgres\.checksums, postgres\.amcheck, certificates, crls, audit-chain ok/);

    const rel = await pg!.psql("SELECT pg_relation_filepath('certificates')", undefined, 'rampart');
    assert.match(rel, /^base\/\d+\/\d+$/);
    await pg!.stopNode(pg!.primary);
    const fd = openSync(join(pg!.primary.dataDir, rel), 'r+');
    try { writeSync(fd, Buffer.alloc(64, 0xa5), 0, 64, 200); } finally { closeSync(fd); }
    await pg!.start(pg!.primary);

    // A check that overlapped the restart may already say 'corrupt' (amcheck found it) while its
    // sequential read failed on a dropped connection; the next one, on a running server, reads the page.
    const live = await waitUntil('the scheduled check to find the damage', async () => {
      const h = await call(`${httpUrl}/healthz`).catch(() => null);
      return h?.body.integrity?.status === 'corrupt' && /postgres\.read: .*invalid page/.test(h.body.integrity.summary) ? h.body : null;
    }, 180_000, 500);
    assert.equal(live.issuing, false);
    assert.match(live.integrity.summary, /postgres\.read: .*table certificates: .*invalid page in block 0/);
    const health = await call(`${httpUrl}/readyz`);
    assert.equal(health.body.checks.integrity.status, 'fail');
    assert.match(health.body.checks.integrity.detail, /DATABASE CORRUPTION/);
    assert.match(health.body.checks.integrity.detail, /postgres\.amcheck: amcheck found/);

    const refused = await issue('after');
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.match(refused.body.detail, /found database corruption/);
    assert.match(ocsp(), /: good/);
    // A fresh answer (a nonce: not from the cache) needs the damaged table: an OCSP tryLater (HTTP 200), never an HTTP 500.
    mustOpenssl(['ocsp', '-issuer', join(dir, 'int.pem'), '-cert', join(dir, 'p1.pem'), '-reqout', join(dir, 'fresh.req')]);
    const fresh = await call(`${httpUrl}/ocsp`, { body: readFileSync(join(dir, 'fresh.req')), headers: { 'content-type': 'application/ocsp-request' } });
    assert.equal(fresh.status, 200);
    writeFileSync(join(dir, 'fresh.resp'), fresh.raw);
    assert.match(openssl(['ocsp', '-respin', join(dir, 'fresh.resp'), '-resp_text']).out, /Responder Error: trylater \(3\)/i);

    const cli = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', node.dataDir, '--json', 'integrity', 'check'], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, ...env } });
    assert.equal(cli.status, 1, cli.stderr + cli.stdout);
    const report = JSON.parse(cli.stdout) as { status: string; findings: Array<{ check: string; status: string; detail: string }> };
    assert.equal(report.status, 'corrupt');
    const byCheck = Object.fromEntries(report.findings.map((f) => [f.check, f]));
    assert.equal(byCheck['postgres.checksums']?.status, 'corrupt', JSON.stringify(report));
    assert.match(byCheck['postgres.checksums']!.detail, /checksum_failures = \d+/);
  });
});
