import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { histogramQuantile, MetricHistory } from './metric-history.js';
import { RampartMetrics } from './metrics.js';

describe('metric history (dashboard charts)', () => {
  it('histogramQuantile interpolates within the bucket and is null without observations', () => {
    assert.equal(histogramQuantile(0.99, new Map([[0.1, 0], [Infinity, 0]])), null);
    // 100 observations: 50 ≤ 0.01, 100 ≤ 0.1; rank 99 lies 49/50 of the way from 0.01 to 0.1.
    const q = histogramQuantile(0.99, new Map([[0.01, 50], [0.1, 100], [Infinity, 100]]))!;
    assert.ok(Math.abs(q - (0.01 + 0.09 * 49 / 50)) < 1e-9, String(q));
    // Everything beyond the last finite bucket: the highest finite bound.
    assert.equal(histogramQuantile(0.99, new Map([[0.5, 0], [1, 0], [Infinity, 10]])), 1);
  });

  it('keeps at most `points` samples with rates, p99, error budget and lag from the registry', async () => {
    const m = new RampartMetrics({ defaultMetrics: false });
    const h = new MetricHistory({ registry: m.registry, sampleSeconds: 10, points: 3, availability: { validation: 99.9, issuance: null } });
    await h.sample(); // the baseline
    assert.equal(h.view().t.length, 0);
    for (let i = 0; i < 5; i++) {
      m.issued.inc({ profile: 'server' }, 2);
      for (let j = 0; j < 100; j++) {
        m.ocspResponses.inc({ status: 'good', source: 'cache' });
        m.ocspDuration.observe(j < 98 ? 0.0002 : 0.04);
      }
      if (i === 4) m.httpDuration.observe({ listener: 'http', route: '/crl/:id', method: 'GET', code: '500' }, 0.01);
      await new Promise((r) => setTimeout(r, 20));
      await h.sample();
    }
    const v = h.view();
    assert.equal(v.t.length, 3, 'bounded to `points`');
    assert.ok(v.issuancePerSecond.every((x) => x > 0) && v.ocspPerSecond.every((x) => x > 0));
    assert.ok(v.ocspP99Ms.every((x) => x !== null && x > 25 && x <= 50), JSON.stringify(v.ocspP99Ms));
    assert.deepEqual(v.replicationLagSeconds, [null, null, null]);
    // 1 error in 301 validation requests over the window against a 0.1 % budget: the budget is overspent.
    assert.deepEqual(v.errorBudgetRemaining.validation.slice(0, 2), [100, 100]);
    assert.ok(v.errorBudgetRemaining.validation[2]! < 0, JSON.stringify(v.errorBudgetRemaining));
    assert.deepEqual(v.errorBudgetRemaining.issuance, [null, null, null], 'no availability target: no budget');
  });
});
