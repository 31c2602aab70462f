/**
 * The inventory at scale, checked the same way on every Store: name search
 * by index with the semantics of the old full scan (a substring of the
 * lower-cased subject or of any SAN, wildcards literal), totals counted once
 * and carried by the cursor, and the batched export.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CertificateFilter, CertificateRecord } from '../../core/types.js';
import type { Store } from '../store.js';
import { DAY, T0, cert, issuer } from './fixtures.js';

const NOW = new Date(T0 + 0.5 * DAY);

/** The old semantics, as the full scan had them: `search` LIKE '%needle%' over lower-cased subject and SANs, one per line. */
const oldMatch = (c: CertificateRecord, name: string): boolean => [c.subject, ...c.sans].join('\n').toLowerCase().includes(name.toLowerCase());

async function listAll(s: Store, filter: CertificateFilter, limit: number): Promise<{ serials: string[]; totals: number[] }> {
  const serials: string[] = [];
  const totals: number[] = [];
  let cursor: string | undefined;
  for (let guard = 0; guard < 1000; guard++) {
    const p = await s.listCertificates(filter, { limit, cursor }, NOW);
    serials.push(...p.items.map((c) => c.serial));
    totals.push(p.total);
    if (!p.nextCursor) return { serials, totals };
    cursor = p.nextCursor;
  }
  throw new Error('more pages than the guard allows');
}

async function exportAll(s: Store, filter: CertificateFilter, opts: { withDer?: boolean; batch?: number } = {}): Promise<{ rows: CertificateRecord[]; batches: number }> {
  const rows: CertificateRecord[] = [];
  let batches = 0;
  for await (const b of s.exportCertificates(filter, NOW, opts)) { rows.push(...b); batches++; }
  return { rows, batches };
}

const NAMES: Array<{ subject: string; sans: string[] }> = [
  { subject: 'CN=Alpha Server,O=Example Corp', sans: ['api.Example.org', 'db.internal'] },
  { subject: 'CN=beta.example.org', sans: ['beta.example.org', '10.0.0.7'] },
  { subject: 'CN=Gamma_100%', sans: ['gamma.test'] },
  { subject: 'CN=delta "quoted"', sans: ['delta.internal', 'xn--bcher-kva.example'] },
  { subject: 'CN=ÉCOLE.example', sans: ['école.example'] },
  { subject: '', sans: ['only-san.example.net'] },
];

