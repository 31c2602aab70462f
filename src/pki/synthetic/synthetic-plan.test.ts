/**
 * The synthetic plan (synthetic-plan.ts) is in issuance order: the expired
 * certificates come first and their notAfter never goes back as the index
 * grows; among the valid ones it never goes back within one lifetime. That
 * order is what keeps the store's expiry indexes growing at a few places
 * during a load. The same seed and count give the same plan.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planCertificate, type SyntheticSpec } from './synthetic-plan.js';

const NOW = Date.UTC(2026, 11, 7);
const spec: SyntheticSpec = { seed: 'order', nowMs: NOW, revokedFraction: 0.1, expiredFraction: 0.25, issuerNotAfterMs: NOW + 5 * 365 * 86_400_000, keyCount: 16, count: 8000 };

test('expired first, then valid; notAfter ascends with the index among the expired and per lifetime among the valid', () => {
  const plans = Array.from({ length: spec.count }, (_, i) => planCertificate(spec, i));
  const expired = plans.filter((p) => p.notAfter.getTime() <= NOW);
  assert.equal(expired.length, spec.count * spec.expiredFraction);
  assert.ok(plans.slice(0, expired.length).every((p) => p.notAfter.getTime() <= NOW), 'the expired are the first indexes');
  const last = new Map<string, number>();
  plans.forEach((p, i) => {
    const kind = p.notAfter.getTime() <= NOW ? 'expired' : `valid:${p.notAfter.getTime() - p.notBefore.getTime()}`;
    const at = p.notAfter.getTime();
    assert.ok(at >= (last.get(kind) ?? -Infinity), `index ${i} (${kind}) ends before the one before it`);
    last.set(kind, at);
  });
  assert.equal([...last.keys()].filter((k) => k.startsWith('valid:')).length, 3, 'the three lifetimes');
  // Spread over the whole range, not bunched: the expired end over two years, the valid over their lifetime.
  assert.ok(NOW - plans[0]!.notAfter.getTime() > 700 * 86_400_000);
  assert.ok(plans[spec.count - 1]!.notAfter.getTime() - NOW > 20 * 86_400_000);
});

test('the same seed and count give the same plan; another count places an index elsewhere', () => {
  const a = planCertificate(spec, 4321);
  assert.deepEqual(planCertificate(spec, 4321), a);
  assert.notEqual(planCertificate({ ...spec, count: 80_000 }, 4321).notAfter.getTime(), a.notAfter.getTime());
  assert.deepEqual(planCertificate({ ...spec, count: 80_000 }, 4321).serial, a.serial, 'the serial depends on the seed and index only');
});
