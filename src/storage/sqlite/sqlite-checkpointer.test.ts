/**
 * WAL checkpoints in their own thread, on a real database file: what the
 * store's connection commits reaches the database file without the main
 * connection checkpointing (its automatic checkpoint is only a backstop far
 * above what is written here); a thread that dies is started again; closing
 * the store stops it.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { BACKSTOP_AUTOCHECKPOINT_PAGES } from './sqlite-checkpointer.js';
import { SqliteStore } from './sqlite-store.js';

const ROWS = 600; // 600 × 8 KiB ≈ 1,200+ pages: past SQLite's default automatic checkpoint, far below the backstop

/** Rows of `t` in the database file alone, as a copy without its WAL sees them. */
function rowsInMainFile(dir: string, dbPath: string): number {
  const copy = join(dir, `copy-${Date.now()}.db`);
  copyFileSync(dbPath, copy);
  const db = new Database(copy, { readonly: true });
  try {
    const has = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 't'").get() as { n: number };
    return has.n ? (db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n : 0;
  } finally {
    db.close();
  }
}

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** As rowsInMainFile, or null when the copy caught a checkpoint half-written. */
function rowsOrNull(dir: string, dbPath: string): number | null {
  try { return rowsInMainFile(dir, dbPath); } catch { return null; }
}

/** The thread's last checkpoint copied every frame of the WAL (the file is then whole: nothing writes it). */
function caughtUp(store: SqliteStore): boolean {
  const s = store.checkpointer!.stats;
  return s.logFrames > 0 && s.checkpointedFrames === s.logFrames;
}

function writeRows(store: SqliteStore, from: number, count: number): void {
  const ins = store.db.prepare('INSERT INTO t (id, body) VALUES (?, ?)');
  const tx = store.db.transaction(() => { for (let i = from; i < from + count; i++) ins.run(i, Buffer.alloc(8192, i % 251)); });
  tx();
}

test('committed frames reach the database file through the checkpointer thread, not the main connection', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-ckpt-'));
  const path = join(dir, 'rampart.db');
  const store = new SqliteStore({ path });
  t.after(async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); });
  await store.migrate();
  store.db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)');
  store.db.pragma('wal_checkpoint(TRUNCATE)');

  store.offloadCheckpoints();
  assert.equal(store.db.pragma('wal_autocheckpoint', { simple: true }), BACKSTOP_AUTOCHECKPOINT_PAGES);
  writeRows(store, 0, ROWS);
  // The main connection did not checkpoint (its threshold is far above); the thread copies the frames.
  await until('the checkpointer to copy every frame', () => caughtUp(store) && rowsOrNull(dir, path) === ROWS);
  const s = store.checkpointer!.stats;
  assert.ok(s.checkpointedFrames > 0 && s.errors === 0, JSON.stringify(s));

  // A thread that dies is replaced, and the replacement checkpoints too.
  await store.checkpointer!.kill();
  await until('a new checkpointer thread', () => store.checkpointer!.stats.started === 2);
  writeRows(store, ROWS, ROWS);
  await until('the new thread to copy the new frames', () => caughtUp(store) && rowsOrNull(dir, path) === 2 * ROWS);
});

test('without the checkpointer (CLI processes) the connection keeps SQLite\'s own automatic checkpoint', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-ckpt-'));
  const path = join(dir, 'rampart.db');
  const store = new SqliteStore({ path });
  t.after(async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); });
  await store.migrate();
  assert.equal(store.db.pragma('wal_autocheckpoint', { simple: true }), 1000);
  assert.equal(store.checkpointer!.active, false);
});

test('closing the store stops the thread and SQLite removes the WAL', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-ckpt-'));
  const path = join(dir, 'rampart.db');
  const store = new SqliteStore({ path });
  try {
    await store.migrate();
    store.offloadCheckpoints();
    store.db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)');
    writeRows(store, 0, 50);
    await store.close();
    assert.equal(store.checkpointer!.active, false);
    assert.equal(existsSync(`${path}-wal`), false, 'the last connection to close checkpoints and deletes the WAL');
    assert.equal(rowsInMainFile(dir, path), 50);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
