/**
 * The fault lab's history checker can fail: a hand-made history and
 * database snapshot pass, and each kind of violation, planted one at a time,
 * is caught and named in the verdict.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildTestCrl, crlNumber, crlSpec, revoked } from '../../src/pki/lint/fixtures.js';
import * as asn from '@peculiar/asn1-x509';
import type { Op } from './history.js';
import { checkHistory, type ViolationKind } from './history-checker.js';
import type { StoreSnapshot } from './store-snapshot.js';

/** A serial's INTEGER contents: a leading 00 keeps it positive. */
const positive = (hex: string): Uint8Array => { const b = Buffer.from(hex, 'hex'); return b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b; };

const crl = (n: number, thisUpdate: number, serials: string[]): StoreSnapshot['crls'][number] => ({
  issuerId: 'int', number: String(n), thisUpdate,
  der: Buffer.from(buildTestCrl(crlSpec({ thisUpdate: new asn.Time(new Date(thisUpdate)), entries: serials.map((s) => revoked(positive(s))), extensions: [crlNumber(n)] }))).toString('base64'),
});

function baseline(): { ops: Op[]; snap: StoreSnapshot } {
  const lease = (id: string, t: number, holder: string, epoch: string): Op => ({ type: 'lease', id, lease: 'active', invoke: t, complete: t + 5, node: null, outcome: 'ok', holder, epoch, expiresAt: t + 8000, dbNow: t });
  const ops: Op[] = [
    lease('l1', 1000, 'n1', '1'),
    { type: 'issue', id: 'i1', key: 'k1', cn: 'i1.lab.test', invoke: 1100, complete: 1200, node: 'n1', outcome: 'ok', serial: 'a1', der: 'REVS' },
    lease('l2', 1300, 'n1', '1'),
    { type: 'revoke', id: 'r1', serial: 'a1', invoke: 1400, complete: 1500, node: 'n1', outcome: 'ok' },
    lease('l3', 1600, 'n1', '1'),
    { type: 'issue', id: 'i2', key: 'k2', cn: 'i2.lab.test', invoke: 1700, complete: 30_000, node: null, outcome: 'unknown' },
    lease('l4', 6000, 'n2', '2'),
    { type: 'issue', id: 'i3', key: 'k3', cn: 'i3.lab.test', invoke: 6100, complete: 6200, node: 'n2', outcome: 'ok', serial: 'b2', der: 'QjI=' },
    lease('l5', 6300, 'n2', '2'),
    { type: 'ocsp', id: 'o1', serial: 'b2', invoke: 6400, complete: 6410, node: 'n2', outcome: 'ok', status: 'good' },
    { type: 'mark', id: 'm1', what: 'heal', invoke: 9000, complete: 9000, node: null, outcome: 'ok' },
    { type: 'ocsp', id: 'p1', serial: 'a1', invoke: 9500, complete: 9510, node: 'n1', outcome: 'ok', status: 'revoked', probe: true },
    { type: 'ocsp', id: 'p2', serial: 'a1', invoke: 9500, complete: 9520, node: 'n2', outcome: 'ok', status: 'revoked', probe: true },
  ];
  const snap: StoreSnapshot = {
    certificates: [
      { serial: 'a1', issuerId: 'int', subject: 'CN=i1.lab.test', der: 'REVS', status: 'revoked', revokedAt: 1450 },
      { serial: 'b2', issuerId: 'int', subject: 'CN=i3.lab.test', der: 'QjI=', status: 'good', revokedAt: null },
    ],
    idempotency: [{ key: 'k1', serial: 'a1' }, { key: 'k3', serial: 'b2' }],
    revocationEvents: ['a1'],
    crls: [crl(1, 1000, []), crl(2, 9100, ['a1'])],
    auditEntries: [
      { action: 'certificate.issue', target: 'serial:a1', outcome: 'success' },
      { action: 'certificate.revoke', target: 'serial:a1', outcome: 'success' },
      { action: 'certificate.issue', target: 'serial:b2', outcome: 'success' },
    ],
    auditChain: { ok: true, entries: 3 },
  };
  return { ops, snap };
}

