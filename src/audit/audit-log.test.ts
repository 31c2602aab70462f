import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../core/clock.js';
import { SqliteStore } from '../storage/sqlite/sqlite-store.js';
import { AuditLog } from './audit-log.js';

async function withLog(fn: (log: AuditLog, store: SqliteStore) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-audit-'));
  const store = new SqliteStore({ path: join(dir, 'a.db') });
  await store.migrate();
  const log = new AuditLog({ store, clock: new ManualClock(Date.UTC(2026, 0, 1)) });
  try {
    for (let i = 0; i < 5; i++) {
      await log.record({ actor: `token:${i}`, source: '127.0.0.1', channel: 'api', action: 'certificate.issue', target: `serial:0${i}`, outcome: 'success', details: { i } });
    }
    await fn(log, store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('an untouched chain verifies', async () => {
  await withLog(async (log) => {
    const v = await log.verify();
    assert.equal(v.ok, true);
    assert.equal(v.entries, 5);
  });
});

test('a changed entry is detected', async () => {
  await withLog(async (log, store) => {
    store.db.prepare("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3").run();
    const v = await log.verify();
    assert.equal(v.ok, false);
    assert.equal(v.problem?.seq, 3);
    assert.match(v.problem!.reason, /changed/);
  });
});

test('a changed detail (with the hash recomputed by an attacker) breaks the next link', async () => {
  await withLog(async (log, store) => {
    const { hashEntry } = await import('./audit-log.js');
    const rows = [];
    for await (const e of store.iterateAudit()) rows.push(e);
    const e2 = { ...rows[1]!, details: { i: 99 } };
    const h = hashEntry(e2);
    store.db.prepare('UPDATE audit_log SET details = ?, hash = ? WHERE seq = 2').run(JSON.stringify(e2.details), h);
    const v = await log.verify();
    assert.equal(v.ok, false);
    assert.equal(v.problem?.seq, 3);
  });
});

test('a removed entry is detected', async () => {
  await withLog(async (log, store) => {
    store.db.prepare('DELETE FROM audit_log WHERE seq = 2').run();
    const v = await log.verify();
    assert.equal(v.ok, false);
    assert.match(v.problem!.reason, /removed or reordered/);
  });
});

test('reordered entries are detected', async () => {
  await withLog(async (log, store) => {
    const swap = store.db.transaction(() => {
      store.db.prepare('UPDATE audit_log SET seq = 100 WHERE seq = 2').run();
      store.db.prepare('UPDATE audit_log SET seq = 2 WHERE seq = 4').run();
      store.db.prepare('UPDATE audit_log SET seq = 4 WHERE seq = 100').run();
    });
    swap();
    const v = await log.verify();
    assert.equal(v.ok, false);
    assert.equal(v.problem?.seq, 2);
  });
});
