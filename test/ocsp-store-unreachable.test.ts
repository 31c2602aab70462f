/**
 * A node whose database stops answering (every PostgreSQL process frozen with
 * SIGSTOP: connections stay open, queries hang, as in a partition) keeps
 * answering OCSP: a cached response is served as before, and a request that
 * needs the store gets OCSP `tryLater` after the bounded lookup instead of
 * hanging until the database returns. Once the database answers again the
 * same request is answered from the store.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { call } from './helpers/api-client.js';
import { startClusterNode, stopAll } from './helpers/cluster.js';
import type { NodeProcess } from './helpers/node-process.js';
import { makeCsr, mustOpenssl, openssl } from './helpers/openssl.js';
import { startPostgres, type PgCluster } from './helpers/postgres.js';

describe('OCSP while the database does not answer', () => {
  let pg: PgCluster;
  const nodes: NodeProcess[] = [];

  before(async () => {
    pg = await startPostgres();
  });
  after(async () => {
    await stopAll(nodes);
    await pg?.stop();
  });

  /** The postmaster and every backend of the primary. */
  function pgPids(): number[] {
    const postmaster = Number(readFileSync(`${pg.primary.dataDir}/postmaster.pid`, 'utf8').split('\n')[0]);
    const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(postmaster)], { encoding: 'utf8' }).split('\n').map((s) => Number(s.trim())).filter((n) => n > 0);
    return [postmaster, ...children];
  }

  it('answers cached responses, and tryLater (not a hang) for what needs the store; answers from the store again after', async () => {
    const node = await startClusterNode({ hosts: pg.hosts(), mode: 'active-active', nodeId: 'frozen-db-a' });
    nodes.push(node);
    const token = node.adminToken!;
    const ca = String((await call(`${node.httpUrl}/ca/bundle.pem`)).body);
    const dir = node.dataDir;
    const issuers = (await call(`${node.httpsUrl}/api/v1/issuers`, { token, ca })).body.items as Array<{ kind: string; active: boolean; certificatePem: string }>;
    writeFileSync(`${dir}/int.pem`, issuers.find((i) => i.kind === 'intermediate' && i.active)!.certificatePem);
    writeFileSync(`${dir}/root.pem`, issuers.find((i) => i.kind === 'root')!.certificatePem);
    const { csrPath } = makeCsr(dir, 'leaf', { subj: '/CN=frozen.example.test', san: 'DNS:frozen.example.test' });
    const issued = await call(`${node.httpsUrl}/api/v1/certificates`, { token, ca, json: { csr: readFileSync(csrPath, 'utf8'), profile: 'server' } });
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    writeFileSync(`${dir}/leaf.pem`, issued.body.certificatePem);

    const request = (args: string[], name: string): Buffer => {
      mustOpenssl(['ocsp', '-issuer', `${dir}/int.pem`, ...args, '-no_nonce', '-reqout', `${dir}/${name}.der`]);
      return readFileSync(`${dir}/${name}.der`);
    };
    const post = (der: Buffer) => call(`${node.httpUrl}/ocsp`, { body: der, headers: { 'content-type': 'application/ocsp-request' } });
    const text = (resp: Buffer): string => {
      writeFileSync(`${dir}/resp.der`, resp);
      return mustOpenssl(['ocsp', '-respin', `${dir}/resp.der`, '-issuer', `${dir}/int.pem`, '-CAfile', `${dir}/root.pem`, '-resp_text']);
    };
    const leafReq = request(['-cert', `${dir}/leaf.pem`], 'leaf-req');
    const unknownReq = request(['-serial', '0x7a11c0ffee0ddba11'], 'unknown-req');
    assert.match(text((await post(leafReq)).raw), /Cert Status: good/);

    const pids = pgPids();
    let frozen = true;
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    try {
      const cached = await post(leafReq);
      assert.equal(cached.status, 200);
      assert.match(text(cached.raw), /Cert Status: good/, 'the cached response is served while the store hangs');

      const later = await post(unknownReq);
      assert.ok(frozen, 'answered while the database was still frozen');
      assert.equal(later.status, 200);
      writeFileSync(`${dir}/later.der`, later.raw);
      const refused = openssl(['ocsp', '-respin', `${dir}/later.der`, '-resp_text']);
      assert.match(refused.out, /Responder Error: trylater \(3\)/i);

      const metrics = String((await call(`${node.httpUrl}/metrics`)).body);
      assert.match(metrics, /rampart_ocsp_store_timeouts_total [1-9]/);
    } finally {
      for (const pid of pids) process.kill(pid, 'SIGCONT');
      frozen = false;
    }

    // The database answers again: the same request is answered from the store.
    let answer = '';
    for (let i = 0; i < 60 && !/Cert Status: unknown/.test(answer); i++) {
      writeFileSync(`${dir}/again.der`, (await post(unknownReq)).raw);
      answer = openssl(['ocsp', '-respin', `${dir}/again.der`, '-issuer', `${dir}/int.pem`, '-CAfile', `${dir}/root.pem`, '-resp_text']).out;
      if (!/Cert Status: unknown/.test(answer)) await new Promise((r) => setTimeout(r, 500));
    }
    assert.match(answer, /Cert Status: unknown/);
  });
});
