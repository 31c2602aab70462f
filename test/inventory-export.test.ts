/**
 * The inventory export on a running node: REST GET /api/v1/certificates/export
 * as NDJSON and CSV (parsed per RFC 4180 and counted), filters, PEM on
 * request, totals carried across pages, bad input refused with a 400 problem
 * and nothing changed; then `rampart certs export` on the same data
 * directory, to stdout and to a file.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteStore } from '../src/storage/sqlite/sqlite-store.js';
import { cert } from '../src/storage/conformance/fixtures.js';
import { call } from './helpers/api-client.js';
import { makeCsr } from './helpers/openssl.js';
import { RAMPART_BIN } from './helpers/node-process.js';
import { startTestNode, type TestNode } from './helpers/running-node.js';

const SYNTHETIC = 2100;

/** RFC 4180 records (quoted fields may hold commas, quotes and line breaks). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (ch === '"') quoted = false; else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { row.push(field); field = ''; } else if (ch === '\r' && text[i + 1] === '\n') { row.push(field); rows.push(row); row = []; field = ''; i++; } else field += ch;
  }
  assert.equal(field + row.join(''), '', 'the CSV ends with CRLF');
  return rows;
}

const ndjson = (text: string) => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('inventory export (REST and CLI)', { timeout: 300_000 }, () => {
  let node: TestNode;
  let token: string;
  let ca: string;
  const real: string[] = [];
  const get = (q: string) => call(`${node.httpsUrl}/api/v1/certificates/export?${q}`, { token, ca });

  before(async () => {
    node = await startTestNode({ prefix: 'rampart-export-' });
    ({ ca } = node);
    token = node.adminToken!;
    for (let i = 0; i < 3; i++) {
      const csr = readFileSync(makeCsr(node.dir, `real${i}`, { subj: `/CN=real${i}.export.test`, san: `DNS:real${i}.export.test` }).csrPath, 'utf8');
      const r = await call(`${node.httpsUrl}/api/v1/certificates`, { token, ca, json: { csr, profile: 'server' } });
      assert.equal(r.status, 201);
      real.push(r.body.serial);
    }
    // Synthetic rows written straight into the node's database (WAL: beside the running node), with
    // subjects that need CSV quoting, and more than one export batch of them.
    const store = new SqliteStore({ path: join(node.dataDir, 'rampart.db') });
    try {
      const issuerId = (await store.listIssuers()).find((i) => i.kind === 'intermediate' && i.active)!.id;
      // A real certificate's DER, so the data directory still lints clean when the test ends.
      const der = (await store.getCertificate(real[0]!))!.der;
      await Promise.all(Array.from({ length: SYNTHETIC }, (_, i) => store.insertCertificate(cert(`5e${i.toString(16).padStart(6, '0')}`, issuerId, {
        subject: `CN=bulk${i}.synthetic.test, O="Quote, Comma"${i % 100 === 0 ? '\nline' : ''}`, sans: [`bulk${i}.synthetic.test`, `alt${i}.synthetic.test`],
        notAfter: new Date(Date.now() + (i % 10 === 0 ? -1 : 30) * 86_400_000), der,
      }))));
    } finally {
      await store.close();
    }
  });
  after(async () => { await node?.close(); });

  it('NDJSON: every match, each line one certificate with the defined columns; filters apply', async () => {
    const all = await get('format=ndjson');
    assert.equal(all.status, 200);
    assert.match(String(all.headers['content-type']), /^application\/x-ndjson/);
    const rows = ndjson(all.raw.toString('utf8'));
    const total = (await call(`${node.httpsUrl}/api/v1/certificates?limit=1`, { token, ca })).body.total;
    assert.equal(rows.length, total);
    assert.ok(rows.length >= SYNTHETIC + 3);
    assert.equal(new Set(rows.map((r) => r.serial)).size, rows.length);
    assert.deepEqual(Object.keys(rows.find((r) => r.serial === real[0])!), ['serial', 'issuer', 'subject', 'sans', 'notBefore', 'notAfter', 'status', 'revokedAt', 'reason', 'profile']);
    const synthetic = ndjson((await get('format=ndjson&name=SYNTHETIC.test')).raw.toString('utf8'));
    assert.equal(synthetic.length, SYNTHETIC);
    const expired = ndjson((await get('format=ndjson&status=expired&name=synthetic')).raw.toString('utf8'));
    assert.equal(expired.length, SYNTHETIC / 10);
    assert.ok(expired.every((r) => r.status === 'expired'));
    const withPem = ndjson((await get('format=ndjson&name=export.test&include=pem')).raw.toString('utf8'));
    assert.deepEqual(withPem.map((r) => r.serial).sort(), [...real].sort());
    for (const r of withPem) assert.equal(new X509Certificate(String(r.pem)).serialNumber.toLowerCase().replace(/^0+/, ''), String(r.serial).replace(/^0+/, ''));
  });

  it('CSV: RFC 4180 quoting, a header, and the same rows as NDJSON', async () => {
    const r = await get('format=csv&name=synthetic');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/csv/);
    const [header, ...rows] = parseCsv(r.raw.toString('utf8'));
    assert.deepEqual(header, ['serial', 'issuer', 'subject', 'sans', 'notBefore', 'notAfter', 'status', 'revokedAt', 'reason', 'profile']);
    assert.equal(rows.length, SYNTHETIC);
    assert.ok(rows.every((row) => row.length === header!.length));
    const first = rows.find((row) => row[0] === '5e000000')!;
    assert.equal(first[2], 'CN=bulk0.synthetic.test, O="Quote, Comma"\nline');
    assert.equal(first[3], 'bulk0.synthetic.test alt0.synthetic.test');
    assert.equal(first[6], 'expired');
  });

  it('pages carry the first page\'s total; bad format or filter is a 400 problem and changes nothing', async () => {
    const p1 = await call(`${node.httpsUrl}/api/v1/certificates?name=synthetic&limit=500`, { token, ca });
    assert.equal(p1.body.total, SYNTHETIC);
    const p2 = await call(`${node.httpsUrl}/api/v1/certificates?name=synthetic&limit=500&cursor=${p1.body.nextCursor}`, { token, ca });
    assert.equal(p2.status, 200);
    assert.equal(p2.body.total, SYNTHETIC);
    const before = (await call(`${node.httpsUrl}/api/v1/certificates?limit=1`, { token, ca })).body.total;
    for (const q of ['format=xml', '', 'format=csv&name=ab', 'format=csv&status=lost', 'format=csv&expiringWithinDays=-1', 'format=csv&include=key', 'format=csv&bogus=1']) {
      const bad = await get(q);
      assert.equal(bad.status, 400, `${q}: ${bad.raw.toString()}`);
      assert.match(String(bad.headers['content-type']), /problem\+json|application\/json/);
    }
    assert.equal((await call(`${node.httpsUrl}/api/v1/certificates?name=ab`, { token, ca })).status, 400);
    assert.equal((await call(`${node.httpsUrl}/api/v1/certificates?cursor=x1`, { token, ca })).status, 400);
    assert.equal((await call(`${node.httpsUrl}/api/v1/certificates/export?format=csv`, { ca })).status, 401);
    assert.equal((await call(`${node.httpsUrl}/api/v1/certificates?limit=1`, { token, ca })).body.total, before);
  });

  it('rampart certs export writes NDJSON to stdout and CSV to a file; bad options fail clearly and write nothing', async () => {
    const inventory = (await call(`${node.httpsUrl}/api/v1/certificates?limit=1`, { token, ca })).body.total as number;
    await node.stop();
    const rampart = (args: string[]) => spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', node.dataDir, 'certs', 'export', ...args], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
    const out = rampart(['--format', 'ndjson', '--name', 'synthetic', '--status', 'good']);
    assert.equal(out.status, 0, out.stderr);
    const rows = ndjson(out.stdout);
    assert.equal(rows.length, SYNTHETIC - SYNTHETIC / 10);
    const file = node.file('export.csv');
    const toFile = rampart(['--format', 'csv', '--output', file]);
    assert.equal(toFile.status, 0, toFile.stderr);
    const csv = parseCsv(readFileSync(file, 'utf8'));
    assert.equal(csv.length - 1, inventory);
    assert.match(toFile.stderr, new RegExp(`Exported ${inventory} certificate`));
    for (const args of [['--format', 'xml'], ['--format', 'csv', '--name', 'ab'], ['--format', 'csv', '--status', 'lost']]) {
      const bad = rampart([...args, '--output', node.file('bad.out')]);
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /format must be|at least 3|status must be/);
      assert.equal(existsSync(node.file('bad.out')), false);
    }
  });
});
