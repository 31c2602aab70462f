/**
 * One storage conformance suite for every Store implementation. Each
 * implementation's test file calls `storeConformance` with a factory that
 * returns a fresh, migrated store on real storage.
 */
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Store } from '../store.js';
import type { RevokedEntry } from '../../core/types.js';
import { REVOKED_CHUNK_ENTRIES } from '../revoked-chunks.js';
import { DAY, T0, auditOf, cert, issuer } from './fixtures.js';

/** How many CRLs each scope of int-a keeps. */
async function storedCrlCounts(s: Store): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const shard of [undefined, 1, 2]) out.set(shard === undefined ? 'complete' : String(shard), (await s.storedCrls('int-a', shard)).length);
  return out;
}

export function storeConformance(name: string, factory: () => Promise<{ store: Store; cleanup: () => Promise<void> }>): void {
  describe(`Store conformance: ${name}`, () => {
    const withStore = async (fn: (s: Store) => Promise<void>) => {
      const { store, cleanup } = await factory();
      try {
        await store.migrate(); // migrations are idempotent
        await store.saveIssuer(issuer('int-a'));
        await fn(store);
      } finally {
        await store.close();
        await cleanup();
      }
    };

    it('stores and reads certificates; serials are unique', () => withStore(async (s) => {
      await s.insertCertificate(cert('0a', 'int-a'));
      const got = await s.getCertificate('0a');
      assert.equal(got?.subject, 'CN=0a.example.test');
      assert.deepEqual(got?.sans, ['0a.example.test']);
      assert.equal(got?.notAfter.getTime(), T0 + 90 * DAY);
      await assert.rejects(s.insertCertificate(cert('0a', 'int-a')));
      assert.equal(await s.getCertificate('ff'), null);
    }));

    it('a certificate and its audit entry are stored in one transaction; a replay appends nothing', () => withStore(async (s) => {
      const entry = (label: string) => (prev: { seq: number; hash: string } | null) => ({
        seq: (prev?.seq ?? 0) + 1, prevHash: prev?.hash ?? 'genesis', hash: `${label}${(prev?.seq ?? 0) + 1}`, time: new Date(T0),
        actor: 'a', source: 's', channel: 'api' as const, action: 'certificate.issue', target: label, outcome: 'success' as const, details: {},
      });
      await s.appendAudit(entry('before'));
      const claim = { key: 'ka', requester: 'token:a', requestHash: 'h1' };
      const first = await s.insertCertificate(cert('a1', 'int-a'), claim, undefined, entry('serial:a1'));
      assert.equal(first.audit?.seq, 2);
      assert.equal(first.audit?.prevHash, 'before1');
      const again = await s.insertCertificate(cert('a2', 'int-a'), claim, undefined, entry('serial:a2'));
      assert.equal(again.replayed, true);
      assert.equal(again.audit, undefined);
      await assert.rejects(s.insertCertificate(cert('a1', 'int-a'), undefined, undefined, entry('serial:dup')));
      const all = [];
      for await (const e of s.iterateAudit()) all.push(e.target);
      assert.deepEqual(all, ['before', 'serial:a1'], 'no entry for the replay or the refused duplicate');
    }));

    it('idempotency: the same key and body returns the first certificate; another body is refused', () => withStore(async (s) => {
      const claim = { key: 'k1', requester: 'token:a', requestHash: 'h1' };
      const first = await s.insertCertificate(cert('01', 'int-a'), claim);
      assert.equal(first.replayed, false);
      const again = await s.insertCertificate(cert('02', 'int-a'), claim);
      assert.equal(again.replayed, true);
      assert.equal(again.record.serial, '01');
      assert.equal(await s.getCertificate('02'), null, 'the replay wrote nothing');
      await assert.rejects(s.findIdempotent({ ...claim, requestHash: 'h2' }), /different request/);
      assert.equal(await s.findIdempotent({ ...claim, requester: 'token:b' }), null, 'keys are per requester');
    }));

    it('revokes once; unknown serials and double revocations are refused', () => withStore(async (s) => {
      assert.equal(await s.lastRevocationSeq(), 0, 'no revocation yet');
      await s.insertCertificate(cert('10', 'int-a'));
      const r = await s.revokeCertificate('10', 1, new Date(T0 + DAY));
      assert.equal(r.status, 'revoked');
      assert.equal(r.revocationReason, 1);
      await assert.rejects(s.revokeCertificate('10', 1, new Date(T0 + DAY)), /already revoked/);
      await assert.rejects(s.revokeCertificate('99', 1, new Date(T0 + DAY)), /no certificate/);
      const ev = await s.revocationsSince(0, 10);
      assert.deepEqual(ev.map((e) => e.serial), ['10']);
      assert.equal(await s.lastRevocationSeq(), ev[0]!.seq, 'the newest event, where a starting node begins following');
      await s.insertCertificate(cert('12', 'int-a'));
      await s.revokeCertificate('12', 1, new Date(T0 + DAY));
      const [second] = await s.revocationsSince(ev[0]!.seq, 10);
      assert.equal(second?.serial, '12');
      assert.equal(await s.lastRevocationSeq(), second!.seq);
    }));

    it('a revocation and its audit entry commit together; a refused one appends nothing', () => withStore(async (s) => {
      await s.insertCertificate(cert('11', 'int-a'));
      const audit = auditOf('certificate.revoke', 'serial:11');
      await s.revokeCertificate('11', 1, new Date(T0 + DAY), undefined, undefined, audit);
      assert.deepEqual([(await s.lastAudit())?.action, (await s.lastAudit())?.target], ['certificate.revoke', 'serial:11']);
      const seq = (await s.lastAudit())?.seq;
      await assert.rejects(s.revokeCertificate('11', 1, new Date(T0 + DAY), undefined, undefined, audit), /already revoked/);
      await assert.rejects(s.revokeCertificate('98', 1, new Date(T0 + DAY), undefined, undefined, audit), /no certificate/);
      assert.equal((await s.lastAudit())?.seq, seq, 'the refused revocations appended no entry');
    }));

    it('bulk load: rows stored as issuance and revocation store them; a stored serial fails the whole call', () => withStore(async (s) => {
      await s.bulkLoadMode(true);
      const entry = new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x0b]);
      await s.bulkInsertCertificates([
        { ...cert('0b', 'int-a'), crlEntry: null },
        { ...cert('0c', 'int-a'), status: 'revoked', revokedAt: new Date(T0 + DAY), revocationReason: 4, crlEntry: entry },
      ]);
      await s.bulkLoadMode(false);
      assert.equal((await s.getCertificate('0b'))?.status, 'good');
      assert.equal((await s.getCertificate('0c'))?.revocationReason, 4);
      const revoked = [];
      for await (const e of s.iterateRevoked('int-a', new Date(T0))) revoked.push(e);
      assert.deepEqual(revoked.map((e) => [e.serialHex, e.der]), [['0c', entry]]);
      assert.deepEqual((await s.revocationsSince(0, 10)).map((e) => e.serial), ['0c']);
      await assert.rejects(s.bulkInsertCertificates([{ ...cert('0d', 'int-a'), crlEntry: null }, { ...cert('0b', 'int-a'), crlEntry: null }]),
        (e: unknown) => (e as { code?: string }).code === 'conflict');
      assert.equal(await s.getCertificate('0d'), null, 'nothing of a refused call is kept');
      assert.deepEqual(await s.countCertificates(), { total: 2, revoked: 1 });
      await s.insertCertificate(cert('0e', 'int-a'));
    }));

    it('tidy: expired certificates in (notAfter, serial) order; removal takes their claims and events, with its audit entry', () => withStore(async (s) => {
      const entry = new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x31]);
      await s.insertCertificate(cert('31', 'int-a', { notAfter: new Date(T0 + 2 * DAY) }), { key: 'k31', requester: 'token:a', requestHash: 'h' });
      await s.insertCertificate(cert('30', 'int-a', { notAfter: new Date(T0 + 2 * DAY) }));
      await s.insertCertificate(cert('32', 'int-a', { notAfter: new Date(T0 + DAY) }));
      await s.insertCertificate(cert('33', 'int-a', { notAfter: new Date(T0 + 9 * DAY) }));
      await s.revokeCertificate('31', 1, new Date(T0), () => entry);
      const before = new Date(T0 + 5 * DAY);
      const first = await s.expiredCertificates(before, 2);
      assert.deepEqual(first.map((c) => c.serial), ['32', '30']);
      const rest = await s.expiredCertificates(before, 2, { notAfter: first[1]!.notAfter, serial: first[1]!.serial });
      assert.deepEqual(rest.map((c) => [c.serial, c.status, c.crlEntry]), [['31', 'revoked', entry]]);
      const audit = auditOf('certificate.archive', 'archive:x');
      assert.equal(await s.removeCertificates(['30', '31', '32'], audit), 3);
      assert.deepEqual((await s.expiredCertificates(before, 10)).map((c) => c.serial), []);
      assert.equal((await s.getCertificate('33'))?.serial, '33');
      assert.equal(await s.findIdempotent({ key: 'k31', requester: 'token:a', requestHash: 'h' }), null);
      assert.deepEqual(await s.revocationsSince(0, 10), []);
      assert.equal((await s.lastAudit())?.action, 'certificate.archive');
      assert.equal(await s.removeCertificates(['30'], audit), 0);
    }));

    it('lists with filters and cursor pagination', () => withStore(async (s) => {
      for (let i = 0; i < 25; i++) {
        const serial = (0x20 + i).toString(16);
        await s.insertCertificate(cert(serial, 'int-a', { notAfter: new Date(T0 + (i + 1) * DAY), sans: [`host${i}.example.test`] }));
      }
      await s.revokeCertificate('20', 0, new Date(T0));
      const now = new Date(T0 + 0.5 * DAY);
      const all: string[] = [];
      let cursor: string | undefined;
      for (;;) {
        const p = await s.listCertificates({}, { limit: 10, cursor }, now);
        assert.equal(p.total, 25);
        all.push(...p.items.map((c) => c.serial));
        if (!p.nextCursor) break;
        cursor = p.nextCursor;
      }
      assert.equal(all.length, 25);
      assert.equal(new Set(all).size, 25);
      assert.equal((await s.listCertificates({ status: 'revoked' }, { limit: 50 }, now)).total, 1);
      assert.equal((await s.listCertificates({ status: 'good' }, { limit: 50 }, now)).total, 24);
      assert.equal((await s.listCertificates({ expiringWithinDays: 5 }, { limit: 50 }, now)).total, 4);
      assert.equal((await s.listCertificates({ name: 'HOST1' }, { limit: 50 }, now)).total, 11);
      assert.equal((await s.listCertificates({ name: 't%t' }, { limit: 50 }, now)).total, 0, 'LIKE wildcards are literal');
      assert.equal((await s.listCertificates({ status: 'expired' }, { limit: 50 }, new Date(T0 + 10.5 * DAY))).total, 10);
      // A capped count: exact up to the cap, then "cap+" carried through every page.
      const capped = await s.listCertificates({}, { limit: 10, countCap: 20 }, now);
      assert.deepEqual([capped.total, capped.totalCapped], [20, true]);
      const next = await s.listCertificates({}, { limit: 10, cursor: capped.nextCursor!, countCap: 20 }, now);
      assert.deepEqual([next.total, next.totalCapped, next.items.length], [20, true, 10]);
      const exact = await s.listCertificates({ name: 'HOST1' }, { limit: 5, countCap: 11 }, now);
      assert.deepEqual([exact.total, exact.totalCapped], [11, undefined]);
      assert.equal((await s.listCertificates({ name: 'HOST1' }, { limit: 5, countCap: 10 }, now)).totalCapped, true);
    }));

    it('setIssuerKey points an issuer at another key; saveIssuer never changes the key', () => withStore(async (s) => {
      const before = (await s.getIssuer('int-a'))!;
      assert.equal(await s.setIssuerKey('int-a', 'restored-1234', 'pkcs11'), true);
      const after = (await s.getIssuer('int-a'))!;
      assert.equal(after.keyRef, 'restored-1234');
      assert.equal(after.keyBackend, 'pkcs11');
      assert.deepEqual({ ...after, keyRef: before.keyRef, keyBackend: before.keyBackend }, before, 'nothing else changes');
      assert.equal(await s.setIssuerKey('int-a', 'restored-1234', 'pkcs11'), true, 'repeatable');
      await s.saveIssuer(issuer('int-a'));
      assert.equal((await s.getIssuer('int-a'))!.keyRef, 'restored-1234', 'the upsert keeps the restored key');
      assert.equal((await s.listIssuers()).find((i) => i.id === 'int-a')!.keyRef, 'restored-1234');
      assert.equal(await s.setIssuerKey('no-such-issuer', 'k', 'software'), false);
      assert.equal(await s.getIssuer('no-such-issuer'), null);
    }));

    it('streams revoked entries of one issuer beyond one chunk', () => withStore(async (s) => {
      await s.saveIssuer({ ...issuer('int-b'), active: false });
      for (let i = 0; i < 4500; i++) {
        const serial = (0x100000 + i).toString(16);
        await s.insertCertificate(cert(serial, i % 2 ? 'int-a' : 'int-b'));
        if (i % 3 === 0) await s.revokeCertificate(serial, i % 11, new Date(T0), (iss) => new Uint8Array(Buffer.from(`${iss}:${serial}`)));
      }
      const seen: string[] = [];
      for await (const e of s.iterateRevoked('int-a', new Date(T0 + DAY))) {
        seen.push(e.serialHex);
        assert.equal(Buffer.from(e.der!).toString(), `int-a:${e.serialHex}`, 'the stored CRL entry comes back with its row');
      }
      assert.equal(seen.length, 750);
      assert.equal(new Set(seen).size, 750);
      let expiredCount = 0;
      for await (const _ of s.iterateRevoked('int-a', new Date(T0 + 100 * DAY))) expiredCount++;
      assert.equal(expiredCount, 0, 'expired certificates leave the CRL');
    }));

    it('revoked entries in chunks: the same entries as the stream, joined per chunk, those without DER beside it', () => withStore(async (s) => {
      // Shards 0-2 and rows from before sharding; every 7th revoked row has no stored entry (written by other tools).
      const rows = [];
      for (let i = 0; i < 2600; i++) {
        const serial = (0x200000 + i).toString(16);
        const revoked = i % 2 === 0;
        const der = revoked && i % 7 !== 0 ? new Uint8Array(Buffer.from(`e:${serial}`)) : null;
        rows.push({ ...cert(serial, 'int-a', { crlShard: i % 5 === 0 ? null : i % 3 }), ...(revoked ? { status: 'revoked' as const, revokedAt: new Date(T0), revocationReason: 1 } : {}), crlEntry: der });
      }
      await s.bulkLoadMode(true);
      await s.bulkInsertCertificates(rows);
      await s.bulkLoadMode(false);
      const now = new Date(T0 + DAY);
      for (const shard of [undefined, 0, 2]) {
        const stream: RevokedEntry[] = [];
        for await (const e of s.iterateRevoked('int-a', now, shard)) stream.push(e);
        const joined: Uint8Array[] = [];
        const loose: string[] = [];
        let count = 0;
        for await (const c of s.revokedChunks('int-a', now, shard)) {
          assert.ok(c.count + c.loose.length > 0 && c.count + c.loose.length <= REVOKED_CHUNK_ENTRIES, 'no empty or oversized chunk');
          joined.push(c.der);
          count += c.count;
          loose.push(...c.loose.map((e) => { assert.equal(e.der, undefined); assert.equal(e.reason, 1); return e.serialHex; }));
        }
        const withDer = stream.filter((e) => e.der);
        assert.ok(withDer.length > (shard === undefined ? REVOKED_CHUNK_ENTRIES : 0) && loose.length > 0, `the scope ${String(shard)} has entries of both kinds (the complete one more than a chunk)`);
        assert.equal(count, withDer.length);
        assert.deepEqual(Buffer.concat(joined), Buffer.concat(withDer.map((e) => e.der!)), `scope ${String(shard)}: the stored entries, in stream order`);
        assert.deepEqual(loose, stream.filter((e) => !e.der).map((e) => e.serialHex));
      }
    }));

    it('CRL numbers strictly increase and the latest CRL is kept', () => withStore(async (s) => {
      const nums: bigint[] = [];
      for (let i = 0; i < 15; i++) nums.push(await s.nextCrlNumber('int-a'));
      for (let i = 1; i < nums.length; i++) assert.ok(nums[i]! > nums[i - 1]!);
      await s.saveCrl({ issuerId: 'int-a', number: nums[14]!, thisUpdate: new Date(T0), nextUpdate: new Date(T0 + DAY), der: new Uint8Array([9]), entries: 0 });
      assert.equal((await s.latestCrl('int-a'))?.number, nums[14]);
      assert.equal(await s.latestCrlNumber('int-a'), nums[14]);
      assert.equal(await s.latestCrl('int-b'), null);
      assert.equal(await s.latestCrlNumber('int-b'), null);
    }));

    it('CRL shards: a certificate keeps its shard; a shard streams only its own revoked entries', () => withStore(async (s) => {
      for (let i = 0; i < 2600; i++) {
        const serial = (0x200000 + i).toString(16);
        await s.insertCertificate(cert(serial, 'int-a', { crlShard: i % 3 === 0 ? null : i % 4 }));
        if (i % 2 === 0) await s.revokeCertificate(serial, 1, new Date(T0));
      }
      assert.equal((await s.getCertificate((0x200001).toString(16)))!.crlShard, 1);
      assert.equal((await s.getCertificate((0x200000).toString(16)))!.crlShard, undefined, 'no shard stays none');
      const now = new Date(T0 + DAY);
      let all = 0;
      for await (const _ of s.iterateRevoked('int-a', now)) all++;
      assert.equal(all, 1300, 'the complete scope lists every revoked certificate, sharded or not');
      const perShard: number[] = [];
      for (let shard = 0; shard < 4; shard++) {
        const seen: string[] = [];
        for await (const e of s.iterateRevoked('int-a', now, shard)) seen.push(e.serialHex);
        assert.deepEqual(seen, [...seen].sort(), 'serial order');
        for (const serial of seen) assert.equal((await s.getCertificate(serial))!.crlShard, shard);
        perShard.push(seen.length);
      }
      // Revoked: even i; sharded: i % 3 != 0; shard i % 4 (so only 0 and 2 hold revoked ones).
      const expected = [0, 1, 2, 3].map((sh) => Array.from({ length: 2600 }, (_, i) => i).filter((i) => i % 2 === 0 && i % 3 !== 0 && i % 4 === sh).length);
      assert.deepEqual(perShard, expected);
      assert.ok(expected[0]! > 2000 / 6, 'a shard spans more than one chunk of the complete scope');
    }));

    it('CRLs of megabytes: read back byte for byte, pruned by size like small ones', () => withStore(async (s) => {
      const save = async (size: number, keep?: { count: number; bytes: number }): Promise<{ number: bigint; der: Uint8Array }> => {
        const number = await s.nextCrlNumber('int-a');
        const der = new Uint8Array(randomBytes(size));
        await s.saveCrl({ issuerId: 'int-a', number, thisUpdate: new Date(T0), nextUpdate: new Date(T0 + DAY), der, entries: 3, shard: 4 }, undefined, keep);
        return { number, der };
      };
      const a = await save(1_200_017);
      const got = (await s.latestCrl('int-a', 4))!;
      assert.equal(got.number, a.number);
      assert.equal(got.entries, 3);
      assert.ok(Buffer.from(got.der).equals(Buffer.from(a.der)), 'the same bytes');
      assert.deepEqual((await s.storedCrls('int-a', 4)).map((c) => c.size), [1_200_017]);
      assert.deepEqual(await s.latestCrlMeta('int-a', 4), { issuerId: 'int-a', number: a.number, thisUpdate: new Date(T0), nextUpdate: new Date(T0 + DAY), entries: 3, shard: 4 },
        'the newest CRL\'s facts without its bytes');
      assert.equal(await s.latestCrlMeta('int-a', 5), null);
      const keep = { count: 3, bytes: 1_500_000 };
      const b = await save(400_000, keep);
      assert.deepEqual((await s.storedCrls('int-a', 4)).map((c) => c.number), [b.number], 'the older one went: the scope passed its bytes');
      assert.ok(Buffer.from((await s.latestCrl('int-a', 4))!.der).equals(Buffer.from(b.der)));
      const c = await save(10, keep);
      assert.deepEqual((await s.storedCrls('int-a', 4)).map((x) => [x.number, x.size]), [[c.number, 10], [b.number, 400_000]]);
      assert.equal(await s.latestCrlNumber('int-a', 4), c.number);
    }));

    it('CRLs: the complete CRL and each shard are separate scopes, pruned by count and size', () => withStore(async (s) => {
      const save = async (shard: number | null, size: number, keep?: { count: number; bytes: number }): Promise<bigint> => {
        const number = await s.nextCrlNumber('int-a');
        await s.saveCrl({ issuerId: 'int-a', number, thisUpdate: new Date(T0), nextUpdate: new Date(T0 + DAY), der: new Uint8Array(size).fill(Number(number % 256n)), entries: 0, ...(shard === null ? {} : { shard }) }, undefined, keep);
        return number;
      };
      const complete = await save(null, 10);
      const shard1 = await save(1, 10);
      const shard2 = await save(2, 10);
      assert.equal((await s.latestCrl('int-a'))!.number, complete, 'latestCrl without a shard is the complete CRL');
      assert.equal((await s.latestCrl('int-a'))!.shard, undefined);
      assert.equal((await s.latestCrl('int-a', 1))!.number, shard1);
      assert.equal((await s.latestCrl('int-a', 1))!.shard, 1);
      assert.equal((await s.latestCrl('int-a', 2))!.number, shard2);
      assert.equal(await s.latestCrl('int-a', 3), null);
      // Count: 12 more CRLs of shard 1 keep its newest 10 and leave the other scopes alone.
      for (let i = 0; i < 12; i++) await save(1, 10);
      const keep = { count: 3, bytes: 1000 };
      const last = await save(1, 100, keep);
      assert.equal((await s.latestCrl('int-a', 1))!.number, last);
      assert.equal((await s.latestCrl('int-a'))!.number, complete);
      assert.equal((await s.latestCrl('int-a', 2))!.number, shard2);
      // Size: older CRLs go once the scope passes `bytes`; the newest always stays.
      await save(2, 600, keep);
      await save(2, 700, keep);
      const huge = await save(2, 5000, keep);
      assert.equal((await s.latestCrl('int-a', 2))!.number, huge, 'the newest is kept whatever its size');
      assert.equal((await s.latestCrl('int-a', 2))!.der.length, 5000);
      assert.deepEqual((await s.storedCrls('int-a', 2)).map((c) => c.number), [huge]);
      assert.deepEqual((await s.storedCrls('int-a', 1)).map((c) => c.size), [100, 10, 10], 'newest first, with their sizes');
      const counts = await storedCrlCounts(s);
      assert.equal(counts.get('1'), 3, 'count limit per shard');
      assert.equal(counts.get('2'), 1, 'size limit per shard');
      assert.equal(counts.get('complete'), 1);
    }));

    it('tokens: stored by hash, revocable', () => withStore(async (s) => {
      await s.insertToken({ id: 't1', name: 'n', role: 'admin', hash: 'ab'.repeat(32), createdAt: new Date(T0), expiresAt: null, revokedAt: null });
      assert.equal((await s.findTokenByHash('ab'.repeat(32)))?.id, 't1');
      assert.equal(await s.revokeToken('t1', new Date(T0)), true);
      assert.equal(await s.revokeToken('t1', new Date(T0)), false);
      assert.ok((await s.findTokenByHash('ab'.repeat(32)))?.revokedAt);
    }));

    it('operators: unique names; disabling one revokes all its tokens in the same transaction', () => withStore(async (s) => {
      await s.insertOperator({ id: 'op1', name: 'alice', role: 'operator', createdAt: new Date(T0), disabledAt: null });
      await assert.rejects(s.insertOperator({ id: 'op2', name: 'alice', role: 'admin', createdAt: new Date(T0), disabledAt: null }), /already exists/);
      await s.insertOperator({ id: 'op3', name: 'bob', role: 'auditor', createdAt: new Date(T0), disabledAt: null });
      await s.insertToken({ id: 'ta', name: 'a1', role: 'operator', hash: 'a1'.repeat(32), createdAt: new Date(T0), expiresAt: null, revokedAt: null, operatorId: 'op1' });
      await s.insertToken({ id: 'tb', name: 'a2', role: 'operator', hash: 'a2'.repeat(32), createdAt: new Date(T0), expiresAt: null, revokedAt: new Date(T0 + 3_600_000), operatorId: 'op1' });
      await s.insertToken({ id: 'tc', name: 'b1', role: 'auditor', hash: 'b1'.repeat(32), createdAt: new Date(T0), expiresAt: null, revokedAt: null, operatorId: 'op3' });
      assert.equal((await s.findTokenByHash('a1'.repeat(32)))?.operatorId, 'op1');
      assert.deepEqual((await s.listOperators()).map((o) => o.name), ['alice', 'bob']);
      assert.equal((await s.getOperatorByName('alice'))?.id, 'op1');
      assert.equal(await s.disableOperator('op1', new Date(T0 + 1000)), true);
      assert.equal(await s.disableOperator('op1', new Date(T0 + 2000)), false);
      assert.equal((await s.getOperator('op1'))?.disabledAt?.getTime(), T0 + 1000);
      assert.equal((await s.findTokenByHash('a1'.repeat(32)))?.revokedAt?.getTime(), T0 + 1000);
      assert.equal((await s.findTokenByHash('a2'.repeat(32)))?.revokedAt?.getTime(), T0 + 1000, 'a later scheduled revocation (rotation grace) is brought forward');
      assert.equal((await s.findTokenByHash('b1'.repeat(32)))?.revokedAt, null, 'other operators keep their tokens');
    }));

    it('audit entries append in a linear chain', () => withStore(async (s) => {
      const writes = [];
      for (let i = 0; i < 20; i++) {
        writes.push(s.appendAudit((prev) => ({
          seq: (prev?.seq ?? 0) + 1, prevHash: prev?.hash ?? 'genesis', hash: `h${(prev?.seq ?? 0) + 1}`, time: new Date(T0),
          actor: 'a', source: 's', channel: 'api', action: 'x', target: 't', outcome: 'success', details: {},
        })));
      }
      await Promise.all(writes);
      let expect = 1;
      for await (const e of s.iterateAudit()) {
        assert.equal(e.seq, expect);
        assert.equal(e.prevHash, expect === 1 ? 'genesis' : `h${expect - 1}`);
        expect++;
      }
      assert.equal(expect, 21);
      assert.equal((await s.lastAudit())?.seq, 20);

      // From a position, and the newest first.
      const seqs = async (after?: number): Promise<number[]> => {
        const out: number[] = [];
        for await (const e of s.iterateAudit(after)) out.push(e.seq);
        return out;
      };
      assert.deepEqual(await seqs(0), Array.from({ length: 20 }, (_, i) => i + 1));
      assert.deepEqual(await seqs(13), [14, 15, 16, 17, 18, 19, 20]);
      assert.deepEqual(await seqs(20), []);
      assert.deepEqual(await seqs(99), []);
      assert.deepEqual((await s.latestAudit(3)).map((e) => e.seq), [20, 19, 18]);
      assert.deepEqual((await s.latestAudit(3, 18)).map((e) => e.seq), [17, 16, 15]);
      assert.deepEqual((await s.latestAudit(5, 3)).map((e) => e.seq), [2, 1]);
      assert.deepEqual(await s.latestAudit(5, 1), []);
      assert.equal((await s.latestAudit(0)).length, 1, 'the limit is at least 1');
      assert.equal((await s.latestAudit(5000)).length, 20);
      const newest = (await s.latestAudit(1))[0]!;
      assert.equal(newest.hash, 'h20');
      assert.equal(newest.prevHash, 'h19');
    }));

    it('registers nodes by heartbeat with the database time', () => withStore(async (s) => {
      const base = { version: '1', roles: ['ca', 'ocsp'], mode: 'active-active' as const, httpUrl: 'http://127.0.0.1:1', httpsUrl: 'https://127.0.0.1:2', health: 'healthy' as const, writable: true, startedAt: new Date(T0) };
      await s.heartbeat({ ...base, id: 'n1' });
      await s.heartbeat({ ...base, id: 'n2', health: 'degraded' });
      await s.heartbeat({ ...base, id: 'n1', writable: false });
      const nodes = await s.listNodes();
      assert.deepEqual(nodes.map((n) => n.id), ['n1', 'n2']);
      assert.equal(nodes[0]!.writable, false);
      assert.deepEqual(nodes[0]!.roles, ['ca', 'ocsp']);
      assert.equal(nodes[1]!.health, 'degraded');
      assert.ok(Math.abs(nodes[0]!.lastSeen.getTime() - Date.now()) < 60_000);
      await s.removeNode('n2');
      assert.equal((await s.listNodes()).length, 1);
    }));

    it('leases: one holder at a time, renewals keep the epoch, takeovers raise it', () => withStore(async (s) => {
      const a = await s.tryAcquireLease('leader', 'a', 300);
      assert.equal(a.holder, 'a');
      const e1 = a.epoch;
      assert.equal((await s.tryAcquireLease('leader', 'b', 300)).holder, 'a', 'b cannot take a live lease');
      const renewed = await s.tryAcquireLease('leader', 'a', 300);
      assert.equal(renewed.epoch, e1, 'a renewal keeps the epoch');
      await new Promise((r) => setTimeout(r, 400));
      const b = await s.tryAcquireLease('leader', 'b', 5000);
      assert.equal(b.holder, 'b');
      assert.ok(b.epoch > e1, 'a takeover raises the epoch');
      await s.releaseLease('leader', 'a');
      assert.equal((await s.getLease('leader'))!.holder, 'b', 'only the holder can release');
      await s.releaseLease('leader', 'b');
      const c = await s.tryAcquireLease('leader', 'c', 5000);
      assert.equal(c.holder, 'c');
      assert.ok(c.epoch > b.epoch);
      assert.equal(await s.getLease('nothing'), null);
    }));

    it('concurrent acquirers: exactly one wins', () => withStore(async (s) => {
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => s.tryAcquireLease('race', `n${i}`, 5000)));
      const holders = new Set(results.map((r) => r.holder));
      assert.equal(holders.size, 1);
      assert.equal(new Set(results.map((r) => r.epoch)).size, 1);
    }));

    it('fenced writes: refused once the fence no longer holds, and nothing is written', () => withStore(async (s) => {
      const a = await s.tryAcquireLease('leader', 'a', 300);
      const fence = { lease: 'leader', holder: 'a', epoch: a.epoch };
      await s.insertCertificate(cert('f1', 'int-a'), undefined, fence);
      await s.saveCrl({ issuerId: 'int-a', number: 1n, thisUpdate: new Date(T0), nextUpdate: new Date(T0 + DAY), der: new Uint8Array([1]), entries: 0 }, fence);
      await new Promise((r) => setTimeout(r, 400));
      const b = await s.tryAcquireLease('leader', 'b', 5000);
      assert.equal(b.holder, 'b');
      await assert.rejects(s.insertCertificate(cert('f2', 'int-a'), undefined, fence), (e: Error & { code?: string }) => e.code === 'fenced');
      await assert.rejects(s.revokeCertificate('f1', 1, new Date(T0), undefined, fence), (e: Error & { code?: string }) => e.code === 'fenced');
      await assert.rejects(s.saveCrl({ issuerId: 'int-a', number: 2n, thisUpdate: new Date(T0), nextUpdate: new Date(T0 + DAY), der: new Uint8Array([2]), entries: 0 }, fence), (e: Error & { code?: string }) => e.code === 'fenced');
      assert.equal(await s.getCertificate('f2'), null);
      assert.equal((await s.getCertificate('f1'))!.status, 'good');
      assert.equal((await s.latestCrl('int-a'))!.number, 1n);
      const stale = { lease: 'leader', holder: 'b', epoch: b.epoch - 1n };
      await assert.rejects(s.insertCertificate(cert('f3', 'int-a'), undefined, stale), (e: Error & { code?: string }) => e.code === 'fenced');
      await s.insertCertificate(cert('f4', 'int-a'), undefined, { lease: 'leader', holder: 'b', epoch: b.epoch });
    }));

    it('issuances submitted together (group commit): a refused one fails alone, idempotency keys dedupe, each audit entry chains', () => withStore(async (s) => {
      const audit = (target: string) => (prev: { seq: number; hash: string } | null) => ({
        seq: (prev?.seq ?? 0) + 1, prevHash: prev?.hash ?? 'g', hash: `h${(prev?.seq ?? 0) + 1}`, time: new Date(T0),
        actor: 'a', source: 's', channel: 'api' as const, action: 'certificate.issue', target, outcome: 'success' as const, details: {},
      });
      const claim = (key: string, _serial: string) => ({ key, requester: 'token:a', requestHash: `hash-${key}` });
      const results = await Promise.allSettled([
        s.insertCertificate(cert('g1', 'int-a'), claim('k1', 'g1'), undefined, audit('serial:g1')),
        s.insertCertificate(cert('g2', 'int-a'), claim('k1', 'g2'), undefined, audit('serial:g2')), // same key: the first one's certificate
        s.insertCertificate(cert('g1', 'int-a'), undefined, undefined, audit('serial:g1-dup')), // duplicate serial: refused alone
        s.insertCertificate(cert('g3', 'int-a'), claim('k3', 'g3'), undefined, audit('serial:g3')),
      ]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
      const [a, b, , c] = results.map((r) => (r.status === 'fulfilled' ? r.value : null));
      assert.equal(a!.record.serial, 'g1');
      assert.equal(a!.replayed, false);
      assert.equal(b!.record.serial, 'g1', 'the second request with key k1 gets the first one\'s certificate');
      assert.equal(b!.replayed, true);
      assert.equal(c!.record.serial, 'g3');
      assert.equal(await s.getCertificate('g2'), null);
      const targets: string[] = [];
      let prev = 'g';
      for await (const e of s.iterateAudit()) { assert.equal(e.prevHash, prev); prev = e.hash; targets.push(e.target); }
      assert.deepEqual(targets, ['serial:g1', 'serial:g3'], 'one audit entry per certificate stored, none for the replay or the refused one');
    }));

    // A client's Idempotency-Key is any text: what an array literal or a lock key could trip on.
    const ODD_KEY = 'n1 "q" \\b, {NULL}\nline';
    it('issuances submitted together with distinct keys: a used key replays, a key reused with another request and a stale fence fail alone', () => withStore(async (s) => {
      const audit = (target: string) => (prev: { seq: number; hash: string } | null) => ({
        seq: (prev?.seq ?? 0) + 1, prevHash: prev?.hash ?? 'g', hash: `h${(prev?.seq ?? 0) + 1}`, time: new Date(T0),
        actor: 'a', source: 's', channel: 'api' as const, action: 'certificate.issue', target, outcome: 'success' as const, details: {},
      });
      const claim = (key: string, requestHash = `hash-${key}`) => ({ key, requester: 'token:a', requestHash });
      await s.insertCertificate(cert('e1', 'int-a'), claim('e1'), undefined, audit('serial:e1'));
      await s.insertCertificate(cert('e2', 'int-a'), claim('e2'), undefined, audit('serial:e2'));
      const lease = await s.tryAcquireLease('leader', 'a', 200);
      const stale = { lease: 'leader', holder: 'a', epoch: lease.epoch };
      await new Promise((r) => setTimeout(r, 300));
      const now = await s.tryAcquireLease('leader', 'b', 5000);
      const held = { lease: 'leader', holder: 'b', epoch: now.epoch };
      const results = await Promise.allSettled([
        s.insertCertificate(cert('n1', 'int-a'), claim(ODD_KEY), held, audit('serial:n1')),
        s.insertCertificate(cert('n2', 'int-a'), claim('e1'), held, audit('serial:n2')), // e1 again, same request: e1's certificate
        s.insertCertificate(cert('n3', 'int-a'), claim('e2', 'another request'), held, audit('serial:n3')),
        s.insertCertificate(cert('n4', 'int-a'), claim('n4'), stale, audit('serial:n4')),
        s.insertCertificate(cert('n5', 'int-a'), undefined, undefined, audit('serial:n5')),
        s.insertCertificate(cert('n6', 'int-a'), claim('n6'), held),
      ]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'rejected', 'fulfilled', 'fulfilled']);
      const v = results.map((r) => (r.status === 'fulfilled' ? r.value : null));
      const why = results.map((r) => (r.status === 'rejected' ? (r.reason as { code?: string }).code : null));
      assert.deepEqual([v[0]!.record.serial, v[0]!.replayed, v[0]!.audit?.target], ['n1', false, 'serial:n1']);
      assert.deepEqual([v[1]!.record.serial, v[1]!.replayed, v[1]!.audit], ['e1', true, undefined]);
      assert.deepEqual([why[2], why[3]], ['idempotencyMismatch', 'fenced']);
      assert.deepEqual([v[4]!.record.serial, v[4]!.audit?.target], ['n5', 'serial:n5']);
      assert.equal(v[5]!.audit, undefined, 'no builder, no entry');
      for (const gone of ['n2', 'n3', 'n4']) assert.equal(await s.getCertificate(gone), null, `${gone} was not stored`);
      assert.equal((await s.getCertificate('n6'))?.serial, 'n6');
      assert.equal((await s.findIdempotent(claim(ODD_KEY)))?.serial, 'n1', 'the new key is claimed, quotes, commas and all');
      assert.equal(await s.findIdempotent(claim('n4')), null, 'the fenced one claimed nothing');
      const targets: string[] = [];
      let prev = 'g';
      for await (const e of s.iterateAudit()) { assert.equal(e.prevHash, prev); prev = e.hash; targets.push(e.target); }
      assert.deepEqual(targets, ['serial:e1', 'serial:e2', 'serial:n1', 'serial:n5']);
    }));

    it('concurrent writers: unique serials, linear audit chain, strictly increasing CRL numbers', () => withStore(async (s) => {
      const work = [];
      for (let i = 0; i < 40; i++) {
        work.push(s.insertCertificate(cert(`c${i}`, 'int-a')));
        work.push(s.nextCrlNumber('int-a'));
        work.push(s.appendAudit((prev) => ({
          seq: (prev?.seq ?? 0) + 1, prevHash: prev?.hash ?? 'g', hash: `x${(prev?.seq ?? 0) + 1}`, time: new Date(T0),
          actor: 'a', source: 's', channel: 'api', action: 'x', target: 't', outcome: 'success', details: {},
        })));
      }
      const out = await Promise.all(work);
      const nums = out.filter((x): x is bigint => typeof x === 'bigint');
      assert.equal(new Set(nums).size, 40);
      let n = 0;
      let prev = 'g';
      for await (const e of s.iterateAudit()) { n++; assert.equal(e.prevHash, prev); prev = e.hash; }
      assert.equal(n, 40);
    }));
  });
}
