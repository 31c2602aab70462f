import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEntryInput } from '../core/types.js';
import { ThrottledDenialAudit, type Denial } from './throttled-denial-audit.js';

function setup(o: { windowMs?: number; maxKeys?: number } = {}) {
  let t = 1_000_000;
  const entries: AuditEntryInput[] = [];
  const errors: unknown[] = [];
  const a = new ThrottledDenialAudit({ record: async (e) => { entries.push(e); }, onError: (e) => errors.push(e), now: () => t, ...o });
  return { a, entries, errors, advance: (ms: number) => { t += ms; } };
}

const d = (over: Partial<Denial> = {}): Denial => ({
  action: 'ratelimit.denied', key: 'perIp 203.0.113.7', source: '203.0.113.7', channel: 'api', target: 'POST /api/v1/certificates', details: { limit: 'perIp' }, ...over,
});

describe('throttled denial audit', () => {
  it('audits the first refusal of a pair, counts the rest of the window, reports them with the next entry', () => {
    const s = setup({ windowMs: 60_000 });
    assert.equal(s.a.note(d()), true);
    for (let i = 0; i < 49; i++) assert.equal(s.a.note(d()), false);
    assert.equal(s.entries.length, 1);
    assert.deepEqual(s.entries[0], {
      actor: 'anonymous', source: '203.0.113.7', channel: 'api', action: 'ratelimit.denied', target: 'POST /api/v1/certificates', outcome: 'denied',
      details: { limit: 'perIp', windowSeconds: 60 },
    });
    s.advance(60_000);
    assert.equal(s.a.note(d()), true);
    assert.equal(s.entries[1]!.details!.suppressedBefore, 49);
  });

  it('keeps pairs apart: another key, another action', () => {
    const s = setup();
    s.a.note(d());
    s.a.note(d({ key: 'perIp 198.51.100.1', source: '198.51.100.1' }));
    s.a.note(d({ key: 'authFailuresPerIp 203.0.113.7' }));
    s.a.note(d({ action: 'acme.auth', channel: 'acme', target: 'POST /acme/new-order', actor: 'acme-account:x' }));
    assert.equal(s.entries.length, 4);
    assert.equal(s.entries[3]!.channel, 'acme');
    assert.equal(s.entries[3]!.actor, 'acme-account:x');
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
    const a = new ThrottledDenialAudit({ record: async () => { throw new Error('database down'); }, onError: (e) => errors.push(e) });
    assert.equal(a.note(d()), true);
    await new Promise((r) => setImmediate(r));
    assert.equal(errors.length, 1);
  });
});
