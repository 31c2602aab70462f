import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { HotCounter } from './hot-counter.js';

describe('HotCounter', () => {
  it('exports what a prom-client Counter would, after each collection, in the text format too', async () => {
    const registry = new Registry();
    const c = new HotCounter({ name: 'x_total', help: 'x', labelNames: ['status', 'source'], registers: [registry] });
    const good = c.slot({ status: 'good', source: 'cache' });
    c.slot({ status: 'revoked', source: 'signed' });
    for (let i = 0; i < 5; i++) good();
    c.inc({ status: 'good', source: 'cache' });
    c.inc({ status: 'unknown', source: 'signed' });
    const values = async () => (await c.get()).values.map((v) => `${String(v.labels.status)}/${String(v.labels.source)}=${v.value}`).sort();
    assert.deepEqual(await values(), ['good/cache=6', 'revoked/signed=0', 'unknown/signed=1']);
    // A second collection adds only what accumulated since the first.
    good();
    assert.deepEqual(await values(), ['good/cache=7', 'revoked/signed=0', 'unknown/signed=1']);
    const text = await registry.metrics();
    assert.match(text, /^# TYPE x_total counter$/m);
    assert.match(text, /^x_total\{status="good",source="cache"\} 7$/m);
    assert.match(text, /^x_total\{status="revoked",source="signed"\} 0$/m);
  });

  it('keeps label sets apart whatever their values contain', async () => {
    const c = new HotCounter({ name: 'y_total', help: 'y', labelNames: ['a', 'b'], registers: [new Registry()] });
    c.inc({ a: 'p', b: 'q r' });
    c.inc({ a: 'p q', b: 'r' });
    assert.equal((await c.get()).values.length, 2);
  });
});
