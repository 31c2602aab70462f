/**
 * Conformance suite for the ACME part of Store (AcmeStore). Each store's test
 * file calls `acmeConformance` with a factory that returns a fresh, migrated
 * store on real storage, as for `storeConformance`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AcmeAccount, AcmeAuthorization, AcmeOrder, EabKey } from '../acme-records.js';
import type { Store } from '../store.js';

const T0 = Date.UTC(2026, 0, 1);
const MIN = 60_000;
const DAY = 86_400_000;

const isConflict = (e: Error & { code?: string }) => e.code === 'conflict';

function account(id: string, over: Partial<AcmeAccount> = {}): AcmeAccount {
  return {
    id, keyThumbprint: `thumb-${id}`, jwk: { kty: 'EC', crv: 'P-256', x: `x-${id}`, y: `y-${id}` }, status: 'valid',
    contact: [`mailto:${id}@example.test`], eabKid: null, createdFromIp: '192.0.2.1', createdAt: new Date(T0), version: 1, ...over,
  };
}

function authz(id: string, accountId: string, value: string, over: Partial<AcmeAuthorization> = {}): AcmeAuthorization {
  return {
    id, accountId, identifier: { type: 'dns', value }, wildcard: false, status: 'pending', expires: new Date(T0 + 7 * DAY),
    challenges: [
      { id: `${id}-h`, type: 'http-01', token: `tok-${id}-h`, status: 'pending', validated: null, error: null },
      { id: `${id}-d`, type: 'dns-01', token: `tok-${id}-d`, status: 'pending', validated: null, error: null },
    ],
    processingSince: null, createdAt: new Date(T0), version: 1, ...over,
  };
}

function order(id: string, accountId: string, over: Partial<AcmeOrder> = {}): AcmeOrder {
  return {
    id, accountId, status: 'pending', expires: new Date(T0 + 7 * DAY), identifiers: [{ type: 'dns', value: `${id}.example.test` }],
    authorizationIds: [], notBefore: null, notAfter: null, error: null, certificateSerial: null, replaces: null, csrDer: null,
    processingSince: null, createdAt: new Date(T0), version: 1, ...over,
  };
}

function eab(kid: string, over: Partial<EabKey> = {}): EabKey {
  return {
    kid, sealedKey: new Uint8Array([1, 2, 3, kid.length, 0, 255]), description: `key ${kid}`, createdAt: new Date(T0),
    boundAccountId: null, revokedAt: null, ...over,
  };
}

export function acmeConformance(name: string, factory: () => Promise<{ store: Store; cleanup: () => Promise<void> }>): void {
  describe(`AcmeStore conformance: ${name}`, () => {
    const withStore = async (fn: (s: Store) => Promise<void>) => {
      const { store, cleanup } = await factory();
      try {
        await store.migrate(); // migrations are idempotent
        await store.insertAcmeAccount(account('acct-a'));
        await store.insertAcmeAccount(account('acct-b'));
        await fn(store);
      } finally {
        await store.close();
        await cleanup();
      }
    };

    it('accounts: round trip, lookup by thumbprint, unique thumbprint', () => withStore(async (s) => {
      const full = account('acct-c', { contact: ['mailto:a@example.test', 'mailto:b@example.test'], eabKid: 'kid-1', createdFromIp: '2001:db8::1', version: 3 });
      await s.insertAcmeAccount(full);
      assert.deepEqual(await s.getAcmeAccount('acct-c'), full);
      assert.deepEqual(await s.findAcmeAccountByThumbprint('thumb-acct-c'), full);
      assert.equal(await s.getAcmeAccount('nope'), null);
      assert.equal(await s.findAcmeAccountByThumbprint('nope'), null);
      await assert.rejects(s.insertAcmeAccount(account('acct-d', { keyThumbprint: 'thumb-acct-c' })), isConflict);
      assert.equal(await s.getAcmeAccount('acct-d'), null, 'the refused account was not stored');
    }));

    it('accounts: compare-and-set update; a stale version changes nothing; a taken key is a conflict', () => withStore(async (s) => {
      const a = (await s.getAcmeAccount('acct-a'))!;
      const changed: AcmeAccount = { ...a, contact: ['mailto:new@example.test'], keyThumbprint: 'thumb-new', jwk: { kty: 'OKP', x: 'n' } };
      assert.equal(await s.updateAcmeAccount(changed, 1), true);
      const after = (await s.getAcmeAccount('acct-a'))!;
      assert.equal(after.version, 2);
      assert.deepEqual(after, { ...changed, version: 2 });
      assert.equal(changed.version, 1, "the caller's object is left alone");
      assert.equal((await s.findAcmeAccountByThumbprint('thumb-new'))?.id, 'acct-a');
      assert.equal(await s.findAcmeAccountByThumbprint('thumb-acct-a'), null);

      assert.equal(await s.updateAcmeAccount({ ...after, status: 'deactivated' }, 1), false, 'stale version');
      assert.deepEqual(await s.getAcmeAccount('acct-a'), after, 'nothing changed');
      assert.equal(await s.updateAcmeAccount({ ...after, id: 'missing' }, 2), false, 'unknown id');

      await assert.rejects(s.updateAcmeAccount({ ...after, keyThumbprint: 'thumb-acct-b' }, 2), isConflict);
      assert.deepEqual(await s.getAcmeAccount('acct-a'), after, 'the conflicting update changed nothing');
      assert.equal(await s.updateAcmeAccount({ ...after, status: 'deactivated' }, 2), true);
      assert.equal((await s.getAcmeAccount('acct-a'))!.status, 'deactivated');
    }));

    it('orders: inserted with their new authorizations; read back whole', () => withStore(async (s) => {
      const z1 = authz('z1', 'acct-a', 'one.example.test');
      const z2 = authz('z2', 'acct-a', 'example.test', { wildcard: true });
      const o = order('o1', 'acct-a', {
        identifiers: [{ type: 'dns', value: 'one.example.test' }, { type: 'dns', value: '*.example.test' }], authorizationIds: ['z1', 'z2'],
        notBefore: new Date(T0 + DAY), notAfter: new Date(T0 + 30 * DAY), replaces: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE',
      });
      await s.insertAcmeOrder(o, [z1, z2]);
      assert.deepEqual(await s.getAcmeOrder('o1'), o);
      assert.deepEqual(await s.getAcmeAuthorization('z1'), z1);
      assert.deepEqual(await s.getAcmeAuthorization('z2'), z2);
      assert.equal(await s.getAcmeOrder('nope'), null);
      assert.equal(await s.getAcmeAuthorization('nope'), null);
      // A second order reusing z1 (already stored) with no new authorizations.
      await s.insertAcmeOrder(order('o2', 'acct-a', { authorizationIds: ['z1'] }), []);
      assert.deepEqual((await s.getAcmeOrder('o2'))!.authorizationIds, ['z1']);
      assert.deepEqual((await s.getAcmeAuthorizations(['z2', 'missing', 'z1'])).map((z) => z.id), ['z2', 'z1'], 'in the order asked, missing left out');
      assert.deepEqual(await s.getAcmeAuthorizations([]), []);
    }));

    it('orders: an authorization id collision leaves neither the order nor its other authorizations', () => withStore(async (s) => {
      await s.insertAcmeOrder(order('o1', 'acct-a', { authorizationIds: ['z1'] }), [authz('z1', 'acct-a', 'one.example.test')]);
      const fresh = authz('z-new', 'acct-a', 'new.example.test');
      const clash = authz('z1', 'acct-a', 'other.example.test');
      await assert.rejects(s.insertAcmeOrder(order('o2', 'acct-a', { authorizationIds: ['z-new', 'z1'] }), [fresh, clash]), isConflict);
      assert.equal(await s.getAcmeOrder('o2'), null, 'the order was not inserted');
      assert.equal(await s.getAcmeAuthorization('z-new'), null, 'nor its other new authorization');
      assert.equal((await s.getAcmeAuthorization('z1'))!.identifier.value, 'one.example.test', 'the existing one is untouched');
      await assert.rejects(s.insertAcmeOrder(order('o1', 'acct-a'), [authz('z-other', 'acct-a', 'x.example.test')]), isConflict);
      assert.equal(await s.getAcmeAuthorization('z-other'), null, 'an order id collision stores nothing either');
      assert.equal((await s.listAcmeOrders('acct-a', { limit: 10 })).items.length, 1);
    }));

    it('orders: compare-and-set update; a stale version changes nothing; one of many concurrent updates wins', () => withStore(async (s) => {
      const o = order('o1', 'acct-a', { authorizationIds: ['z1'] });
      await s.insertAcmeOrder(o, [authz('z1', 'acct-a', 'one.example.test')]);
      const processing: AcmeOrder = { ...o, status: 'processing', processingSince: new Date(T0 + MIN), csrDer: new Uint8Array([0x30, 0x82, 0, 1, 2]) };
      assert.equal(await s.updateAcmeOrder(processing, 1), true);
      assert.deepEqual(await s.getAcmeOrder('o1'), { ...processing, version: 2 });
      assert.equal(await s.updateAcmeOrder({ ...o, status: 'invalid', error: { type: 'urn:ietf:params:acme:error:badCSR', detail: 'x' } }, 1), false);
      assert.deepEqual(await s.getAcmeOrder('o1'), { ...processing, version: 2 }, 'the stale update changed nothing');

      const done: AcmeOrder = {
        ...processing, status: 'valid', processingSince: null, csrDer: null, certificateSerial: '0a1b2c',
        error: { type: 'urn:ietf:params:acme:error:compound', detail: 'd', status: 403, subproblems: [{ type: 't', detail: 'sd', identifier: { type: 'dns', value: 'one.example.test' } }] },
      };
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => s.updateAcmeOrder({ ...done, certificateSerial: `0${i}` }, 2)));
      assert.equal(results.filter(Boolean).length, 1, 'exactly one concurrent writer wins');
      const winner = results.indexOf(true);
      assert.deepEqual(await s.getAcmeOrder('o1'), { ...done, certificateSerial: `0${winner}`, version: 3 });
    }));

    it('lists an account\'s orders newest first with cursor pagination', () => withStore(async (s) => {
      const expected: AcmeOrder[] = [];
      for (let i = 0; i < 23; i++) {
        // Groups of three share a creation time: the id breaks the tie.
        const o = order(`o${String(i).padStart(2, '0')}`, 'acct-a', { createdAt: new Date(T0 + Math.floor(i / 3) * MIN) });
        expected.push(o);
        await s.insertAcmeOrder(o, []);
      }
      await s.insertAcmeOrder(order('other', 'acct-b', { createdAt: new Date(T0 + DAY) }), []);
      expected.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1));
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      for (;;) {
        const p = await s.listAcmeOrders('acct-a', { limit: 5, cursor });
        pages++;
        assert.ok(p.items.length <= 5);
        seen.push(...p.items.map((o) => o.id));
        if (!p.nextCursor) break;
        cursor = p.nextCursor;
      }
      assert.equal(pages, 5);
      assert.deepEqual(seen, expected.map((o) => o.id));
      const first = await s.listAcmeOrders('acct-a', { limit: 1 });
      assert.deepEqual(first.items, [expected[0]]);
      // Exactly a full last page: no cursor to an empty page.
      const all = await s.listAcmeOrders('acct-a', { limit: 23 });
      assert.equal(all.items.length, 23);
      assert.equal(all.nextCursor, null);
      assert.deepEqual(await s.listAcmeOrders('acct-c', { limit: 5 }), { items: [], nextCursor: null });
      assert.deepEqual((await s.listAcmeOrders('acct-b', { limit: 5 })).items.map((o) => o.id), ['other']);
    }));

    it('authorizations: compare-and-set update, reuse lookup', () => withStore(async (s) => {
      const validUntil = new Date(T0 + 30 * DAY);
      const z = authz('z1', 'acct-a', 'www.example.test');
      await s.insertAcmeOrder(order('o1', 'acct-a', { authorizationIds: ['z1'] }), [z]);
      const valid: AcmeAuthorization = {
        ...z, status: 'valid', expires: validUntil,
        challenges: [{ ...z.challenges[0]!, status: 'valid', validated: new Date(T0 + MIN) }, z.challenges[1]!],
      };
      assert.equal(await s.updateAcmeAuthorization(valid, 1), true);
      assert.equal(await s.updateAcmeAuthorization({ ...z, status: 'invalid' }, 1), false, 'stale version');
      assert.deepEqual(await s.getAcmeAuthorization('z1'), { ...valid, version: 2 }, 'validated time survives, stale update changed nothing');

      const id = { type: 'dns' as const, value: 'www.example.test' };
      assert.equal((await s.findValidAcmeAuthorization('acct-a', id, false, new Date(T0 + DAY)))?.id, 'z1');
      assert.equal(await s.findValidAcmeAuthorization('acct-b', id, false, new Date(T0 + DAY)), null, 'another account');
      assert.equal(await s.findValidAcmeAuthorization('acct-a', id, true, new Date(T0 + DAY)), null, 'wildcard mismatch');
      assert.equal(await s.findValidAcmeAuthorization('acct-a', { type: 'dns', value: 'other.example.test' }, false, new Date(T0)), null, 'another name');
      assert.equal(await s.findValidAcmeAuthorization('acct-a', { type: 'ip', value: 'www.example.test' }, false, new Date(T0)), null, 'another type');
      assert.equal(await s.findValidAcmeAuthorization('acct-a', id, false, validUntil), null, 'expired (expires must be after validAfter)');

      // Not valid (pending, or invalid) is never reused.
      await s.insertAcmeOrder(order('o2', 'acct-a'), [
        authz('z-pending', 'acct-a', 'p.example.test', { expires: validUntil }),
        authz('z-invalid', 'acct-a', 'www.example.test', { status: 'invalid', expires: new Date(T0 + 60 * DAY), createdAt: new Date(T0 + 2 * DAY) }),
      ]);
      assert.equal(await s.findValidAcmeAuthorization('acct-a', { type: 'dns', value: 'p.example.test' }, false, new Date(T0)), null);
      assert.equal((await s.findValidAcmeAuthorization('acct-a', id, false, new Date(T0)))?.id, 'z1');
      // Of two valid ones, the newest.
      await s.insertAcmeOrder(order('o3', 'acct-a'), [
        authz('z-newer', 'acct-a', 'www.example.test', { status: 'valid', expires: validUntil, createdAt: new Date(T0 + DAY) }),
        authz('z-wild', 'acct-a', 'www.example.test', { status: 'valid', wildcard: true, expires: validUntil, createdAt: new Date(T0 + 3 * DAY) }),
      ]);
      assert.equal((await s.findValidAcmeAuthorization('acct-a', id, false, new Date(T0)))?.id, 'z-newer');
      assert.equal((await s.findValidAcmeAuthorization('acct-a', id, true, new Date(T0)))?.id, 'z-wild');
    }));

    it('finds stale validations and stale finalizations', () => withStore(async (s) => {
      const cut = new Date(T0 + 10 * MIN);
      await s.insertAcmeOrder(order('o1', 'acct-a'), [
        authz('z-old2', 'acct-a', 'a.example.test', { processingSince: new Date(T0 + 2 * MIN) }),
        authz('z-old1', 'acct-a', 'b.example.test', { processingSince: new Date(T0 + MIN) }),
        authz('z-recent', 'acct-a', 'c.example.test', { processingSince: cut }),
        authz('z-idle', 'acct-a', 'd.example.test'),
      ]);
      assert.deepEqual((await s.staleAcmeAuthorizations(cut, 10)).map((z) => z.id), ['z-old1', 'z-old2']);
      assert.deepEqual((await s.staleAcmeAuthorizations(cut, 1)).map((z) => z.id), ['z-old1'], 'limit');
      assert.deepEqual(await s.staleAcmeAuthorizations(new Date(T0), 10), []);

      await s.insertAcmeOrder(order('p-old', 'acct-a', { status: 'processing', processingSince: new Date(T0 + MIN) }), []);
      await s.insertAcmeOrder(order('p-older', 'acct-b', { status: 'processing', processingSince: new Date(T0) }), []);
      await s.insertAcmeOrder(order('p-recent', 'acct-a', { status: 'processing', processingSince: new Date(T0 + 11 * MIN) }), []);
      await s.insertAcmeOrder(order('v-old', 'acct-a', { status: 'valid', processingSince: new Date(T0) }), []);
      await s.insertAcmeOrder(order('pending', 'acct-a'), []);
      assert.deepEqual((await s.staleAcmeOrders(cut, 10)).map((o) => o.id), ['p-older', 'p-old']);
      assert.deepEqual((await s.staleAcmeOrders(cut, 1)).map((o) => o.id), ['p-older'], 'limit');
      // Finishing a stale order takes it off the list.
      const o = (await s.getAcmeOrder('p-old'))!;
      assert.equal(await s.updateAcmeOrder({ ...o, status: 'valid', processingSince: null }, o.version), true);
      assert.deepEqual((await s.staleAcmeOrders(cut, 10)).map((x) => x.id), ['p-older']);
    }));

    it('finds the order that replaces a certificate (ARI), and relaxed updates behave like durable ones', () => withStore(async (s) => {
      await s.insertAcmeOrder(order('r1', 'acct-a', { replaces: 'aki.serial1' }), []);
      await s.insertAcmeOrder(order('r2', 'acct-a', { replaces: 'aki.serial2', status: 'invalid' }), []);
      assert.equal((await s.findAcmeOrderReplacing('acct-a', 'aki.serial1'))?.id, 'r1');
      assert.equal(await s.findAcmeOrderReplacing('acct-b', 'aki.serial1'), null, 'another account');
      assert.equal(await s.findAcmeOrderReplacing('acct-a', 'aki.serial2'), null, 'invalid orders do not count');
      const o = (await s.getAcmeOrder('r1'))!;
      assert.equal(await s.updateAcmeOrder({ ...o, status: 'ready' }, o.version, { durable: false }), true);
      assert.equal(await s.updateAcmeOrder({ ...o, status: 'invalid' }, o.version, { durable: false }), false, 'stale version');
      assert.equal((await s.getAcmeOrder('r1'))!.status, 'ready');
      await s.insertAcmeOrder(order('r3', 'acct-a'), [authz('zr', 'acct-a', 'r.example.test')]);
      const z = (await s.getAcmeAuthorization('zr'))!;
      assert.equal(await s.updateAcmeAuthorization({ ...z, status: 'valid' }, z.version, { durable: false }), true);
      assert.equal((await s.getAcmeAuthorization('zr'))!.status, 'valid');
    }));

    it('nonces: used once; replays refused; expired records pruned', () => withStore(async (s) => {
      assert.equal(await s.consumeAcmeNonce('n1', new Date(T0 + MIN)), true);
      assert.equal(await s.consumeAcmeNonce('n1', new Date(T0 + MIN)), false, 'replay');
      assert.equal(await s.consumeAcmeNonce('n1', new Date(T0 + DAY)), false, 'replay with another expiry');
      assert.equal(await s.consumeAcmeNonce('n2', new Date(T0 + 2 * MIN)), true);
      assert.equal(await s.consumeAcmeNonce('n3', new Date(T0 + 3 * MIN)), true);
      const concurrent = await Promise.all(Array.from({ length: 6 }, () => s.consumeAcmeNonce('n4', new Date(T0 + 3 * MIN))));
      assert.equal(concurrent.filter(Boolean).length, 1, 'concurrent uses: one wins');
      assert.equal(await s.pruneAcmeNonces(new Date(T0 + 2 * MIN)), 1, 'only n1 expired before the cut');
      assert.equal(await s.consumeAcmeNonce('n2', new Date(T0 + 2 * MIN)), false, 'n2 (expiring at the cut) is still recorded');
      assert.equal(await s.pruneAcmeNonces(new Date(T0 + DAY)), 3);
      assert.equal(await s.pruneAcmeNonces(new Date(T0 + DAY)), 0);
    }));

    it('EAB keys: unique kid, bound once, revoked keys not bindable', () => withStore(async (s) => {
      await s.insertEabKey(eab('kid-1'));
      await s.insertEabKey(eab('kid-0', { createdAt: new Date(T0 + MIN) }));
      await s.insertEabKey(eab('kid-2', { createdAt: new Date(T0 + MIN) }));
      assert.deepEqual(await s.getEabKey('kid-1'), eab('kid-1'));
      assert.equal(await s.getEabKey('nope'), null);
      await assert.rejects(s.insertEabKey(eab('kid-1', { description: 'again' })), isConflict);
      assert.equal((await s.getEabKey('kid-1'))!.description, 'key kid-1');
      assert.deepEqual((await s.listEabKeys()).map((k) => k.kid), ['kid-1', 'kid-0', 'kid-2']);

      assert.equal(await s.bindEabKey('kid-1', 'acct-a'), true);
      assert.equal(await s.bindEabKey('kid-1', 'acct-b'), false, 'a key binds one account only');
      assert.equal(await s.bindEabKey('kid-1', 'acct-a'), false, 'not even the same one twice');
      assert.equal((await s.getEabKey('kid-1'))!.boundAccountId, 'acct-a');
      assert.equal(await s.bindEabKey('nope', 'acct-a'), false);

      assert.equal(await s.revokeEabKey('kid-2', new Date(T0 + DAY)), true);
      assert.equal(await s.revokeEabKey('kid-2', new Date(T0 + 2 * DAY)), false, 'already revoked');
      assert.equal(await s.bindEabKey('kid-2', 'acct-a'), false, 'revoked keys cannot be bound');
      const k2 = (await s.getEabKey('kid-2'))!;
      assert.deepEqual([k2.boundAccountId, k2.revokedAt?.getTime()], [null, T0 + DAY]);

      const binds = await Promise.all(Array.from({ length: 6 }, (_, i) => s.bindEabKey('kid-0', i % 2 ? 'acct-a' : 'acct-b')));
      assert.equal(binds.filter(Boolean).length, 1, 'concurrent binds: one wins');
    }));

    it('rate events: counted within the window, per bucket; old ones pruned', () => withStore(async (s) => {
      await s.addRateEvents(['acct:a', 'ip:192.0.2.1'], new Date(T0));
      await s.addRateEvents(['acct:a'], new Date(T0 + MIN));
      await s.addRateEvents(['acct:a', 'ip:192.0.2.1'], new Date(T0 + 2 * MIN));
      await s.addRateEvents([], new Date(T0 + 3 * MIN));
      assert.equal(await s.countRateEvents('acct:a', new Date(T0)), 3);
      assert.equal(await s.countRateEvents('acct:a', new Date(T0 + MIN)), 2, 'since is inclusive');
      assert.equal(await s.countRateEvents('acct:a', new Date(T0 + MIN + 1)), 1);
      assert.equal(await s.countRateEvents('ip:192.0.2.1', new Date(T0 - DAY)), 2);
      assert.equal(await s.countRateEvents('acct:b', new Date(T0 - DAY)), 0);
      assert.equal(await s.pruneRateEvents(new Date(T0 + MIN)), 2, 'the two events at T0');
      assert.equal(await s.countRateEvents('acct:a', new Date(0)), 2);
      assert.equal(await s.countRateEvents('ip:192.0.2.1', new Date(0)), 1);
      assert.equal(await s.pruneRateEvents(new Date(T0 + DAY)), 3);
      assert.equal(await s.countRateEvents('acct:a', new Date(0)), 0);
    }));
  });
}
