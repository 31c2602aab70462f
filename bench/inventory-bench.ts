/**
 * Inventory at scale (issue 17), not part of `npm run bench` yet:
 *   node --import tsx bench/inventory-bench.ts [certificates=1000000]
 * 1. Starts a real node (bench/node-setup.ts), then fills its SQLite database
 *    with N synthetic certificates (10% revoked, 10% expired, three profiles,
 *    two issuers) in large transactions beside it (the FTS index is filled by
 *    its triggers, as for a real issuance).
 * 2. Page latency of every filter through the store's reader thread: the
 *    first page (which counts the total) and a later page (carried total).
 * 3. Export rows/s, NDJSON and CSV, all rows and a name match.
 * 4. Cached OCSP GET latency on the node: alone, then while REST name
 *    searches and a REST export of everything run.
 * Prints one JSON object at the end.
 */
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:https';
import { exportChunks, type ExportFormat } from '../src/http/api/certificate-export.js';
import type { CertificateFilter } from '../src/core/types.js';
import { SqliteStore } from '../src/storage/sqlite/sqlite-store.js';
import { explainPage } from '../src/storage/sqlite/sqlite-inventory.js';
import { call } from '../test/helpers/api-client.js';
import { LatencyRecorder, round } from './bench-util.js';
import { setUpNode, tearDownNode } from './node-setup.js';

const N = Number(process.argv[2] ?? 1_000_000);
const DAY = 86_400_000;
const hostName = (i: number) => `svc-${i}.team${i % 997}.corp${i % 13}.example`;

