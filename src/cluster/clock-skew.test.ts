import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { ManualClock } from '../core/clock.js';
import { HealthRegistry } from '../health/health.js';
import { ClockSkew } from './clock-skew.js';

const T = Date.parse('2026-12-06T12:00:00Z');
const MIN = 60_000;

describe('ClockSkew', () => {
  it('leaves the clock alone before any round and within a second of the database', () => {
    const skew = new ClockSkew();
    const base = new ManualClock(T);
    const c = skew.signingClock(base);
    assert.equal(c.now().getTime(), T);
    skew.observe(T - 100, T + 100, new Date(T - 300));
    assert.equal(skew.last()!.skewMs, 300);
    assert.equal(c.now().getTime(), T);
    base.set(new Date(T - 5000)); // a test clock may go back while nothing was corrected
    assert.equal(c.now().getTime(), T - 5000);
  });

  it('dates a fast node by the database clock, never later than it', () => {
    const skew = new ClockSkew();
    const base = new ManualClock(T + 10 * MIN);
    const c = skew.signingClock(base);
    // Round from node time T+10min-200 to T+10min+200; the database read T+100 (late in the round).
    skew.observe(T + 10 * MIN - 200, T + 10 * MIN + 200, new Date(T + 100));
    assert.equal(skew.last()!.skewMs, 10 * MIN - 100);
    // The bound says the node leads by 10 min + 100 ms (its true lead is 10 min - 100 .. 10 min + 100).
    assert.equal(c.now().getTime(), T - 100);
  });

  it('dates a slow node by the database clock, never later than it', () => {
    const skew = new ClockSkew();
    const base = new ManualClock(T - 10 * MIN + 200);
    const c = skew.signingClock(base);
    skew.observe(T - 10 * MIN - 200, T - 10 * MIN + 200, new Date(T - 100));
    assert.equal(skew.last()!.skewMs, -10 * MIN + 100);
    assert.equal(c.now().getTime(), T - 100);
  });

  it('never goes back once corrected, whatever the next round says', () => {
    const skew = new ClockSkew();
    const base = new ManualClock(T + 10 * MIN);
    const c = skew.signingClock(base);
    skew.observe(T + 10 * MIN, T + 10 * MIN, new Date(T));
    assert.equal(c.now().getTime(), T);
    // A slow round: its bound says the node leads by 700 ms more.
    skew.observe(T + 10 * MIN - 800, T + 10 * MIN + 700, new Date(T));
    assert.equal(c.now().getTime(), T);
    base.advance(1000);
    assert.equal(c.now().getTime(), T + 300);
  });

  it('warns in health and exports rampart_clock_skew_seconds', async () => {
    const skew = new ClockSkew();
    const health = new HealthRegistry();
    const registry = new Registry();
    skew.register(health, registry, 2);
    let r = await health.run();
    assert.equal(r.checks.clockSkew!.status, 'pass');
    assert.doesNotMatch(await registry.metrics(), /^rampart_clock_skew_seconds[ {]/m);
    skew.observe(T - 10, T + 10, new Date(T - 1500));
    r = await health.run();
    assert.equal(r.checks.clockSkew!.status, 'pass');
    skew.observe(T - 10, T + 10, new Date(T + 600_000));
    r = await health.run();
    assert.equal(r.checks.clockSkew!.status, 'warn');
    assert.equal(r.status, 'degraded');
    assert.match(r.checks.clockSkew!.detail, /600\.0 s behind the database clock/);
    assert.match(await registry.metrics(), /^rampart_clock_skew_seconds\{reference="database"\} -600$/m);
  });
});
