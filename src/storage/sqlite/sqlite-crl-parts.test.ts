/**
 * CRLs stored in parts (migration 10, sqlite-crls.ts): a CRL above one part
 * is written one part per group commit and published by its row; old parts
 * go with their CRL, parts of a save that never finished are swept, a fenced
 * save leaves nothing behind.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore } from './sqlite-store.js';
import { CRL_PART_BYTES } from './sqlite-crls.js';
import { DAY, T0, issuer } from '../conformance/fixtures.js';

async function withStore(fn: (s: SqliteStore) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-crl-parts-'));
  const path = join(dir, 'rampart.db');
  const s = new SqliteStore({ path });
  try {
    await s.migrate();
    await s.saveIssuer(issuer('int-a'));
    await fn(s);
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const partsOf = (s: SqliteStore, n: bigint | number): number =>
  Number((s.db.prepare('SELECT count(*) AS n FROM crl_parts WHERE issuer_id = ? AND number = ?').get('int-a', Number(n)) as { n: number }).n);

async function save(s: SqliteStore, size: number, o: { keep?: { count: number; bytes: number }; fence?: { lease: string; holder: string; epoch: bigint } } = {}) {
  const number = await s.nextCrlNumber('int-a');
  const der = new Uint8Array(randomBytes(size));
  await s.saveCrl({ issuerId: 'int-a', number, thisUpdate: new Date(T0), nextUpdate: new Date(T0 + DAY), der, entries: 1 }, o.fence, o.keep);
  return { number, der };
}

test('a CRL above one part: one group commit per part, then its row; read back whole', () => withStore(async (s) => {
  const size = 3 * CRL_PART_BYTES + 5;
  const before = s.group.stats.batches;
  const a = await save(s, size);
  assert.ok(s.group.stats.batches - before >= 5, `4 parts and the row in separate commits (${s.group.stats.batches - before})`);
  assert.equal(partsOf(s, a.number), 4);
  const row = s.db.prepare('SELECT length(der) AS len, parts, size FROM crls WHERE number = ?').get(Number(a.number)) as Record<string, number>;
  assert.deepEqual({ ...row }, { len: 0, parts: 4, size });
  assert.ok(Buffer.from((await s.latestCrl('int-a'))!.der).equals(Buffer.from(a.der)));
  const small = await save(s, CRL_PART_BYTES);
  assert.equal(partsOf(s, small.number), 0, 'up to one part: in the row itself');
  assert.ok(Buffer.from((await s.latestCrl('int-a'))!.der).equals(Buffer.from(small.der)));
}));

test('parts go with their CRL when retention drops it', () => withStore(async (s) => {
  const a = await save(s, 2 * CRL_PART_BYTES + 1);
  const b = await save(s, 2 * CRL_PART_BYTES + 1, { keep: { count: 1, bytes: 1e9 } });
  assert.deepEqual((await s.storedCrls('int-a')).map((c) => c.number), [b.number]);
  assert.equal(partsOf(s, a.number), 0, 'the dropped CRL left no part');
  assert.equal(partsOf(s, b.number), 3);
}));

test('parts of a save that never finished are swept once old; parts being written are not', () => withStore(async (s) => {
  const put = s.db.prepare('INSERT INTO crl_parts (issuer_id, number, part, written_at, bytes) VALUES (?, ?, ?, ?, ?)');
  put.run('int-a', 900, 0, Date.now() - 11 * 60_000, Buffer.alloc(10));
  put.run('int-a', 900, 1, Date.now() - 11 * 60_000, Buffer.alloc(10));
  put.run('int-a', 901, 0, Date.now() - 60_000, Buffer.alloc(10));
  await save(s, 100);
  assert.equal(partsOf(s, 900), 0, 'an old orphan is removed');
  assert.equal(partsOf(s, 901), 1, 'a recent one may be a save in progress elsewhere: kept');
  // A CRL row from before migration 10 (no size): its size is its der's.
  s.db.prepare('INSERT INTO crls (issuer_id, number, this_update, next_update, der, entries) VALUES (?, ?, ?, ?, ?, ?)').run('int-a', 950, T0, T0 + DAY, Buffer.alloc(77), 0);
  assert.deepEqual((await s.storedCrls('int-a')).map((c) => c.size).slice(0, 1), [77]);
}));

test('a fenced save of a parted CRL is refused and leaves no part; a missing part is an error, not a short CRL', () => withStore(async (s) => {
  const a = await s.tryAcquireLease('leader', 'a', 200);
  const fence = { lease: 'leader', holder: 'a', epoch: a.epoch };
  await new Promise((r) => setTimeout(r, 300));
  await s.tryAcquireLease('leader', 'b', 5000);
  const number = await s.nextCrlNumber('int-a');
  await assert.rejects(s.saveCrl({ issuerId: 'int-a', number, thisUpdate: new Date(T0), nextUpdate: new Date(T0 + DAY), der: new Uint8Array(2 * CRL_PART_BYTES + 1), entries: 0 }, fence),
    (e: Error & { code?: string }) => e.code === 'fenced');
  assert.equal(partsOf(s, number), 0);
  assert.equal(await s.latestCrl('int-a'), null);
  const ok = await save(s, 2 * CRL_PART_BYTES + 1);
  s.db.prepare('DELETE FROM crl_parts WHERE number = ? AND part = 1').run(Number(ok.number));
  await assert.rejects(s.latestCrl('int-a'), /parts are missing/);
}));