function fill(dbPath: string, der: Buffer, issuers: string[], now: number): { seconds: number; rowsPerSecond: number } {
  const db = new Database(dbPath);
  db.pragma('busy_timeout = 10000');
  const ins = db.prepare(`INSERT INTO certificates (serial, issuer_id, profile, subject, sans, search, not_before, not_after, der, status, revoked_at, revocation_reason, created_at, requester)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'bench')`);
  const profiles = ['server', 'client', 'server', 'code-signing'];
  const t0 = performance.now();
  const BATCH = 50_000;
  for (let start = 0; start < N; start += BATCH) {
    db.transaction(() => {
      for (let i = start; i < Math.min(N, start + BATCH); i++) {
        const h = hostName(i);
        const sans = [h, `alt-${i}.corp${i % 13}.example`];
        const subject = `CN=${h}`;
        const revoked = i % 10 === 3;
        const notAfter = i % 10 === 7 ? now - (i % 30) * DAY - 1000 : now + ((i % 90) + 1) * DAY;
        ins.run(`b${i.toString(16).padStart(15, '0')}`, issuers[i % 50 === 0 ? 1 : 0], profiles[i % 4], subject, JSON.stringify(sans),
          [subject, ...sans].join('\n').toLowerCase(), now - 10 * DAY, notAfter, der, revoked ? 'revoked' : 'good', revoked ? now - DAY : null, revoked ? 1 : null, now - 10 * DAY);
      }
    }).immediate();
    if ((start / BATCH) % 4 === 3) console.error(`[fill] ${start + BATCH} rows, ${Math.round((start + BATCH) / ((performance.now() - t0) / 1000))} rows/s`);
  }
  db.exec('ANALYZE');
  db.close();
  const seconds = (performance.now() - t0) / 1000;
  return { seconds: round(seconds, 1), rowsPerSecond: Math.round(N / seconds) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function pages(store: SqliteStore, issuerB: string) {
  const now = new Date();
  const filters: Record<string, CertificateFilter> = {
    all: {}, good: { status: 'good' }, revoked: { status: 'revoked' }, expired: { status: 'expired' }, expiring7: { expiringWithinDays: 7 },
    issuerMinor: { issuerId: issuerB }, profileCodeSigning: { profile: 'code-signing' },
    nameUnique: { name: hostName(Math.floor(N / 2)) }, nameTeam: { name: 'team42.' }, nameCorp: { name: 'corp7.' }, nameAll: { name: 'example' },
    nameRevokedCodeSigning: { name: 'team42.', status: 'revoked' },
  };
  await store.listCertificates({}, { limit: 1 }, now); // starts the reader thread
  const out: Record<string, { total: string; firstPageMs: number; nextPageMs: number; plan: string }> = {};
  for (const [label, filter] of Object.entries(filters)) {
    const firsts: number[] = [];
    const nexts: number[] = [];
    let total = '';
    for (let rep = 0; rep < 3; rep++) {
      let t = performance.now();
      const p1 = await store.listCertificates(filter, { limit: 50 }, now);
      firsts.push(performance.now() - t);
      total = `${p1.total}${p1.totalCapped ? '+' : ''}`;
      if (p1.nextCursor) {
        t = performance.now();
        await store.listCertificates(filter, { limit: 50, cursor: p1.nextCursor }, now);
        nexts.push(performance.now() - t);
      }
    }
    out[label] = { total, firstPageMs: round(median(firsts), 1), nextPageMs: nexts.length ? round(median(nexts), 1) : 0, plan: explainPage(store.db, { filter, nowMs: now.getTime() }).join(' | ') };
    console.error(`[pages] ${label}: ${JSON.stringify(out[label])}`);
  }
  return out;
}

async function exports(store: SqliteStore) {
  const out: Record<string, { rows: number; seconds: number; rowsPerSecond: number; mb: number }> = {};
  for (const [label, filter, format] of [['all-ndjson', {}, 'ndjson'], ['all-csv', {}, 'csv'], ['corp7-ndjson', { name: 'corp7.' }, 'ndjson']] as Array<[string, CertificateFilter, ExportFormat]>) {
    let rows = 0;
    let bytes = 0;
    const t = performance.now();
    for await (const chunk of exportChunks(store, filter, new Date(), format, { onRows: (n) => { rows += n; } })) bytes += Buffer.byteLength(chunk);
    const seconds = (performance.now() - t) / 1000;
    out[label] = { rows, seconds: round(seconds, 2), rowsPerSecond: Math.round(rows / seconds), mb: round(bytes / 1e6, 1) };
    console.error(`[export] ${label}: ${JSON.stringify(out[label])}`);
  }
  return out;
}

function ocspLoad(url: string, seconds: number): Promise<{ p50: number; p99: number; max: number; rps: number; non2xx: number }> {
  const lat = new LatencyRecorder();
  return new Promise((resolve, reject) => {
    const inst = autocannon({ url, connections: 8, duration: seconds, timeout: 10, reconnectRate: 5000 }, (err: unknown, r: autocannon.Result) => {
      if (err) return reject(err instanceof Error ? err : new Error(String(err)));
      const s = lat.stats();
      resolve({ p50: s.p50, p99: s.p99, max: s.max, rps: round(r['2xx'] / r.duration, 0), non2xx: r.non2xx + r.errors + r.timeouts });
    });
    inst.on('response', (_c: unknown, status: number, _b: number, ms: number) => { if (status === 200) lat.add(ms); });
  });
}

/** Streams a REST export to nowhere, counting lines. */
function restExport(url: string, token: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { authorization: `Bearer ${token}` }, ca }, (res) => {
      let lines = 0;
      res.on('data', (b: Buffer) => { for (const c of b) if (c === 10) lines++; });
      res.on('end', () => resolve(lines));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function ocspUnderLoad(ctx: Awaited<ReturnType<typeof setUpNode>>) {
  const url = `${ctx.node.httpUrl}/ocsp/${encodeURIComponent(ctx.reqDer.toString('base64'))}`;
  await ocspLoad(url, 2);
  const alone = await ocspLoad(url, 10);
  console.error(`[ocsp] alone: ${JSON.stringify(alone)}`);
  let stop = false;
  let searches = 0;
  const searchLoop = async (k: number) => {
    for (let i = 0; !stop && i < 100_000; i++) {
      const r = await call(`${ctx.node.httpsUrl}/api/v1/certificates?name=team${(i * 7 + k) % 997}.&limit=50`, { token: ctx.token, ca: ctx.caBundle });
      if (r.status !== 200) throw new Error(`search: ${r.status}`);
      searches++;
    }
  };
  const t = performance.now();
  const bg = [
    ...[0, 1, 2, 3, 4].map(searchLoop),
    restExport(`${ctx.node.httpsUrl}/api/v1/certificates/export?format=ndjson`, ctx.token, ctx.caBundle).then((n) => { console.error(`[ocsp] export of ${n} rows done in ${round((performance.now() - t) / 1000, 1)} s`); return n; }),
  ];
  const loaded = await ocspLoad(url, 15);
  stop = true;
  const [exported] = (await Promise.all(bg.slice(-1))) as number[];
  await Promise.all(bg.slice(0, -1));
  console.error(`[ocsp] with 5 search loops and an export: ${JSON.stringify(loaded)}, ${searches} searches`);
  return { alone, withSearchesAndExport: { ...loaded, searches, searchesPerSecond: round(searches / 15, 1), exportedRows: exported } };
}

async function main(): Promise<void> {
  const ctx = await setUpNode();
  try {
    const dbPath = join(ctx.node.dataDir, 'rampart.db');
    const store = new SqliteStore({ path: dbPath });
    try {
      const issuers = (await store.listIssuers()).filter((i) => i.kind === 'intermediate').map((i) => i.id);
      const issuerB = issuers[1] ?? issuers[0]!;
      const der = Buffer.from((await store.listCertificates({}, { limit: 1 }, new Date())).items[0]!.der);
      const filled = fill(dbPath, der, [issuers[0]!, issuerB], Date.now());
      console.error(`[fill] ${N} rows in ${filled.seconds} s`);
      const pageResults = await pages(store, issuerB);
      const exportResults = await exports(store);
      const ocsp = await ocspUnderLoad(ctx);
      console.log(JSON.stringify({ certificates: N, fill: filled, pages: pageResults, export: exportResults, ocsp }, null, 2));
    } finally {
      await store.close();
    }
  } finally {
    // The synthetic rows would all be linted by the data directory's removal (test/helpers): drop them first.
    await ctx.node.stop();
    for (const f of ['rampart.db', 'rampart.db-wal', 'rampart.db-shm']) rmSync(join(ctx.node.dataDir, f), { force: true });
    await tearDownNode(ctx);
  }
}

await main();
