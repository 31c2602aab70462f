import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RampartMetrics } from '../metrics/metrics.js';
import { classify, countRequests } from './request-outcomes.js';

describe('request outcomes (SLI counters)', () => {
  it('classifies by listener, method and path; health and metrics are not counted', () => {
    assert.deepEqual(classify('http', 'GET', '/ocsp/MEIw'), { class: 'validation', route: 'ocsp' });
    assert.deepEqual(classify('http', 'POST', '/ocsp'), { class: 'validation', route: 'ocsp' });
    assert.deepEqual(classify('http', 'GET', '/crl/abc.crl'), { class: 'validation', route: 'publication' });
    assert.deepEqual(classify('https', 'POST', '/api/v1/certificates'), { class: 'issuance', route: 'rest' });
    assert.deepEqual(classify('https', 'GET', '/api/v1/certificates?limit=1'), { class: 'api', route: 'rest' });
    assert.deepEqual(classify('https', 'POST', '/acme/new-order'), { class: 'issuance', route: 'acme' });
    assert.deepEqual(classify('https', 'GET', '/acmex'), { class: 'api', route: 'rest' });
    for (const p of ['/healthz', '/readyz?write=1', '/metrics']) {
      assert.equal(classify('http', 'GET', p), null);
      assert.equal(classify('https', 'GET', p), null);
    }
  });

  it('counts finished responses by outcome on a real server (5xx bad, 4xx client errors)', async () => {
    const metrics = new RampartMetrics({ defaultMetrics: false });
    const server = createServer(countRequests(metrics, 'https', (req, res) => {
      const status = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('s') ?? 200);
      res.writeHead(status).end('x');
    }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      for (const s of [200, 201, 404, 503, 500]) await (await fetch(`${base}/api/v1/certificates?s=${s}`, { method: 'POST' })).text();
      await (await fetch(`${base}/readyz?s=503`)).text();
      await (await fetch(`${base}/api/v1/x?s=200`)).text();
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    const values = (await metrics.requests.get()).values.filter((v) => v.value > 0)
      .map((v) => `${String(v.labels.class)}/${String(v.labels.route)}/${String(v.labels.outcome)}=${v.value}`).sort();
    assert.deepEqual(values, ['api/rest/ok=1', 'issuance/rest/client_error=1', 'issuance/rest/ok=2', 'issuance/rest/server_error=2']);
    // every class, route and outcome of the listener exists from the start (errors at 0, not missing)
    assert.equal((await metrics.requests.get()).values.length, 2 * 2 * 3);
    const hist = await metrics.requestDuration.get();
    const count = hist.values.find((v) => v.metricName === 'rampart_request_duration_seconds_count' && v.labels.class === 'issuance');
    assert.equal(count?.value, 5);
  });
});
