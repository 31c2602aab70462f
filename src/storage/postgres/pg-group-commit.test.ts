import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PgGroupCommit, type Outcome } from './pg-group-commit.js';

test('units submitted while a batch commits go together in the next one; outcomes settle each unit alone', async () => {
  const batches: number[][] = [];
  let release: () => void = () => undefined;
  const g = new PgGroupCommit<number, number>(async (items) => {
    batches.push(items);
    if (batches.length === 1) await new Promise<void>((r) => { release = r; });
    return items.map((i): Outcome<number> => (i === 13 ? { ok: false, error: new Error('refused 13') } : { ok: true, value: i * 10 }));
  });
  const first = g.submit(1);
  await new Promise((r) => setImmediate(r));
  const later = [2, 13, 4].map((i) => g.submit(i));
  release();
  assert.equal(await first, 10);
  const settled = await Promise.allSettled(later);
  assert.deepEqual(settled.map((s) => (s.status === 'fulfilled' ? s.value : String((s.reason as Error).message))), [20, 'refused 13', 40]);
  assert.deepEqual(batches, [[1], [2, 13, 4]]);
});

test('a commit that throws rejects its whole batch; the next batch still runs; a long run settles everything', async () => {
  let calls = 0;
  const g = new PgGroupCommit<number, number>(async (items) => {
    calls++;
    if (calls === 1) throw new Error('connection lost for good');
    return items.map((i) => ({ ok: true, value: i }));
  }, 4);
  const a = await Promise.allSettled([g.submit(1), g.submit(2)]);
  assert.deepEqual(a.map((s) => s.status), ['rejected', 'rejected']);
  const many = await Promise.all(Array.from({ length: 1000 }, (_, i) => g.submit(i)));
  assert.equal(many.length, 1000);
  assert.equal(many[999], 999);
  assert.equal(g.stats.largest, 4);
});
