/**
 * Bulk loads and name search (sqlite-bulk.ts): rows loaded in bulk mode are
 * indexed once when the mode ends, a load that never ended is indexed at the
 * next open, and afterwards the insert trigger indexes new rows again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore } from './sqlite-store.js';
import { cert, issuer, T0 } from '../conformance/fixtures.js';
import type { BulkCertificate } from '../store.js';

const NOW = new Date(T0);
const row = (serial: string, dns: string): BulkCertificate => ({ ...cert(serial, 'int-a', { subject: `CN=${dns}`, sans: [dns] }), crlEntry: null });

async function names(s: SqliteStore, name: string): Promise<string[]> {
  return (await s.listCertificates({ name }, { limit: 100 }, NOW)).items.map((c) => c.serial).sort();
}

const trigger = (s: SqliteStore): number =>
  (s.db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'trigger' AND name = 'certificates_search_insert'").get() as { n: number }).n;
const mark = (s: SqliteStore): unknown => (s.db.prepare("SELECT value FROM meta WHERE key = 'search_index_from'").get() as { value: string } | undefined)?.value;

function withDir(fn: (path: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-bulk-'));
  return fn(join(dir, 'rampart.db')).finally(() => rmSync(dir, { recursive: true, force: true }));
}

test('rows of a bulk load are searchable once the load ends, older and later rows too', () => withDir(async (path) => {
  const s = new SqliteStore({ path });
  try {
    await s.migrate();
    await s.saveIssuer(issuer('int-a'));
    await s.insertCertificate(cert('01', 'int-a', { subject: 'CN=before.bulk.test', sans: ['before.bulk.test'] }));
    await s.bulkLoadMode(true);
    assert.equal(trigger(s), 0, 'no per-row indexing while the load runs');
    assert.equal(mark(s), '1', 'the mark says which rows the index already holds');
    await s.bulkInsertCertificates([row('0a', 'a.bulk.test'), row('0b', 'b.bulk.test')]);
    await s.bulkInsertCertificates([row('0c', 'c.bulk.test')]);
    await s.bulkLoadMode(false);
    assert.equal(trigger(s), 1);
    assert.equal(mark(s), undefined);
    assert.deepEqual(await names(s, 'bulk.test'), ['01', '0a', '0b', '0c']);
    await s.insertCertificate(cert('02', 'int-a', { subject: 'CN=after.bulk.test', sans: ['after.bulk.test'] }));
    assert.deepEqual(await names(s, 'after.bulk'), ['02'], 'the trigger indexes new rows again');
    assert.deepEqual(await names(s, 'c.bulk'), ['0c'], 'each row indexed once');
  } finally {
    await s.close();
  }
}));

test('a load that never ended is indexed at the next open, and a second interrupted load keeps the first mark', () => withDir(async (path) => {
  const s = new SqliteStore({ path });
  await s.migrate();
  await s.saveIssuer(issuer('int-a'));
  await s.bulkLoadMode(true);
  await s.bulkInsertCertificates([row('0a', 'a.crash.test')]);
  await s.close(); // no bulkLoadMode(false): as if the process had been killed

  const again = new SqliteStore({ path });
  const raw = again.db;
  assert.equal(trigger(again), 0);
  // A second load starts before anything reopened the store through migrate(): its mark must not hide the first load's rows.
  await again.bulkLoadMode(true);
  assert.equal(mark(again), '0');
  await again.bulkInsertCertificates([row('0b', 'b.crash.test')]);
  await again.close();
  assert.equal(raw.open, false);

  const s3 = new SqliteStore({ path });
  try {
    await s3.migrate();
    assert.equal(trigger(s3), 1);
    assert.equal(mark(s3), undefined);
    assert.deepEqual(await names(s3, 'crash.test'), ['0a', '0b']);
    await s3.insertCertificate(cert('0c', 'int-a', { subject: 'CN=c.crash.test', sans: ['c.crash.test'] }));
    assert.deepEqual(await names(s3, 'crash.test'), ['0a', '0b', '0c']);
    assert.deepEqual((s3.db.prepare("SELECT count(*) AS n FROM certificates_search WHERE certificates_search MATCH 'crash'").get() as { n: number }).n, 3);
  } finally {
    await s3.close();
  }
}));
