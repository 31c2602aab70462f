/**
 * Revocation → OCSP visibility under load (issue 17: "revoked status
 * answered by OCSP within 100 ms of the revocation's 2xx, at any inventory
 * size"). Run alone: `node --import tsx bench/revocation-ocsp-bench.ts [revokedRows] [samples]`.
 *
 * 1. a real node (`rampart serve`, SQLite, default 16 CRL shards); five
 *    target leaves and one load leaf issued over REST;
 * 2. the node stopped, `revokedRows` revoked certificate rows of the issuing
 *    CA written directly into its database (CRL entry and shard as a
 *    revocation stores them), the node started again and given time to
 *    rebuild every CRL (the complete CRL lists them all);
 * 3. cached OCSP load on the load leaf (autocannon, 32 connections), and
 *    meanwhile each target leaf revoked over REST, one per second: from the
 *    moment its 2xx arrives, OCSP POSTs for it are sent one after the other
 *    until one answers `revoked`. The revocation also rebuilds its shard CRL
 *    (and marks the complete CRL for the next tick), on the same node.
 *
 * Prints "REVOCATION_OCSP_RESULT <json>": per sample the ms from the 2xx to
 * the first `revoked` answer received, and the load's latency.
 */
import autocannon from 'autocannon';
import { randomInt } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { crlShardOf } from '../src/core/crl-shard.js';
import { randomSerial, serialHex } from '../src/core/serial.js';
import { encodeRevokedEntry, parseCrl } from '../src/pki/crl-builder.js';
import { readOcspResponse } from '../src/validation/ocsp/ocsp-codec.js';
import { call } from '../test/helpers/api-client.js';
import { makeCsr, mustOpenssl } from '../test/helpers/openssl.js';
import { startTestNode } from '../test/helpers/running-node.js';

const ROWS = Number(process.argv[2] ?? 100_000);
const SAMPLES = Number(process.argv[3] ?? 5);
if (!Number.isInteger(ROWS) || ROWS < 0 || ROWS > 10_000_000) throw new Error(`bad row count ${process.argv[2]}`);
if (!Number.isInteger(SAMPLES) || SAMPLES < 1 || SAMPLES > 50) throw new Error(`bad sample count ${process.argv[3]}`);
const DAY = 86_400_000;

async function ocspPost(url: string, body: Buffer): Promise<Buffer> {
  const r = await fetch(url, { method: 'POST', body: new Uint8Array(body), headers: { 'content-type': 'application/ocsp-request' } });
  return Buffer.from(await r.arrayBuffer());
}

