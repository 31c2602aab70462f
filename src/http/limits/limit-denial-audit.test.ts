import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEntryInput } from '../../core/types.js';
import { LimitDenialAudit, type LimitDenial } from './limit-denial-audit.js';

function setup(o: { windowMs?: number; maxKeys?: number } = {}) {
  let t = 1_000_000;
  const entries: AuditEntryInput[] = [];
  const errors: unknown[] = [];
  const a = new LimitDenialAudit({ record: async (e) => { entries.push(e); }, onError: (e) => errors.push(e), now: () => t, ...o });
  return { a, entries, errors, advance: (ms: number) => { t += ms; } };
}

const d = (over: Partial<LimitDenial> = {}): LimitDenial => ({
  limit: 'perIp', key: '203.0.113.7', source: '203.0.113.7', channel: 'api', path: '/api/v1/certificates', method: 'POST', retryAfterSeconds: 2, ...over,
});

describe('rate-limit denial audit', () => {
  it('audits the first refusal of a pair, counts the rest of the window, reports them with the next entry', () => {
    const s = setup({ windowMs: 60_000 });
    assert.equal(s.a.note(d()), true);
    for (let i = 0; i < 49; i++) assert.equal(s.a.note(d()), false);
    assert.equal(s.entries.length, 1);
    assert.deepEqual(s.entries[0], {
      actor: 'anonymous', source: '203.0.113.7', channel: 'api', action: 'ratelimit.denied', target: 'POST /api/v1/certificates', outcome: 'denied',
      details: { limit: 'perIp', retryAfterSeconds: 2, windowSeconds: 60 },
    });
    s.advance(60_000);
    assert.equal(s.a.note(d()), true);
    assert.equal(s.entries[1]!.details!.suppressedBefore, 49);
  });

  it('keeps pairs apart: another address, another limit, another channel key', () => {
    const s = setup();
    s.a.note(d());
    s.a.note(d({ key: '198.51.100.1', source: '198.51.100.1' }));
    s.a.note(d({ limit: 'authFailuresPerIp' }));
    s.a.note(d({ limit: 'acmePerIp', channel: 'acme', path: '/acme/new-order' }));
    assert.equal(s.entries.length, 4);
    assert.equal(s.entries[3]!.channel, 'acme');
  });

  it('stays bounded: past maxKeys the oldest pair is forgotten', () => {
    const s = setup({ maxKeys: 3 });
    for (const k of ['a', 'b', 'c', 'd']) s.a.note(d({ key: k }));
    assert.equal(s.a.size(), 3);
    assert.equal(s.a.note(d({ key: 'a' })), true, 'a was forgotten, so it is audited again');
    assert.equal(s.a.note(d({ key: 'd' })), false);
  });

  it('a failing audit write is reported, not thrown', async () => {
    const errors: unknown[] = [];
    const a = new LimitDenialAudit({ record: async () => { throw new Error('database down'); }, onError: (e) => errors.push(e) });
    assert.equal(a.note(d()), true);
    await new Promise((r) => setImmediate(r));
    assert.equal(errors.length, 1);
  });
});
