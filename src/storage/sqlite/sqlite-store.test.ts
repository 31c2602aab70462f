import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acmeConformance } from '../conformance/acme-conformance.js';
import { sshConformance } from '../conformance/ssh-conformance.js';
import { campaignConformance } from '../conformance/campaign-conformance.js';
import { storeConformance } from '../conformance/store-conformance.js';
import { inventoryConformance } from '../conformance/inventory-conformance.js';
import { SqliteStore } from './sqlite-store.js';

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