async function main(): Promise<void> {
  const node = await startTestNode({ prefix: 'rampart-bench-revocation-' });
  try {
    const token = node.adminToken!;
    const items = (await call(`${node.httpsUrl}/api/v1/issuers`, { token, ca: node.ca })).body.items as Array<{ id: string; kind: string; active: boolean; certificatePem: string }>;
    const int = items.find((i) => i.kind === 'intermediate' && i.active)!;
    writeFileSync(node.file('int.pem'), int.certificatePem);
    const leaves: Array<{ serial: string; req: Buffer }> = [];
    for (let i = 0; i <= SAMPLES; i++) {
      const { csrPath } = makeCsr(node.dir, `v${i}`, { subj: `/CN=v${i}.example.test`, san: `DNS:v${i}.example.test` });
      const r = await call(`${node.httpsUrl}/api/v1/certificates`, { token, ca: node.ca, json: { csr: readFileSync(csrPath, 'utf8'), profile: 'server' } });
      if (r.status !== 201) throw new Error(`issuance: ${r.status} ${JSON.stringify(r.body)}`);
      writeFileSync(node.file(`v${i}.pem`), String(r.body.certificatePem));
      mustOpenssl(['ocsp', '-issuer', node.file('int.pem'), '-cert', node.file(`v${i}.pem`), '-no_nonce', '-reqout', node.file(`v${i}.req`)]);
      leaves.push({ serial: String(r.body.serial), req: readFileSync(node.file(`v${i}.req`)) });
    }
    const [loadLeaf, ...targets] = leaves;

    await node.stop();
    const tIns = performance.now();
    const db = new Database(join(node.dataDir, 'rampart.db'));
    const leafDer = (db.prepare('SELECT der FROM certificates WHERE serial = ?').get(loadLeaf!.serial) as { der: Buffer }).der;
    const ins = db.prepare(`INSERT INTO certificates (serial, issuer_id, profile, subject, sans, search, not_before, not_after, der, status, revoked_at, revocation_reason, crl_entry, created_at, requester, crl_shard)
      VALUES (?, ?, 'server', ?, ?, ?, ?, ?, ?, 'revoked', ?, 1, ?, ?, 'bench', ?)`);
    const now = Date.now();
    db.transaction(() => {
      for (let i = 0; i < ROWS; i++) {
        const serial = serialHex(randomSerial());
        const host = `bulk-${i}.example.test`;
        const revokedAt = now - randomInt(1, 100) * DAY;
        ins.run(serial, int.id, `CN=${host}`, JSON.stringify([host]), host, now - 200 * DAY, now + randomInt(1, 365) * DAY, leafDer, revokedAt,
          Buffer.from(encodeRevokedEntry({ serialHex: serial, revokedAt: new Date(revokedAt), reason: 1 })), now - 200 * DAY, crlShardOf(serial, 16));
      }
    })();
    db.close();
    const insertMs = performance.now() - tIns;
    await node.start();
    // The restarted leader rebuilds every CRL in the background: wait until the complete CRL lists the rows.
    const tCrl = performance.now();
    for (let i = 0; ; i++) {
      const r = await call(`${node.httpUrl}/crl/${int.id}.crl`);
      if (r.status === 200 && parseCrl(new Uint8Array(r.raw as Buffer)).count >= ROWS) break;
      if (i > 1200) throw new Error('the complete CRL was not rebuilt within 20 minutes');
      await new Promise((res) => setTimeout(res, 1000));
    }
    const rebuildAllMs = performance.now() - tCrl;

    const ocspUrl = `${node.httpUrl}/ocsp`;
    const loadDone = autocannon({ url: ocspUrl, method: 'POST', body: loadLeaf!.req, headers: { 'content-type': 'application/ocsp-request' }, connections: 32, duration: SAMPLES + 6 });
    await new Promise((r) => setTimeout(r, 2000));
    const samples: Array<{ serial: string; revokeMs: number; visibleMs: number; probes: number }> = [];
    for (const t of targets) {
      const t0 = performance.now();
      const rv = await call(`${node.httpsUrl}/api/v1/certificates/${t.serial}/revoke`, { token, ca: node.ca, json: { reason: 'keyCompromise' } });
      const t2xx = performance.now();
      if (rv.status !== 200) throw new Error(`revoke: ${rv.status} ${JSON.stringify(rv.body)}`);
      let probes = 0;
      for (;;) {
        probes++;
        const status = readOcspResponse(await ocspPost(ocspUrl, t.req)).responses[0]?.status;
        if (status === 'revoked') break;
        if (performance.now() - t2xx > 60_000) throw new Error('not revoked in OCSP within 60 s');
      }
      samples.push({ serial: t.serial, revokeMs: t2xx - t0, visibleMs: performance.now() - t2xx, probes });
      await new Promise((r) => setTimeout(r, 1000));
    }
    const res = await loadDone;
    const visible = samples.map((s) => s.visibleMs);
    console.log(`REVOCATION_OCSP_RESULT ${JSON.stringify({
      revokedRows: ROWS, insertMs, rebuildAllMs, samples, maxVisibleMs: Math.max(...visible), medianVisibleMs: [...visible].sort((a, b) => a - b)[Math.floor(visible.length / 2)],
      load: { requests: res.requests.total, rps: res.requests.average, non2xx: res.non2xx, errors: res.errors, latencyP50: res.latency.p50, latencyP99: res.latency.p99, latencyMax: res.latency.max },
    })}`);
  } finally {
    await node.close();
  }
}

await main();
