/**
 * Conformance suite for the SSH part of Store (store.ssh), run on every
 * implementation like storeConformance: CAs, certificates with their audit
 * entry in one transaction, listings, revocation and KRL versions.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Store } from '../store.js';
import type { SshCertificateRecord } from '../ssh-records.js';

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

const entry = (label: string) => (prev: { seq: number; hash: string } | null) => ({
  seq: (prev?.seq ?? 0) + 1, prevHash: prev?.hash ?? 'genesis', hash: `${label}${(prev?.seq ?? 0) + 1}`, time: new Date(T0),
  actor: 'a', source: 's', channel: 'api' as const, action: label, target: label, outcome: 'success' as const, details: {},
});

function sshCert(serial: string, over: Partial<SshCertificateRecord> = {}): SshCertificateRecord {
  return {
    serial, caName: 'users', profile: 'default', type: 'user', keyId: `alice-${serial}`, principals: ['alice', 'deploy'],
    keyFingerprint: 'SHA256:abc', validAfter: new Date(T0), validBefore: new Date(T0 + 8 * HOUR), cert: new Uint8Array([1, 2, Number(serial) % 256]),
    status: 'good', revokedAt: null, createdAt: new Date(T0), requester: 'token:t1', ...over,
  };
}

export function sshConformance(name: string, factory: () => Promise<{ store: Store; cleanup: () => Promise<void> }>): void {
  describe(`SSH store conformance: ${name}`, () => {
    const withStore = async (fn: (s: Store) => Promise<void>) => {
      const { store, cleanup } = await factory();
      try {
        await store.migrate();
        await store.ssh.insertSshCa({ name: 'users', type: 'user', algorithm: 'ed25519', keyRef: 'k1', keyBackend: 'software', publicKey: new Uint8Array([9]), createdAt: new Date(T0) }, entry('ssh.ca.create'));
        await fn(store);
      } finally {
        await store.close();
        await cleanup();
      }
    };

    it('CAs: unique names, key re-pointing', () => withStore(async (s) => {
      await assert.rejects(s.ssh.insertSshCa({ name: 'users', type: 'host', algorithm: 'ed25519', keyRef: 'k2', keyBackend: 'software', publicKey: new Uint8Array([9]), createdAt: new Date(T0) }, entry('dup')),
        (e: Error & { code?: string }) => e.code === 'conflict');
      assert.equal((await s.ssh.listSshCas()).length, 1);
      assert.equal(await s.ssh.setSshCaKey('users', 'k9', 'pkcs11'), true);
      assert.equal((await s.ssh.getSshCa('users'))?.keyRef, 'k9');
      assert.equal(await s.ssh.setSshCaKey('nope', 'k9', 'pkcs11'), false);
      const audit = [];
      for await (const e of s.iterateAudit()) audit.push(e.action);
      assert.deepEqual(audit, ['ssh.ca.create'], 'the refused duplicate appended nothing');
    }));

    it('certificates with their audit entry; listing, search, revocation and KRL versions', () => withStore(async (s) => {
      const e1 = await s.ssh.insertSshCertificate(sshCert('11'), entry('ssh.issue'));
      assert.equal(e1.seq, 2);
      await s.ssh.insertSshCertificate(sshCert('12', { principals: ['bob'], keyId: 'bob-laptop' }), entry('ssh.issue'));
      await assert.rejects(s.ssh.insertSshCertificate(sshCert('11'), entry('dup')), (e: Error & { code?: string }) => e.code === 'conflict');
      const got = await s.ssh.getSshCertificate('11');
      assert.deepEqual(got?.principals, ['alice', 'deploy']);
      assert.deepEqual([...got!.cert], [1, 2, 11]);
      const page = await s.ssh.listSshCertificates({ limit: 1 }, new Date(T0));
      assert.deepEqual(page.items.map((c) => c.serial), ['12']);
      const next = await s.ssh.listSshCertificates({ limit: 1, cursor: page.nextCursor! }, new Date(T0));
      assert.deepEqual(next.items.map((c) => c.serial), ['11']);
      assert.equal(next.nextCursor, null);
      assert.deepEqual((await s.ssh.listSshCertificates({ limit: 10, search: 'BOB' }, new Date(T0))).items.map((c) => c.serial), ['12']);
      assert.equal((await s.ssh.listSshCertificates({ limit: 10, status: 'expired' }, new Date(T0 + 9 * HOUR))).items.length, 2);

      assert.deepEqual(await s.ssh.sshRevocations('users', new Date(T0)), { version: 0, serials: [] });
      const r = await s.ssh.revokeSshCertificate('11', new Date(T0 + HOUR), entry('ssh.revoke'));
      assert.equal(r.status, 'revoked');
      await assert.rejects(s.ssh.revokeSshCertificate('11', new Date(T0 + HOUR), entry('x')), (e: Error & { code?: string }) => e.code === 'alreadyRevoked');
      await assert.rejects(s.ssh.revokeSshCertificate('99', new Date(T0 + HOUR), entry('x')), (e: Error & { code?: string }) => e.code === 'notFound');
      assert.deepEqual(await s.ssh.sshRevocations('users', new Date(T0)), { version: 1, serials: ['11'] });
      assert.deepEqual((await s.ssh.sshRevocations('users', new Date(T0 + 9 * HOUR))).serials, [], 'expired ones leave the KRL');
      assert.deepEqual((await s.ssh.listSshCertificates({ limit: 10, status: 'revoked' }, new Date(T0))).items.map((c) => c.serial), ['11']);

      assert.equal(await s.ssh.latestSshKrl('users'), null);
      await s.ssh.saveSshKrl({ caName: 'users', version: 1, generatedAt: new Date(T0), krl: new Uint8Array([1]) });
      await s.ssh.saveSshKrl({ caName: 'users', version: 0, generatedAt: new Date(T0 + 1), krl: new Uint8Array([0]) });
      assert.deepEqual([...(await s.ssh.latestSshKrl('users'))!.krl], [1], 'an older KRL never replaces a newer one');
      await s.ssh.saveSshKrl({ caName: 'users', version: 2, generatedAt: new Date(T0 + 2), krl: new Uint8Array([2]) });
      assert.equal((await s.ssh.latestSshKrl('users'))?.version, 2);
      const audit = [];
      for await (const e of s.iterateAudit()) audit.push(e.action);
      assert.deepEqual(audit, ['ssh.ca.create', 'ssh.issue', 'ssh.issue', 'ssh.revoke']);
    }));
  });
}
