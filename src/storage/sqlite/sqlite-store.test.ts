import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { acmeConformance } from '../conformance/acme-conformance.js';
import { sshConformance } from '../conformance/ssh-conformance.js';
import { campaignConformance } from '../conformance/campaign-conformance.js';
import { storeConformance } from '../conformance/store-conformance.js';
import { inventoryConformance } from '../conformance/inventory-conformance.js';
import { SqliteStore } from './sqlite-store.js';
import { DAY, T0, auditOf, cert, issuer } from '../conformance/fixtures.js';

async function sqliteFactory() {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-sqlite-'));
  const store = new SqliteStore({ path: join(dir, 'rampart.db') });
  await store.migrate();
  return { store, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
}

storeConformance('SQLite (real file)', sqliteFactory);
acmeConformance('SQLite (real file)', sqliteFactory);
sshConformance('SQLite (real file)', sqliteFactory);
campaignConformance('SQLite (real file)', sqliteFactory);
inventoryConformance('SQLite (real file, reader thread)', sqliteFactory);
inventoryConformance('SQLite (in memory, main thread)', async () => {
  const store = new SqliteStore({ path: ':memory:' });
  await store.migrate();
  return { store, cleanup: async () => undefined };
});

test('SQLite runs in WAL mode with synchronous=FULL', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-sqlite-'));
  const store = new SqliteStore({ path: join(dir, 'rampart.db') });
  try {
    assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(store.db.pragma('synchronous', { simple: true }), 2);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ACME writes that need no fsync (used nonces, rate events) never wait for a write lock in the busy handler, and one nonce is used once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-sqlite-'));
  const store = new SqliteStore({ path: join(dir, 'rampart.db') });
  const other = new Database(join(dir, 'rampart.db'));
  try {
    await store.migrate();
    const expires = new Date(Date.now() + 60_000);
    assert.equal(await store.consumeAcmeNonce('warm', expires), true);
    // Another connection (a CLI's tidy batch) holds the write lock; a timer on this event loop releases it.
    other.exec('BEGIN IMMEDIATE');
    other.prepare("INSERT INTO acme_rate_events (bucket, at) VALUES ('theirs', 1)").run();
    let ticks = 0;
    const ticker = setInterval(() => { ticks++; }, 10);
    const released = new Promise<void>((r) => setTimeout(() => { other.exec('COMMIT'); r(); }, 300));
    const t0 = Date.now();
    const [a, again, b] = await Promise.all([
      store.consumeAcmeNonce('n-1', expires), store.consumeAcmeNonce('n-1', expires), store.consumeAcmeNonce('n-2', expires),
      store.addRateEvents(['orders:acct', 'orders:acct', 'names:example.test'], new Date(5)),
    ]);
    const waited = Date.now() - t0;
    clearInterval(ticker);
    await released;
    assert.deepEqual([a, again, b], [true, false, true], 'the second use of n-1 in the same batch is refused');
    assert.ok(waited >= 250, `written after the other connection's commit (${waited} ms)`);
    assert.ok(ticks >= 10, `the event loop ran meanwhile (${ticks} ticks of 10 ms)`);
    assert.equal(await store.consumeAcmeNonce('n-1', expires), false, 'still used later');
    assert.equal(await store.countRateEvents('orders:acct', new Date(0)), 1);
    assert.equal(await store.countRateEvents('theirs', new Date(0)), 1);
  } finally {
    other.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('after tidy removes rows, the name-search index is compacted in short steps: its removed entries and delete markers are merged away', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-sqlite-'));
  const store = new SqliteStore({ path: join(dir, 'rampart.db') });
  try {
    await store.migrate();
    await store.saveIssuer(issuer('int-a'));
    const all = Array.from({ length: 600 }, (_, i) => `c${i}`);
    for (let i = 0; i < all.length; i += 100) {
      await Promise.all(all.slice(i, i + 100).map((s, j) => store.insertCertificate(cert(s, 'int-a', { sans: [`host${i + j}.compact.test`] }))));
    }
    const dataRows = (): number => Number((store.db.prepare('SELECT count(*) AS n FROM certificates_search_data').get() as { n: number }).n);
    assert.equal(await store.removeCertificates(all.slice(0, 400), auditOf('certificate.archive', 'archive:x')), 400);
    const afterRemoval = dataRows();
    const steps = await store.compactSearchIndex();
    assert.ok(steps >= 2, `merged in ${steps} steps`);
    assert.ok(dataRows() < afterRemoval, `index pages ${afterRemoval} -> ${dataRows()}`);
    assert.equal(await store.compactSearchIndex(), 1, 'nothing left: one step that finds no work');
    const page = await store.listCertificates({ name: 'compact.test' }, { limit: 500, countCap: 1000 }, new Date(T0 + DAY));
    assert.equal(page.total, 200);
    assert.deepEqual(page.items.map((c) => c.serial).sort(), all.slice(400).sort());
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
