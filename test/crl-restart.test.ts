/**
 * "A CRL can show 0 entries after a restart when revocations were written
 * while the node was down": revoke with the real CLI while the node is
 * stopped, and revoke another certificate by writing its row directly (as
 * another tool would: no CRL rebuilt, no revocation event), start the node
 * again, and the CRLs it serves (the complete one and each certificate's
 * shard) list both. Before the fix the node kept serving its last CRL, still
 * fresh, with 0 entries: nothing rebuilt a CRL that did not look stale.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { call } from './helpers/api-client.js';
import { RAMPART_BIN } from './helpers/node-process.js';
import { makeCsr } from './helpers/openssl.js';
import { startTestNode, type TestNode } from './helpers/running-node.js';
import { parseCrl } from '../src/pki/crl-builder.js';

describe('CRLs after revocations made while the node was down', () => {
  let started: TestNode | undefined;
  after(async () => { await started?.close(); });

  it('a revocation made with `rampart revoke` on a stopped node is in the CRLs the restarted node serves', async () => {
    const node = started = await startTestNode({ prefix: 'rampart-crl-restart-', publicBaseUrl: true });
    const { dir, dataDir } = node;
    const token = node.adminToken!;
    const serials: string[] = [];
    for (const name of ['r0', 'r1']) {
      const { csrPath } = makeCsr(dir, name, { subj: `/CN=${name}.example.test`, san: `DNS:${name}.example.test` });
      const r = await call(`${node.httpsUrl}/api/v1/certificates`, { token, ca: node.ca, json: { csr: readFileSync(csrPath, 'utf8'), profile: 'server' } });
      assert.equal(r.status, 201);
      serials.push(String(r.body.serial));
    }
    const issuers = (await call(`${node.httpsUrl}/api/v1/issuers`, { token, ca: node.ca })).body.items as Array<{ id: string; kind: string; active: boolean }>;
    const int = issuers.find((i) => i.kind === 'intermediate' && i.active)!;
    const before = parseCrl(new Uint8Array((await call(`${node.httpUrl}/crl/${int.id}.crl`)).raw));
    assert.equal(before.count, 0);

    await node.stop();
    const rv = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', dataDir, '--json', 'revoke', serials[0]!, '--reason', 'keyCompromise'], { encoding: 'utf8' });
    assert.equal(rv.status, 0, rv.stderr + rv.stdout);
    const db = new Database(join(dataDir, 'rampart.db'));
    try {
      const changed = db.prepare("UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = 1 WHERE serial = ?").run(Date.now(), serials[1]).changes;
      assert.equal(changed, 1);
    } finally {
      db.close();
    }
    await node.start();

    const shards = new Map<string, number>();
    for (const serial of serials) {
      const r = await call(`${node.httpsUrl}/api/v1/certificates/${serial}`, { token, ca: node.ca });
      assert.equal(r.body.status, 'revoked');
    }
    const want = [...serials].sort();
    const lists = async (path: string, expected: string[]): Promise<void> => {
      let got: string[] = [];
      // The restarted leader rebuilds every CRL in the background: poll (bounded) until it is done.
      for (let i = 0; i < 300; i++) {
        got = parseCrl(new Uint8Array((await call(`${node.httpUrl}${path}`)).raw)).entries.map((e) => e.serialHex).sort();
        if (JSON.stringify(got) === JSON.stringify(expected)) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(got, expected, `${path} lists the revocations made while the node was down`);
    };
    await lists(`/crl/${int.id}.crl`, want);
    // Each certificate's shard CRL (the default 16 shards: the serial's last hex digit).
    for (const serial of serials) shards.set(serial, parseInt(serial.slice(-1), 16));
    for (const shard of new Set(shards.values())) {
      await lists(`/crl/${int.id}/${shard}.crl`, serials.filter((s) => shards.get(s) === shard).sort());
    }

    // The follower starts after the newest revocation event: the one the CLI wrote while the node was down is
    // covered by the rebuild above, not read again (at 10M certificates there are 1M such events).
    const followed = async (): Promise<number> => {
      const text = String((await call(`${node.httpUrl}/metrics`)).raw);
      const m = /^rampart_revocations_followed_total (\d+)/m.exec(text);
      assert.ok(m, 'the metric is exported');
      return Number(m[1]);
    };
    assert.equal(await followed(), 0, 'no revocation event from before the start was followed');
    // One made while the node runs (another process: the CLI) is followed.
    const { csrPath } = makeCsr(dir, 'r2', { subj: '/CN=r2.example.test', san: 'DNS:r2.example.test' });
    const third = await call(`${node.httpsUrl}/api/v1/certificates`, { token, ca: node.ca, json: { csr: readFileSync(csrPath, 'utf8'), profile: 'server' } });
    assert.equal(third.status, 201);
    const rv2 = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', dataDir, '--json', 'revoke', String(third.body.serial), '--reason', 'superseded'], { encoding: 'utf8' });
    assert.equal(rv2.status, 0, rv2.stderr + rv2.stdout);
    let n = 0;
    for (let i = 0; i < 50 && n === 0; i++) {
      n = await followed();
      if (!n) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(n, 1, 'the revocation made by the CLI while the node runs is followed');
  });
});