const opts = { nodes: ['n1', 'n2'], healedAt: 9000, revocationBoundMs: 5000, writeLease: 'active' };

describe('fault lab history checker', () => {
  it('passes a clean history, judging the writes bracketed by lease reads', () => {
    const { ops, snap } = baseline();
    const r = checkHistory(ops, snap, opts);
    assert.equal(r.verdict, `PASS: ${ops.length} operations, no violation`);
    assert.equal(r.leaseJudged, 3);
    assert.deepEqual(r.counts.issue, { acknowledged: 2, failed: 0, unknown: 1 });
    assert.deepEqual(r.counts.ocsp, { acknowledged: 1, failed: 0, unknown: 0 }, 'post-heal probes are not counted as load');
  });

  const cases: Array<[ViolationKind, (ops: Op[], snap: StoreSnapshot) => void]> = [
    ['lost-issuance', (_o, s) => { s.certificates.splice(1, 1); }],
    ['der-mismatch', (_o, s) => { s.certificates[1]!.der = 'WFg='; }],
    ['duplicate-serial', (o) => { o.push({ type: 'issue', id: 'i9', key: 'k9', cn: 'i9.lab.test', invoke: 6500, complete: 6600, node: 'n2', outcome: 'ok', serial: 'a1', der: 'REVS' }); }],
    ['lost-revocation', (_o, s) => { s.certificates[0]!.status = 'good'; }],
    ['revocation-not-visible', (o) => { o.splice(o.findIndex((x) => x.id === 'p2'), 1); }],
    ['revocation-not-visible', (o) => { const p = o.find((x) => x.id === 'p2')!; p.complete = 9000 + 5001; }],
    ['revocation-not-in-crl', (_o, s) => { s.crls[1] = crl(2, 9100, []); }],
    ['revocation-not-in-crl', (_o, s) => { s.crls.splice(1, 1); }],
    ['crl-number-order', (_o, s) => { s.crls[0] = crl(1, 9500, []); }],
    ['crl-number-order', (_o, s) => { s.crls[1] = { ...crl(3, 9100, ['a1']), number: '2' }; }],
    ['audit-chain', (_o, s) => { s.auditChain = { ok: false, entries: 3, problem: { seq: 2, reason: 'entry content does not match its hash: entry was changed' } }; }],
    ['missing-audit', (_o, s) => { s.auditEntries.splice(2, 1); }],
    ['partial-unknown', (_o, s) => { s.idempotency.push({ key: 'k2', serial: 'c3' }); }],
    ['partial-unknown', (_o, s) => { s.certificates.push({ serial: 'c3', issuerId: 'int', subject: 'CN=i2.lab.test', der: 'QzM=', status: 'good', revokedAt: null }); }],
    ['write-without-lease', (o) => { const w = o.find((x) => x.id === 'i1')!; w.node = 'n2'; }],
  ];
  for (const [kind, plant] of cases) {
    it(`catches ${kind}`, () => {
      const { ops, snap } = baseline();
      plant(ops, snap);
      const r = checkHistory(ops, snap, opts);
      assert.equal(r.ok, false);
      assert.ok(r.violations.some((v) => v.kind === kind), `expected ${kind}, got ${JSON.stringify(r.violations)}`);
      assert.match(r.verdict, /^FAIL: \d+ violation\(s\); first: \[/);
    });
  }

  it('an unknown issuance fully present passes', () => {
    const { ops, snap } = baseline();
    snap.idempotency.push({ key: 'k2', serial: 'c3' });
    snap.certificates.push({ serial: 'c3', issuerId: 'int', subject: 'CN=i2.lab.test', der: 'QzM=', status: 'good', revokedAt: null });
    snap.auditEntries.push({ action: 'certificate.issue', target: 'serial:c3', outcome: 'success' });
    assert.equal(checkHistory(ops, snap, opts).ok, true);
  });
});
