/**
 * The SQLite inventory reader thread on a real database file: queries run in
 * another thread on their own connection; a reader that dies fails its
 * queries with a clear error and the next query starts a new one; a closed
 * store refuses; every inventory filter's page query uses an index
 * (EXPLAIN QUERY PLAN), never a scan of the whole table; and a filter with
 * fewer matches than the total's cap reads its pages from its range index,
 * with the same pages as the walk in seq order; a name alone is counted in
 * the search index without reading rows.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { threadId } from 'node:worker_threads';
import type { CertificateFilter } from '../../core/types.js';
import { cert, issuer, T0, DAY } from '../conformance/fixtures.js';
import { SqliteStore } from './sqlite-store.js';
import { explainCount, explainPage } from './sqlite-inventory.js';

async function withFileStore(fn: (s: SqliteStore) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-reader-'));
  const store = new SqliteStore({ path: join(dir, 'rampart.db') });
  try {
    await store.migrate();
    await store.saveIssuer(issuer('int-a'));
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.insertCertificate(cert(`a${i}`, 'int-a', { sans: [`n${i}.reader.test`] }))));
    await fn(store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const NOW = new Date(T0 + DAY);

test('a reader thread that dies fails its queries clearly and is replaced by the next query', () => withFileStore(async (s) => {
  assert.equal(s.reader.threadId, null, 'started lazily');
  assert.equal((await s.listCertificates({ name: 'reader.test' }, { limit: 10 }, NOW)).total, 50);
  const first = s.reader.threadId;
  assert.ok(first !== null && first !== threadId, 'the query ran in another thread');
  // Many queries in flight, then the thread dies under them.
  const inFlight = Array.from({ length: 20 }, () => s.listCertificates({ name: 'reader' }, { limit: 50 }, NOW).then(() => 'ok', (e: Error & { code?: string }) => e));
  await s.reader.kill();
  const outcomes = await Promise.all(inFlight);
  const failed = outcomes.filter((o): o is Error & { code?: string } => o instanceof Error);
  assert.ok(failed.length > 0, 'the queries posted before the thread died failed');
  for (const e of failed) {
    assert.equal(e.code, 'unavailable');
    assert.match(e.message, /inventory reader thread stopped .*retry/);
  }
  assert.equal(failed.length + outcomes.filter((o) => o === 'ok').length, 20, 'every query settled');
  const again = await s.listCertificates({ name: 'reader.test' }, { limit: 10 }, NOW);
  assert.equal(again.total, 50);
  assert.ok(s.reader.threadId !== null && s.reader.threadId !== first, 'a new thread');
  assert.equal(s.reader.started, 2);
  // Writes went on the whole time: the store is unharmed.
  await s.insertCertificate(cert('b1', 'int-a', { sans: ['late.reader.test'] }));
  assert.equal((await s.listCertificates({ name: 'late.reader' }, { limit: 10 }, NOW)).items[0]?.serial, 'b1');
}));

test('a CRL build reads its revoked entries in the reader thread, not on the thread that answers OCSP', () => withFileStore(async (s) => {
  for (let i = 0; i < 7; i++) await s.revokeCertificate(`a${i}`, 4, new Date(T0 + 1000), () => new Uint8Array([0x30, 0x00]));
  assert.equal(s.reader.threadId, null, 'no inventory query yet');
  const read: string[] = [];
  for await (const e of s.iterateRevoked('int-a', NOW)) read.push(e.serialHex);
  assert.deepEqual(read.sort(), Array.from({ length: 7 }, (_, i) => `a${i}`).sort());
  assert.ok(s.reader.threadId !== null && s.reader.threadId !== threadId, 'the entries came from the reader thread');
  // A revocation committed on the writer's connection just before is seen by the reader's.
  await s.revokeCertificate('a7', 4, new Date(T0 + 2000), () => new Uint8Array([0x30, 0x00]));
  const again: string[] = [];
  for await (const e of s.iterateRevoked('int-a', NOW)) again.push(e.serialHex);
  assert.ok(again.includes('a7') && again.length === 8, again.join(','));
}));

test('a closed store refuses inventory queries', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-reader-'));
  const store = new SqliteStore({ path: join(dir, 'rampart.db') });
  try {
    await store.migrate();
    await store.listCertificates({}, { limit: 1 }, NOW);
    await store.close();
    await assert.rejects(store.listCertificates({}, { limit: 1 }, NOW), (e: Error & { code?: string }) => e.code === 'unavailable');
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every inventory filter reads through an index (EXPLAIN QUERY PLAN), none scans the table', () => withFileStore(async (s) => {
  s.db.exec('ANALYZE');
  const filters: CertificateFilter[] = [
    {}, { status: 'good' }, { status: 'revoked' }, { status: 'expired' }, { expiringWithinDays: 30 },
    { issuerId: 'int-a' }, { profile: 'server' }, { name: 'reader' }, { name: 'reader', status: 'revoked', profile: 'server' },
  ];
  for (const filter of filters) {
    const plan = explainPage(s.db, { filter, nowMs: NOW.getTime() });
    const text = plan.join(' | ');
    assert.ok(plan.some((d) => /USING (INTEGER PRIMARY KEY|(COVERING )?INDEX)|VIRTUAL TABLE INDEX/.test(d)), `${JSON.stringify(filter)}: ${text}`);
    assert.ok(!plan.some((d) => /^SCAN c$/.test(d)), `${JSON.stringify(filter)} scans the table: ${text}`);
  }
}));

test('expiry and status filters count in their range index; with few matches their pages come from it, the same pages as the seq walk', () => withFileStore(async (s) => {
  // 300 more: a third expired (some revoked), the rest valid with spread expiries, some revoked.
  const later = Array.from({ length: 300 }, (_, i) => cert(`b${String(i).padStart(3, '0')}`, 'int-a', {
    notAfter: new Date(i % 3 === 0 ? T0 + DAY - (1 + (i % 7)) * 3_600_000 : T0 + (2 + (i % 40)) * DAY),
  }));
  await Promise.all(later.map((c) => s.insertCertificate(c)));
  for (const c of later.filter((_, i) => i % 5 === 0)) await s.revokeCertificate(c.serial, 1, NOW);
  const all = (await s.listCertificates({}, { limit: 1000 }, NOW)).items;
  assert.equal(all.length, 350);
  const expected = (f: CertificateFilter) => all.filter((c) => {
    const live = c.notAfter.getTime() > NOW.getTime();
    if (f.status === 'good' && !(c.status === 'good' && live)) return false;
    if (f.status === 'expired' && live) return false;
    if (f.expiringWithinDays !== undefined && !(c.status === 'good' && live && c.notAfter.getTime() <= NOW.getTime() + f.expiringWithinDays * DAY)) return false;
    return true;
  }).map((c) => c.serial);
  const pages = async (f: CertificateFilter, countCap: number): Promise<{ serials: string[]; capped: boolean }> => {
    const serials: string[] = [];
    let capped = false;
    for (let cursor: string | undefined, n = 0; n < 100; n++) {
      const p = await s.listCertificates(f, { limit: 7, countCap, ...(cursor ? { cursor } : {}) }, NOW);
      capped ||= p.totalCapped === true;
      serials.push(...p.items.map((c) => c.serial));
      if (!p.nextCursor) break;
      cursor = p.nextCursor;
    }
    return { serials, capped };
  };
  const ranged: Array<[CertificateFilter, string]> = [
    [{ status: 'good' }, 'certificates_status_expiry'], [{ status: 'expired' }, 'certificates_expiry'],
    [{ expiringWithinDays: 10 }, 'certificates_status_expiry'], [{ status: 'good', expiringWithinDays: 3 }, 'certificates_status_expiry'],
  ];
  for (const [f, index] of ranged) {
    const want = expected(f);
    assert.ok(want.length > 7, `${JSON.stringify(f)} matches several pages`);
    const few = await pages(f, 1000);
    const many = await pages(f, 3);
    assert.equal(few.capped, false);
    assert.equal(many.capped, true);
    assert.deepEqual(few.serials, want, `${JSON.stringify(f)} from the range index`);
    assert.deepEqual(many.serials, want, `${JSON.stringify(f)} walking seq order`);
    const count = explainCount(s.db, { filter: f, nowMs: NOW.getTime(), countCap: 1000 }).join(' | ');
    assert.match(count, new RegExp(`COVERING INDEX ${index}\\b`), `${JSON.stringify(f)} counts in ${index}: ${count}`);
    const page = explainPage(s.db, { filter: f, nowMs: NOW.getTime(), few: true }).join(' | ');
    assert.match(page, new RegExp(`COVERING INDEX ${index}\\b`), `${JSON.stringify(f)} with few matches pages from ${index}: ${page}`);
    assert.doesNotMatch(explainPage(s.db, { filter: f, nowMs: NOW.getTime(), few: false }).join(' | '), /TEMP B-TREE/, 'a walk never sorts');
  }
  // With an issuer condition the range holds more than the matches: the planner's choice stands.
  assert.doesNotMatch(explainPage(s.db, { filter: { status: 'expired', issuerId: 'int-a' }, nowMs: NOW.getTime(), few: true }).join(' | '), /INDEXED|TEMP B-TREE/);
}));

test('a name alone is counted in the search index without reading a row; with other conditions the rows are joined', () => withFileStore(async (s) => {
  const nameOnly = explainCount(s.db, { filter: { name: 'reader' }, nowMs: NOW.getTime(), countCap: 1000 }).join(' | ');
  assert.match(nameOnly, /VIRTUAL TABLE INDEX/, nameOnly);
  assert.doesNotMatch(nameOnly, /\bc\b|certificates /, `a name-only count reads no certificate row: ${nameOnly}`);
  const withStatus = explainCount(s.db, { filter: { name: 'reader', status: 'revoked' }, nowMs: NOW.getTime(), countCap: 1000 }).join(' | ');
  assert.match(withStatus, /SEARCH c USING INTEGER PRIMARY KEY/, withStatus);
  // The index follows deletions (tidy): the count stays the rows' count.
  s.db.prepare("DELETE FROM certificates WHERE serial IN ('a1', 'a2', 'a3')").run();
  const page = await s.listCertificates({ name: 'reader.test' }, { limit: 10, countCap: 1000 }, NOW);
  assert.equal(page.total, 47);
  const joined = s.db.prepare(`SELECT count(*) AS n FROM certificates_search JOIN certificates c ON c.seq = certificates_search.rowid
    WHERE certificates_search MATCH '"reader.test"'`).get() as { n: number };
  assert.equal(joined.n, 47);
  assert.equal((await s.listCertificates({ name: 'n4.', status: 'good' }, { limit: 10, countCap: 1000 }, NOW)).total, (await s.listCertificates({ name: 'n4.' }, { limit: 10, countCap: 1000 }, NOW)).total);
}));

test('a name with many matches pages by walking seq order from the cursor; past the window it asks the index: the same pages either way', () => withFileStore(async (s) => {
  const insert = async (prefix: string, n: number, san: (i: number) => string): Promise<void> => {
    for (let i = 0; i < n; i += 1000) {
      await Promise.all(Array.from({ length: Math.min(1000, n - i) }, (_, j) => s.insertCertificate(cert(`${prefix}${i + j}`, 'int-a', { sans: [san(i + j)] }))));
    }
  };
  await insert('f', 17_000, (i) => `f${i}.filler.test`);
  await insert('z', 3, (i) => `far${i}.needle.test`);
  const walk = async (filter: CertificateFilter, countCap: number, limit: number, maxPages: number): Promise<string[]> => {
    const out: string[] = [];
    for (let cursor: string | undefined, n = 0; n < maxPages; n++) {
      const p = await s.listCertificates(filter, { limit, countCap, ...(cursor ? { cursor } : {}) }, NOW);
      out.push(...p.items.map((c) => c.serial));
      if (!p.nextCursor) break;
      cursor = p.nextCursor;
    }
    return out;
  };
  // Dense: the total is capped, so pages walk seq order; they equal the index's pages.
  const dense = await walk({ name: 'filler.test' }, 3, 50, 4);
  assert.deepEqual(dense, Array.from({ length: 200 }, (_, i) => `f${i}`));
  assert.deepEqual(await walk({ name: 'filler.test', profile: 'server' }, 3, 50, 2), dense.slice(0, 100));
  // Sparse beyond the window: nothing within 16,384 rows of the cursor, so the index answers.
  assert.deepEqual(await walk({ name: 'needle.test' }, 2, 2, 5), ['z0', 'z1', 'z2']);
  assert.deepEqual(await walk({ name: 'needle.test' }, 1000, 2, 5), ['z0', 'z1', 'z2']);
  // Upper case in the query matches as the index does (the needle is lower-cased like the search text).
  assert.deepEqual((await s.listCertificates({ name: 'F10' }, { limit: 3, countCap: 3 }, NOW)).items.map((c) => c.serial), ['f10', 'f100', 'f101']);
  // Matches on both sides of the window's end: the window's rows, then the index's from the window's end, in order.
  const split = ['f1699', ...Array.from({ length: 10 }, (_, i) => `f1699${i}`)];
  assert.deepEqual(await walk({ name: 'f1699' }, 3, 5, 5), split);
  const exported: string[] = [];
  for await (const batch of s.exportCertificates({ name: 'f1699' }, NOW, { batch: 5 })) exported.push(...batch.map((c) => c.serial));
  assert.deepEqual(exported, split, 'an export walks the same way, batch after batch');
  const all: string[] = [];
  for await (const batch of s.exportCertificates({ name: 'filler.test' }, NOW, { batch: 4000 })) all.push(...batch.map((c) => c.serial));
  assert.deepEqual(all, Array.from({ length: 17_000 }, (_, i) => `f${i}`));
}));