export function inventoryConformance(name: string, factory: () => Promise<{ store: Store; cleanup: () => Promise<void> }>): void {
  describe(`Inventory conformance: ${name}`, () => {
    const withStore = async (fn: (s: Store, all: CertificateRecord[]) => Promise<void>) => {
      const { store, cleanup } = await factory();
      try {
        await store.saveIssuer(issuer('int-a'));
        await store.saveIssuer({ ...issuer('int-b'), active: false });
        const all: CertificateRecord[] = [];
        // Inserted concurrently: they go through group commit together, and each must be indexed with its row.
        await Promise.all(Array.from({ length: 36 }, (_, i) => {
          const n = NAMES[i % NAMES.length]!;
          const c = cert((0x100 + i).toString(16), i % 4 === 0 ? 'int-b' : 'int-a', {
            subject: n.subject, sans: n.sans.map((x) => (i < NAMES.length ? x : `h${i}.${x}`)),
            profile: i % 3 === 0 ? 'client' : 'server', notAfter: new Date(T0 + (i + 1) * DAY),
          });
          all.push(c);
          return store.insertCertificate(c);
        }));
        await store.revokeCertificate('101', 1, new Date(T0));
        all.find((c) => c.serial === '101')!.status = 'revoked';
        all.sort((a, b) => a.serial.localeCompare(b.serial));
        await fn(store, all);
      } finally {
        await store.close();
        await cleanup();
      }
    };

    it('name search finds exactly what the old scan found: subject or any SAN, any case, wildcards and quotes literal', () => withStore(async (s, all) => {
      const needles = ['alpha s', 'EXAMPLE.ORG', 'b.int', 'h12.', '_100%', '"quoted"', 'école', 'ÉCOLE', 'only-san', '10.0.0', 'corp\nh', 'nothing-like-this', 't%t', 'a_p'];
      for (const needle of needles) {
        const expected = all.filter((c) => oldMatch(c, needle)).map((c) => c.serial).sort();
        const { serials, totals } = await listAll(s, { name: needle }, 4);
        assert.deepEqual([...serials].sort(), expected, `name=${JSON.stringify(needle)}`);
        assert.equal(totals[0], expected.length, `total for name=${JSON.stringify(needle)}`);
      }
      // Combined with the other filters.
      const combined: CertificateFilter = { name: 'example', status: 'good', profile: 'server', issuerId: 'int-a' };
      const expected = all.filter((c) => oldMatch(c, 'example') && c.status === 'good' && c.notAfter > NOW && c.profile === 'server' && c.issuerId === 'int-a');
      assert.deepEqual((await listAll(s, combined, 5)).serials.sort(), expected.map((c) => c.serial).sort());
    }));

    it('a name shorter than 3 characters and a cursor not made here are refused (malformed), changing nothing', () => withStore(async (s) => {
      for (const name of ['ab', 'é', 'x']) {
        await assert.rejects(s.listCertificates({ name }, { limit: 5 }, NOW), (e: Error & { code?: string }) => e.code === 'malformed' && /at least 3/.test(e.message));
        await assert.rejects(exportAll(s, { name }), (e: Error & { code?: string }) => e.code === 'malformed');
      }
      for (const cursor of ['abc', '1.2.3', '-1', '9'.repeat(19)]) {
        await assert.rejects(s.listCertificates({}, { limit: 5, cursor }, NOW), (e: Error & { code?: string }) => e.code === 'malformed');
      }
      assert.equal((await s.countCertificates()).total, 36);
    }));

    it('every filter pages through all matches; the total is the first page\'s, carried by the cursor', () => withStore(async (s, all) => {
      const cases: Array<[CertificateFilter, (c: CertificateRecord) => boolean]> = [
        [{}, () => true],
        [{ status: 'good' }, (c) => c.status === 'good' && c.notAfter > NOW],
        [{ status: 'revoked' }, (c) => c.status === 'revoked'],
        [{ status: 'expired' }, (c) => c.notAfter <= NOW],
        [{ expiringWithinDays: 10 }, (c) => c.status === 'good' && c.notAfter > NOW && c.notAfter.getTime() <= NOW.getTime() + 10 * DAY],
        [{ issuerId: 'int-b' }, (c) => c.issuerId === 'int-b'],
        [{ profile: 'client' }, (c) => c.profile === 'client'],
      ];
      for (const [filter, pred] of cases) {
        const expected = all.filter(pred).map((c) => c.serial).sort();
        const { serials, totals } = await listAll(s, filter, 5);
        assert.deepEqual([...serials].sort(), expected, JSON.stringify(filter));
        assert.equal(new Set(serials).size, serials.length, 'no certificate twice');
        assert.ok(totals.every((t) => t === expected.length), `${JSON.stringify(filter)}: totals ${totals.join(',')}`);
      }
      // Certificates issued while paging: the carried total stays the first page's; a new first page counts them.
      const first = await s.listCertificates({ name: 'only-san' }, { limit: 2 }, NOW);
      await s.insertCertificate(cert('fff1', 'int-a', { subject: 'CN=late', sans: ['late.only-san.example.net'] }));
      const second = await s.listCertificates({ name: 'only-san' }, { limit: 2, cursor: first.nextCursor! }, NOW);
      assert.equal(second.total, first.total);
      assert.equal((await s.listCertificates({ name: 'only-san' }, { limit: 2 }, NOW)).total, first.total + 1);
      assert.ok((await listAll(s, { name: 'late.only' }, 2)).serials.includes('fff1'), 'indexed with its insert');
    }));

    it('export yields every match in batches, in issue order, with or without the DER', () => withStore(async (s, all) => {
      const full = await exportAll(s, {}, { batch: 7 });
      assert.equal(full.rows.length, all.length);
      assert.equal(full.batches, Math.ceil(all.length / 7));
      assert.deepEqual(full.rows.map((c) => c.serial), (await listAll(s, {}, 50)).serials, 'the order of the pages');
      assert.ok(full.rows.every((c) => c.der.length === 0), 'no DER unless asked for');
      const withDer = await exportAll(s, { name: 'example', status: 'good' }, { withDer: true, batch: 4 });
      const expected = all.filter((c) => oldMatch(c, 'example') && c.status === 'good' && c.notAfter > NOW);
      assert.deepEqual(withDer.rows.map((c) => c.serial).sort(), expected.map((c) => c.serial).sort());
      for (const r of withDer.rows) assert.deepEqual([...r.der], [...all.find((c) => c.serial === r.serial)!.der]);
      const revoked = (await exportAll(s, { status: 'revoked' })).rows;
      assert.deepEqual(revoked.map((c) => [c.serial, c.revocationReason]), [['101', 1]]);
      assert.deepEqual((await exportAll(s, { name: 'nothing-like-this' })).rows, []);
    }));

    it('export text: NDJSON and CSV lines for exactly the matches, PEM on request, a bad filter refused before any text', () => withStore(async (s, all) => {
      const text = async (filter: CertificateFilter, format: 'ndjson' | 'csv', pem = false) => {
        let out = '';
        let rows = 0;
        for await (const c of s.exportText(filter, NOW, { format, pem, reasonNames: { 1: 'keyCompromise' }, batch: 5 })) { out += c.text; rows += c.rows; }
        return { out, rows };
      };
      const nd = await text({ name: 'example' }, 'ndjson');
      const lines = nd.out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      const expected = all.filter((c) => oldMatch(c, 'example'));
      assert.equal(nd.rows, expected.length);
      assert.deepEqual(lines.map((l) => l.serial).sort(), expected.map((c) => c.serial).sort());
      const one = lines.find((l) => l.serial === expected[0]!.serial)!;
      assert.deepEqual(Object.keys(one), ['serial', 'issuer', 'subject', 'sans', 'notBefore', 'notAfter', 'status', 'revokedAt', 'reason', 'profile']);
      assert.deepEqual(one.sans, expected[0]!.sans);
      const revoked = (await text({ status: 'revoked' }, 'ndjson')).out;
      assert.equal(JSON.parse(revoked).reason, 'keyCompromise');
      const csv = await text({ status: 'revoked' }, 'csv', true);
      assert.ok(csv.out.startsWith('serial,issuer,subject,sans,notBefore,notAfter,status,revokedAt,reason,profile,pem\r\n'));
      assert.match(csv.out, /^101,int-a,/m);
      assert.match(csv.out, /"-----BEGIN CERTIFICATE-----\n/);
      await assert.rejects(text({ name: 'ab' }, 'csv'), (e: Error & { code?: string }) => e.code === 'malformed');
    }));
  });
}
