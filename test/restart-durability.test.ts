/**
 * Restart durability: issue and revoke, kill -9 the node, start it again on
 * the same data: everything acknowledged is there, the CRL number keeps
 * increasing, the audit chain verifies (with the real CLI).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { call } from './helpers/api-client.js';
import { RAMPART_BIN } from './helpers/node-process.js';
import { makeCsr, mustOpenssl } from './helpers/openssl.js';
import { startTestNode, type TestNode } from './helpers/running-node.js';

function crlNumber(der: Buffer, dir: string): bigint {
  writeFileSync(`${dir}/n.crl`, der);
  const text = mustOpenssl(['crl', '-inform', 'DER', '-in', `${dir}/n.crl`, '-noout', '-crlnumber']);
  const m = /crlNumber=(?:0x)?([0-9A-Fa-f]+)/.exec(text);
  assert.ok(m, text);
  return BigInt(`0x${m[1]}`);
}

describe('restart durability after kill -9', () => {
  let started: TestNode | undefined;
  after(async () => {
    await started?.stop('SIGKILL');
    await started?.close();
  });

  it('keeps every acknowledged issuance and revocation, CRL numbers and the audit chain', async () => {
    const node = started = await startTestNode({ prefix: 'rampart-durable-' });
    const { dir, dataDir } = node;
    const token = node.adminToken!;
    const ca = node.ca;
    const issued: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { csrPath } = makeCsr(dir, `d${i}`, { subj: `/CN=d${i}.example.test`, san: `DNS:d${i}.example.test` });
      const r = await call(`${node.httpsUrl}/api/v1/certificates`, { token, ca, json: { csr: readFileSync(csrPath, 'utf8'), profile: 'server' } });
      assert.equal(r.status, 201);
      issued.push(r.body.serial);
      if (i === 4) writeFileSync(`${dir}/last.pem`, r.body.certificatePem);
    }
    const rv = await call(`${node.httpsUrl}/api/v1/certificates/${issued[4]}/revoke`, { token, ca, json: { reason: 'cessationOfOperation' } });
    assert.equal(rv.status, 200);
    const gen = await call(`${node.httpsUrl}/api/v1/crl/generate`, { token, ca, method: 'POST' });
    assert.equal(gen.status, 200, JSON.stringify(gen.body));
    const issuers = (await call(`${node.httpsUrl}/api/v1/issuers`, { token, ca })).body.items as Array<{ id: string; kind: string; active: boolean; certificatePem: string }>;
    const int = issuers.find((i) => i.kind === 'intermediate' && i.active)!;
    writeFileSync(`${dir}/int.pem`, int.certificatePem);
    writeFileSync(`${dir}/root.pem`, issuers.find((i) => i.kind === 'root')!.certificatePem);
    const before = crlNumber((await call(`${node.httpUrl}/crl/${int.id}.crl`)).raw, dir);

    await node.stop('SIGKILL');

    await node.start(); // the same data directory and ports
    assert.equal(node.process.adminToken, null, 'no new admin token on a restart');
    for (const serial of issued) {
      const r = await call(`${node.httpsUrl}/api/v1/certificates/${serial}`, { token, ca });
      assert.equal(r.status, 200, `certificate ${serial} survived`);
      assert.equal(r.body.status, serial === issued[4] ? 'revoked' : 'good');
    }
    const ocsp = mustOpenssl(['ocsp', '-issuer', `${dir}/int.pem`, '-CAfile', `${dir}/root.pem`, '-cert', `${dir}/last.pem`, '-url', `${node.httpUrl}/ocsp`]);
    assert.match(ocsp, /: revoked/);
    const gen2 = await call(`${node.httpsUrl}/api/v1/crl/generate`, { token, ca, method: 'POST' });
    assert.equal(gen2.status, 200);
    const afterN = crlNumber((await call(`${node.httpUrl}/crl/${int.id}.crl`)).raw, dir);
    assert.ok(afterN > before, `CRL number ${afterN} > ${before}`);

    const v = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', dataDir, '--json', 'audit', 'verify'], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr + v.stdout);
    const report = JSON.parse(v.stdout);
    assert.equal(report.ok, true);
    assert.ok(report.entries >= 7, `audit has the issuances and the revocation (${report.entries})`);
  });
});
