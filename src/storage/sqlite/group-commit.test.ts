import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { GroupCommit } from './group-commit.js';
import { WalDurability } from './wal-durability.js';

function openDb(t: { after: (f: () => void) => void }): Database.Database {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-group-'));
  const db = new Database(join(dir, 'g.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)');
  t.after(() => { db.close(); rmSync(dir, { recursive: true, force: true }); });
  return db;
}

test('work asked for at once shares one transaction; a unit that throws is rolled back alone', async (t) => {
  const db = openDb(t);
  const g = new GroupCommit(db);
  const ins = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
  const results = await Promise.allSettled([
    g.run(() => ins.run('a', 1).changes),
    g.run(() => { ins.run('b', 2); throw new Error('refused after a write'); }),
    g.run(() => ins.run('a', 3).changes), // unique violation
    g.run(() => ins.run('c', 4).changes),
  ]);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'rejected', 'fulfilled']);
  assert.match(String((results[1] as PromiseRejectedResult).reason), /refused after a write/);
  assert.match(String((results[2] as PromiseRejectedResult).reason), /UNIQUE/);
  assert.deepEqual(db.prepare('SELECT k, v FROM t ORDER BY k').all(), [{ k: 'a', v: 1 }, { k: 'c', v: 4 }]);
  assert.equal(g.stats.batches, 1);
  assert.equal(g.stats.largest, 4);
});

