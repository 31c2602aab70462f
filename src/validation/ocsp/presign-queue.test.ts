import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { PresignQueue } from './presign-queue.js';

test('pre-signs after the caller returns, paced, bounded, and stops', async () => {
  const done: string[] = [];
  const errors: unknown[] = [];
  const q = new PresignQueue({
    presign: async (issuer, serial) => {
      if (serial === 'bad') throw new Error('signing failed');
      done.push(`${issuer}:${serial}`);
    },
    onError: (e) => errors.push(e), maxPending: 5, ratePerSecond: 100,
  });
  for (const s of ['a', 'bad', 'b', 'c', 'd', 'e', 'f']) q.add('i1', s);
  assert.deepEqual(done, [], 'nothing is signed on the caller\'s turn');
  assert.equal(q.size, 5);
  assert.equal(q.skipped, 2, 'beyond maxPending, entries are left to be signed on first request');
  await sleep(15);
  assert.ok(done.length <= 2, `paced at 100/s: ${done.length} signed after 15 ms`);
  const deadline = Date.now() + 5_000;
  while (done.length < 4 && Date.now() < deadline) await sleep(10);
  assert.deepEqual(done, ['i1:a', 'i1:b', 'i1:c', 'i1:d']);
  assert.equal(errors.length, 1, 'a failure is reported and the queue goes on');
  q.stop();
  q.add('i1', 'g');
  await sleep(30);
  assert.deepEqual(done, ['i1:a', 'i1:b', 'i1:c', 'i1:d']);
});
