import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { OverloadGovernor } from './overload-governor.js';

const base = { maxInFlight: { validation: 100, issuance: 2, api: 3 }, shedApiMs: 200, shedValidationMs: 1000, sampleMs: 100, delayMinInFlight: 0, retryAfterSeconds: 1 };

test('in-flight caps per class: issuance is shed at its cap while other classes go on', () => {
  const g = new OverloadGovernor({ ...base, delaySource: () => 0 });
  assert.equal(g.tryEnter('issuance'), null);
  assert.equal(g.tryEnter('issuance'), null);
  assert.equal(g.tryEnter('issuance'), 'in_flight');
  assert.equal(g.inFlight('issuance'), 2, 'a shed request is not counted');
  assert.equal(g.tryEnter('api'), null);
  assert.equal(g.tryEnter('validation'), null);
  g.release.issuance();
  assert.equal(g.tryEnter('issuance'), null);
});

test('event-loop delay sheds issuance and API first, validation only at the higher bound', () => {
  let delay = 0;
  const g = new OverloadGovernor({ ...base, delaySource: () => delay });
  delay = 500;
  g.sample();
  assert.equal(g.tryEnter('issuance'), 'event_loop');
  assert.equal(g.tryEnter('api'), 'event_loop');
  assert.equal(g.tryEnter('validation'), null);
  delay = 1500;
  g.sample();
  assert.equal(g.tryEnter('validation'), 'event_loop');
  delay = 5;
  g.sample();
  assert.equal(g.tryEnter('issuance'), null);
});

test('the delay sheds only while the node is busy with requests', () => {
  const delay = 500;
  const g = new OverloadGovernor({ ...base, maxInFlight: { validation: 100, issuance: 100, api: 100 }, delayMinInFlight: 3, delaySource: () => delay });
  g.sample();
  assert.equal(g.tryEnter('api'), null, 'a slow loop with nothing in flight (start-up, a busy host) refuses nothing');
  assert.equal(g.tryEnter('validation'), null);
  assert.equal(g.tryEnter('issuance'), null);
  assert.equal(g.tryEnter('issuance'), 'event_loop', 'three in flight: now the delay is load');
  assert.equal(g.tryEnter('validation'), null, 'validation has the higher bound');
  g.release.api();
  g.release.validation();
  assert.equal(g.tryEnter('issuance'), null, 'below the floor again');
});

test('Retry-After is the configured value plus up to the same again', () => {
  const g = new OverloadGovernor({ ...base, retryAfterSeconds: 2 });
  const seen = new Set<number>();
  for (let i = 0; i < 200; i++) seen.add(g.retryAfter());
  for (const s of seen) assert.ok(s >= 2 && s <= 4, String(s));
  assert.ok(seen.size > 1, 'jittered');
});

test('a saturated event loop is measured (monitorEventLoopDelay) and sheds API but not validation', async () => {
  // Other test files may load the host meanwhile: the busy loop is made far slower than that (100 ms a turn).
  const g = new OverloadGovernor({ ...base, shedApiMs: 50, shedValidationMs: 10_000, sampleMs: 200 });
  g.start();
  try {
    await sleep(250);
    // Keep the loop busy: 100 ms of synchronous work per turn for a bit over a second (bounded).
    const until = Date.now() + 1200;
    await new Promise<void>((resolve) => {
      const spin = (): void => {
        const end = Date.now() + 100;
        while (Date.now() < end) { /* busy */ }
        if (Date.now() < until) setImmediate(spin); else resolve();
      };
      spin();
    });
    assert.ok(g.delayMs > 50, `busy delay ${g.delayMs} ms`);
    assert.equal(g.shedReason('api'), 'event_loop');
    assert.equal(g.shedReason('issuance'), 'event_loop');
    assert.equal(g.shedReason('validation'), null);
    // And it recovers once the loop is idle again (polled, bounded).
    const deadline = Date.now() + 5000;
    while (g.shedReason('api') !== null && Date.now() < deadline) await sleep(100);
    assert.equal(g.shedReason('api'), null, `delay after recovery ${g.delayMs} ms`);
  } finally {
    g.stop();
  }
});