test('nothing resolves before its commit; a failed commit rejects the whole batch and keeps nothing', async (t) => {
  const db = openDb(t);
  const g = new GroupCommit(db);
  let resolved = false;
  const p = g.run(() => db.prepare("INSERT INTO t (k, v) VALUES ('x', 1)").run()).then(() => { resolved = true; });
  assert.equal(resolved, false);
  assert.equal((db.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n, 0, 'queued work has not run yet');
  await p;
  assert.equal(resolved, true);
  // A reader holding a write lock from another connection makes BEGIN IMMEDIATE fail: every unit of the batch rejects.
  const other = new Database(db.name);
  other.pragma('busy_timeout = 0');
  db.pragma('busy_timeout = 0');
  other.exec('BEGIN IMMEDIATE');
  const both = await Promise.allSettled([g.run(() => db.prepare("INSERT INTO t (k, v) VALUES ('y', 1)").run()), g.run(() => db.prepare("INSERT INTO t (k, v) VALUES ('z', 1)").run())]);
  other.exec('ROLLBACK');
  other.close();
  assert.deepEqual(both.map((r) => r.status), ['rejected', 'rejected']);
  assert.deepEqual(db.prepare('SELECT k FROM t ORDER BY k').all(), [{ k: 'x' }]);
});

test('batches are capped; flush() commits what is queued at once', async (t) => {
  const db = openDb(t);
  const g = new GroupCommit(db, null, 10);
  const ins = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
  const all = Array.from({ length: 25 }, (_, i) => g.run(() => ins.run(`k${i}`, i)));
  g.flush();
  assert.equal((db.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n, 25);
  await Promise.all(all);
  assert.equal(g.stats.batches, 3);
  assert.equal(g.stats.largest, 10);
});

/** A sync the test finishes by hand: shows when callers are released. */
function manualSync(): { durability: WalDurability; started: () => number; finish: (e?: Error) => void } {
  const pending: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  let started = 0;
  const durability = new WalDurability(() => new Promise<void>((resolve, reject) => { started++; pending.push({ resolve, reject }); }));
  return { durability, started: () => started, finish: (e) => { const p = pending.shift()!; if (e) p.reject(e); else p.resolve(); } };
}
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('with a WAL sync: a batch commits with synchronous=NORMAL, resolves only after a sync that began after its commit, and the connection stays FULL', async (t) => {
  const db = openDb(t);
  const s = manualSync();
  const g = new GroupCommit(db, s.durability);
  const ins = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
  const done: string[] = [];
  const a = g.run(() => ins.run('a', 1)).then(() => done.push('a'));
  await tick();
  assert.equal((db.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n, 1, 'committed');
  assert.equal(db.pragma('synchronous', { simple: true }), 2, 'FULL again outside the batch');
  assert.equal(s.started(), 1);
  // Committed while the first sync runs: that sync may have begun before its frames were written, so it waits for the next one.
  const b = g.run(() => ins.run('b', 2)).then(() => done.push('b'));
  await tick();
  assert.deepEqual(done, []);
  s.finish();
  await a;
  await tick();
  assert.deepEqual(done, ['a'], 'b waits for a sync begun after its commit');
  assert.equal(s.started(), 2);
  let barrierDone = false;
  const barrier = g.synced().then(() => { barrierDone = true; });
  await tick();
  assert.equal(barrierDone, false, 'the barrier waits for b');
  s.finish();
  await b;
  await barrier;
  assert.deepEqual(done, ['a', 'b']);
});

test('a failed WAL sync rejects its callers and every later write, and keeps the rows it could not promise', async (t) => {
  const db = openDb(t);
  const s = manualSync();
  const g = new GroupCommit(db, s.durability);
  const ins = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
  const a = g.run(() => ins.run('a', 1));
  await tick();
  s.finish(new Error('EIO: i/o error, fdatasync'));
  await assert.rejects(a, (e: Error) => /could not be synced to disk \(EIO/.test(e.message));
  await assert.rejects(g.run(() => ins.run('b', 2)), /writes are refused until the node is restarted/);
  assert.deepEqual(db.prepare('SELECT k FROM t ORDER BY k').all(), [{ k: 'a' }], 'b was never written');
});

test('WalDurability.forFile: real fdatasync of the WAL; many concurrent writes need few syncs', async (t) => {
  const db = openDb(t);
  const d = WalDurability.forFile(`${db.name}-wal`);
  const g = new GroupCommit(db, d);
  const ins = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
  await Promise.all(Array.from({ length: 200 }, (_, i) => g.run(() => ins.run(`k${i}`, i))));
  assert.equal((db.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n, 200);
  assert.ok(d.stats.syncs >= 1 && d.stats.syncs <= g.stats.batches, `${d.stats.syncs} sync(s) for ${g.stats.batches} batch(es)`);
});

test('a write lock held by another connection is waited for on a timer, not in the busy handler: the event loop keeps running', async (t) => {
  const db = openDb(t);
  db.pragma('busy_timeout = 5000');
  const g = new GroupCommit(db);
  const other = new Database(db.name);
  t.after(() => other.close());
  other.exec('BEGIN IMMEDIATE');
  other.prepare("INSERT INTO t (k, v) VALUES ('theirs', 1)").run();
  // Released by a timer on this same event loop: it only fires if nothing here sleeps in SQLite's busy handler.
  let ticks = 0;
  const ticker = setInterval(() => { ticks++; }, 10);
  const released = new Promise<void>((r) => setTimeout(() => { other.exec('COMMIT'); r(); }, 300));
  const t0 = Date.now();
  const ins = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
  const done = await Promise.all([g.run(() => ins.run('a', 1).changes), g.run(() => ins.run('b', 2).changes)]);
  const waited = Date.now() - t0;
  clearInterval(ticker);
  await released;
  assert.deepEqual(done, [1, 1]);
  assert.ok(waited >= 250, `committed after the other connection's commit (${waited} ms)`);
  assert.ok(ticks >= 10, `the event loop ran meanwhile (${ticks} ticks of 10 ms)`);
  assert.ok(g.stats.lockWaits > 0);
  assert.deepEqual(db.prepare('SELECT k FROM t ORDER BY k').all(), [{ k: 'a' }, { k: 'b' }, { k: 'theirs' }]);
  assert.equal(g.stats.batches, 1, 'the units queued while waiting commit together');
});

test('a write lock held past busy_timeout rejects the queued units with SQLITE_BUSY, and later work commits', async (t) => {
  const db = openDb(t);
  db.pragma('busy_timeout = 150');
  const g = new GroupCommit(db);
  const other = new Database(db.name);
  t.after(() => { if (other.open) other.close(); });
  other.exec('BEGIN IMMEDIATE');
  const t0 = Date.now();
  const r = await Promise.allSettled([g.run(() => db.prepare("INSERT INTO t (k, v) VALUES ('x', 1)").run())]);
  const waited = Date.now() - t0;
  assert.equal(r[0]!.status, 'rejected');
  assert.equal(((r[0] as PromiseRejectedResult).reason as { code?: string }).code, 'SQLITE_BUSY');
  assert.ok(waited >= 140 && waited < 2000, `rejected after the busy_timeout (${waited} ms)`);
  other.exec('ROLLBACK');
  await g.run(() => db.prepare("INSERT INTO t (k, v) VALUES ('y', 1)").run());
  assert.deepEqual(db.prepare('SELECT k FROM t').all(), [{ k: 'y' }]);
  assert.equal(db.pragma('busy_timeout', { simple: true }), 150, 'the connection keeps its busy_timeout');
});
