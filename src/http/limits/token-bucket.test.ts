import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressKey, tokenKey, TokenBuckets } from './token-bucket.js';
import { limitsSchema } from '../../config/limits-config.js';

test('a bucket allows its burst, then refuses with the time to the next token, and refills', () => {
  let now = 0;
  const b = new TokenBuckets({ ratePerSecond: 2, burst: 5 }, 100, () => now);
  for (let i = 0; i < 5; i++) assert.deepEqual(b.take('a'), { ok: true });
  assert.deepEqual(b.take('a'), { ok: false, retryAfterSeconds: 1 });
  assert.deepEqual(b.take('b'), { ok: true }, 'other keys have their own bucket');
  now += 500; // one token back
  assert.deepEqual(b.take('a'), { ok: true });
  assert.equal(b.take('a').ok, false);
  now += 60_000; // full again, never beyond the burst
  for (let i = 0; i < 5; i++) assert.equal(b.take('a').ok, true);
  assert.equal(b.take('a').ok, false);
});

test('slow rates give a Retry-After of several seconds; rate 0 turns the limit off', () => {
  const now = 0;
  const slow = new TokenBuckets({ ratePerSecond: 0.1, burst: 1 }, 10, () => now);
  assert.equal(slow.take('x').ok, true);
  assert.deepEqual(slow.take('x'), { ok: false, retryAfterSeconds: 10 });
  const off = new TokenBuckets({ ratePerSecond: 0, burst: 1 }, 10, () => now);
  for (let i = 0; i < 100; i++) assert.equal(off.take('x').ok, true);
  assert.equal(off.size, 0);
});

test('peek looks without taking (failed-authentication limit)', () => {
  let now = 0;
  const b = new TokenBuckets({ ratePerSecond: 1, burst: 2 }, 10, () => now);
  assert.equal(b.peek('ip').ok, true);
  b.take('ip'); b.take('ip');
  assert.deepEqual(b.peek('ip'), { ok: false, retryAfterSeconds: 1 });
  assert.equal(b.peek('ip').ok, false, 'peek did not take anything');
  now += 1000;
  assert.equal(b.peek('ip').ok, true);
});

test('the map is bounded: a flood of addresses evicts the least recently seen buckets', () => {
  let now = 0;
  const b = new TokenBuckets({ ratePerSecond: 1, burst: 1 }, 1000, () => now);
  b.take('victim');
  assert.equal(b.take('victim').ok, false);
  for (let i = 0; i < 100_000; i++) b.take(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  assert.equal(b.size, 1000);
  assert.equal(b.evicted, 100_000 + 1 - 1000);
  // A key in use stays: touching moves it to the end.
  const c = new TokenBuckets({ ratePerSecond: 1, burst: 1 }, 3, () => now);
  c.take('hot'); c.take('a'); c.take('b');
  c.take('hot'); // refused, but touched
  c.take('c'); // evicts 'a', the least recently seen
  assert.equal(c.take('hot').ok, false, 'the busy key kept its (empty) bucket');
});

test('addressKey: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by /64', () => {
  assert.equal(addressKey('192.0.2.7'), '192.0.2.7');
  assert.equal(addressKey('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(addressKey('2001:db8::ffff:2'), addressKey('2001:db8:0:0:1:2:3:4'));
  assert.notEqual(addressKey('2001:db8:0:1::1'), addressKey('2001:db8::1'));
  assert.equal(addressKey('2001:0DB8:0000:0001:aaaa::1'), '2001:db8:0:1::/64');
  assert.equal(addressKey('::1'), '0:0:0:0::/64');
  assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(addressKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
});

test('tokenKey: a digest of the whole credential, so made-up secrets with a known id get other buckets', () => {
  const a = tokenKey('Bearer rmp_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
  const b = tokenKey('Bearer rmp_0123456789ab_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB');
  assert.ok(a && b && a !== b);
  assert.equal(tokenKey('bearer rmp_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'), a);
  assert.equal(tokenKey(undefined), null);
  assert.equal(tokenKey(`Basic ${Buffer.from('est:rmp_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA').toString('base64')}`), a, 'EST: the token as the basic-auth password');
  assert.equal(tokenKey('Basic bm9jb2xvbg=='), null);
});

test('limits configuration: production defaults, bounds, and cross-field checks', () => {
  const d = limitsSchema.parse({});
  assert.deepEqual(d.api.perIp, { ratePerSecond: 200, burst: 400 });
  assert.equal(d.overload.maxInFlight.issuance, 64);
  assert.equal(d.overload.eventLoopDelay.shedApiMs, 200);
  assert.ok(d.overload.eventLoopDelay.shedValidationMs > d.overload.eventLoopDelay.shedApiMs);
  assert.equal(d.https.headersTimeoutMs, 10_000);
  assert.ok(d.http.maxConnections > d.https.maxConnections);
  assert.equal(limitsSchema.safeParse({ http: { headersTimeoutMs: 20_000, requestTimeoutMs: 10_000 } }).success, false);
  assert.equal(limitsSchema.safeParse({ overload: { eventLoopDelay: { shedApiMs: 500, shedValidationMs: 100 } } }).success, false);
  assert.equal(limitsSchema.safeParse({ api: { perIp: { rate: 1 } } }).success, false, 'unknown members are refused');
  assert.equal(limitsSchema.safeParse({ api: { perIp: { ratePerSecond: 0.5, burst: 3 } } }).success, true);
});
