/**
 * k-of-n key backup and restore on a real node (SQLite data directory,
 * software keys): every 3-of-5 combination restores the issuing CA key,
 * every 2-share set is refused, corrupted, foreign and duplicate shares are
 * named, sealed shares need their passphrase, and a full restore imports
 * the key and points the CA at it. The audit log carries every step and no
 * share.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey, randomBytes, verify } from 'node:crypto';
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../src/config/load.js';
import { RampartNode } from '../src/main/node.js';
import { bootstrapNode } from '../src/main/first-run.js';
import { removeDir } from './helpers/node-process.js';
import type { IssuerRecord } from '../src/core/types.js';
import { hashFor, type KeyBackend } from '../src/keys/key-backend.js';
import { SoftwareKeyBackend } from '../src/keys/software/software-backend.js';
import { KeyUnwrapError, unwrapKey } from '../src/keys/custody/aes-key-wrap.js';
import { parseArtifact, serializeArtifact, type KeyBackupArtifact } from '../src/keys/custody/backup-artifact.js';
import { CeremonyJournal } from '../src/keys/custody/ceremony-journal.js';
import { CustodyError } from '../src/keys/custody/custody-error.js';
import { combineShares } from '../src/keys/custody/kek-sharing.js';
import { createKeyBackup, type BackupSink, type ShareDelivery } from '../src/keys/custody/key-backup.js';
import { restoreKey } from '../src/keys/custody/key-restore.js';
import { ShareCollection } from '../src/keys/custody/share-collection.js';
import { parseShares, type ShareBlock } from '../src/keys/custody/share-format.js';

const ACTOR = { id: 'test:custody', role: 'admin', source: 'local', channel: 'cli' as const };
const CUSTODIANS = ['alice', 'bob', 'carol', 'dave', 'erin'];

function combinations<T>(xs: T[], k: number): T[][] {
  if (k === 0) return [[]];
  return xs.flatMap((x, i) => combinations(xs.slice(i + 1), k - 1).map((rest) => [x, ...rest]));
}

/** Keeps the pieces in memory, like a ceremony that prints them. */
function memorySink(): BackupSink & { shares: ShareDelivery[]; json: string } {
  const s = {
    shares: [] as ShareDelivery[], json: '',
    async saveArtifact(_a: KeyBackupArtifact, json: string) { s.json = json; return 'memory'; },
    async deliverShare(d: ShareDelivery) { s.shares.push(d); return `memory:${d.custodian}`; },
  };
  return s;
}

let dir: string;
let node: RampartNode;
let issuer: IssuerRecord;
let backup: { artifact: KeyBackupArtifact; blocks: ShareBlock[]; texts: string[] };

const journal = (title = 'test') => new CeremonyJournal({ title, audit: node.audit, actor: ACTOR, clock: node.clock, target: `issuer:${issuer.id}` });

async function makeBackup(o: { threshold?: number; custodians?: string[]; passphrases?: Map<string, Uint8Array>; of?: IssuerRecord } = {}) {
  const sink = memorySink();
  const r = await createKeyBackup({
    issuer: o.of ?? issuer, keys: node.keys, threshold: o.threshold ?? 3, custodians: o.custodians ?? CUSTODIANS, passphrases: o.passphrases,
    node: 'test-node', createdBy: ACTOR.id, clock: node.clock,
  }, sink, journal('backup'));
  const texts = sink.shares.map((s) => s.text);
  return { artifact: parseArtifact(sink.json, 'memory'), blocks: texts.map((t, i) => parseShares(t, `share-${i + 1}.txt`)[0]!), texts, result: r };
}

async function collect(artifact: KeyBackupArtifact, blocks: ShareBlock[], j = journal('restore')): Promise<ShareCollection> {
  const c = new ShareCollection(artifact, j);
  for (const b of blocks) await c.present(b);
  return c;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-custody-'));
  const config = loadConfig({ overrides: { dataDir: dir }, env: {} });
  node = await RampartNode.open({ config, createSecret: true, logger: pino({ level: 'silent' }), env: {} });
  await bootstrapNode(node);
  issuer = node.ca.active();
  backup = await makeBackup();
});

after(async () => {
  await node?.close();
  removeDir(dir);
});

describe('software backend as KeyWrapper (RFC 5649 AES-256-KWP of PKCS#8)', () => {
  it('exports wrapped under a one-time KEK and imports into another backend; a wrong KEK is refused clearly', async () => {
    const keysDir = mkdtempSync(join(tmpdir(), 'rampart-wrap-'));
    try {
      const a = new SoftwareKeyBackend({ dir: join(keysDir, 'a'), secret: Buffer.from('secret of backend a') });
      const b = new SoftwareKeyBackend({ dir: join(keysDir, 'b'), secret: Buffer.from('secret of backend b') });
      for (const alg of ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048'] as const) {
        const k = await a.generate(alg, alg);
        const kek = randomBytes(32);
        const w = await a.exportWrapped(k.keyRef, kek);
        assert.equal(w.algorithm, alg);
        assert.deepEqual(Buffer.from(w.spki), Buffer.from(k.spki));
        assert.equal(w.wrapped.length % 8, 0);
        const pkcs8 = unwrapKey(kek, w.wrapped);
        assert.equal(createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).export({ type: 'spki', format: 'der' }).equals(Buffer.from(k.spki)), true);
        await assert.rejects(b.importWrapped('x', alg, w.wrapped, randomBytes(32)), /cannot import wrapped key "x": key unwrap failed: wrong key-encryption key/);
        await assert.rejects(b.importWrapped('x', alg === 'rsa-2048' ? 'ecdsa-p256' : 'rsa-2048', w.wrapped, kek), /it is .*, not/);
        const imported = await b.importWrapped('restored', alg, w.wrapped, kek);
        const reopened = await new SoftwareKeyBackend({ dir: join(keysDir, 'b'), secret: Buffer.from('secret of backend b') }).open(imported.keyRef);
        const data = Buffer.from('hello');
        const pub = createPublicKey({ key: Buffer.from(k.spki), format: 'der', type: 'spki' });
        assert.ok(verify(hashFor(alg), data, alg.startsWith('ecdsa') ? { key: pub, dsaEncoding: 'der' } : pub, await reopened.sign(data)));
      }
      await assert.rejects(a.exportWrapped('no-such-key', randomBytes(32)), /key not found: no-such-key/);
      await assert.rejects(a.exportWrapped((await a.generate('k', 'ecdsa-p256')).keyRef, randomBytes(16)), /must be 32 bytes/);
    } finally {
      rmSync(keysDir, { recursive: true, force: true });
    }
  });
});

describe('backup', () => {
  it('writes a backup file that reveals nothing and one self-describing share per custodian', () => {
    const a = backup.artifact;
    assert.match(a.backupId, /^kb-\d{8}-[0-9a-f]{8}$/);
    assert.equal(a.issuer.id, issuer.id);
    assert.equal(a.issuer.subject, issuer.subject);
    assert.equal(a.wrap.method, 'aes-256-kwp-pkcs8');
    assert.equal(a.sharing.threshold, 3);
    assert.equal(a.sharing.shares, 5);
    assert.deepEqual(a.sharing.custodians.map((c) => c.name), CUSTODIANS);
    assert.equal(a.key.algorithm, 'ecdsa-p256');
    assert.deepEqual(Buffer.from(a.key.spki, 'base64'), new X509Certificate(Buffer.from(issuer.certDer)).publicKey.export({ type: 'spki', format: 'der' }));
    const json = serializeArtifact(a);
    assert.ok(!/PRIVATE KEY/.test(json));
    for (const t of backup.texts) {
      const data = parseShares(t, 'x')[0]!.data;
      assert.ok(!json.includes(Buffer.from(data).toString('base64')), 'no share in the backup file');
    }
    assert.deepEqual(backup.blocks.map((b) => [b.index, b.custodian, b.count, b.threshold]), CUSTODIANS.map((c, i) => [i + 1, c, 5, 3]));
  });

  it('refuses bad sharing parameters and custodian lists clearly', async () => {
    await assert.rejects(makeBackup({ threshold: 1 }), /threshold must be 2\.\.5/);
    await assert.rejects(makeBackup({ threshold: 6 }), /threshold must be 2\.\.5/);
    await assert.rejects(makeBackup({ custodians: ['a'], threshold: 2 }), /number of shares must be 2\.\.16/);
    await assert.rejects(makeBackup({ custodians: Array.from({ length: 17 }, (_, i) => `c${i}`) }), /number of shares must be 2\.\.16/);
    await assert.rejects(makeBackup({ custodians: ['alice', 'bob', 'Alice'] }), /custodian "Alice" is named twice/);
    await assert.rejects(makeBackup({ custodians: ['alice', 'bob', 'x\ny'] }), /custodian name "x\ny" is not allowed/);
    await assert.rejects(makeBackup({ custodians: ['alice', 'bob', 'carol'], passphrases: new Map([['alice', Buffer.from('long enough passphrase')]]) }), /no passphrase for custodian bob/);
    await assert.rejects(makeBackup({ of: node.ca.all().find((i) => i.kind === 'ocsp-signer')! }), /OCSP signer, not a CA/);
  });

  it('refuses clearly when the backend cannot export the key (no KeyWrapper, or a non-extractable key)', async () => {
    const plain: KeyBackend = { type: 'plain', generate: node.keys.generate.bind(node.keys), open: node.keys.open.bind(node.keys), has: node.keys.has.bind(node.keys), health: node.keys.health.bind(node.keys) };
    const hsmLike = Object.assign(Object.create(node.keys) as KeyBackend, {
      exportWrapped: async () => { throw new Error('CKR_KEY_UNEXTRACTABLE: key is not extractable'); },
      importWrapped: async () => { throw new Error('unused'); },
    });
    for (const [keys, re] of [[plain, /the plain key backend cannot export keys/], [hsmLike, new RegExp(`the software key backend refused to export the key of ${issuer.id}: CKR_KEY_UNEXTRACTABLE`)]] as const) {
      await assert.rejects(createKeyBackup({ issuer, keys, threshold: 2, custodians: ['a', 'b'], node: 'n', createdBy: 'x', clock: node.clock }, memorySink(), journal()), (e: unknown) => {
        assert.ok(e instanceof CustodyError && e.problem === 'not-exportable', String(e));
        assert.match((e as Error).message, re);
        return true;
      });
    }
  });
});

describe('restore', () => {
  it('every one of the 10 sets of 3 shares reconstructs the key, proven against the CA certificate', async () => {
    const sets = combinations([0, 1, 2, 3, 4], 3);
    assert.equal(sets.length, 10);
    for (const set of sets) {
      const c = await collect(backup.artifact, set.map((i) => backup.blocks[i]!));
      const r = await restoreKey(backup.artifact, c, { keys: node.keys, store: node.store }, journal(), { verifyOnly: true });
      assert.equal(r.proof.spkiSha256, backup.artifact.key.spkiSha256, `shares ${set.map((i) => i + 1)}`);
      assert.deepEqual(r.shares.map((s) => s.index), set.map((i) => i + 1));
    }
    // More than K shares work too.
    const all = await collect(backup.artifact, backup.blocks);
    assert.equal((await restoreKey(backup.artifact, all, { keys: node.keys, store: node.store }, journal(), { verifyOnly: true })).proof.spkiSha256, backup.artifact.key.spkiSha256);
  });

  it('every one of the 10 sets of 2 shares is refused: "need 3 shares, have 2"; combined anyway, AES-KWP catches the wrong key', async () => {
    const sets = combinations([0, 1, 2, 3, 4], 2);
    assert.equal(sets.length, 10);
    for (const set of sets) {
      const c = await collect(backup.artifact, set.map((i) => backup.blocks[i]!));
      await assert.rejects(restoreKey(backup.artifact, c, { keys: node.keys, store: node.store }, journal(), { verifyOnly: true }), (e: unknown) => {
        assert.ok(e instanceof CustodyError && e.problem === 'insufficient');
        assert.equal((e as Error).message, 'need 3 shares, have 2');
        return true;
      });
      // Shamir combining of too few shares "succeeds" with a wrong key: the unwrap integrity check is what notices.
      const raw = set.map((i) => new Uint8Array(backup.blocks[i]!.data));
      const wrongKek = await combineShares(raw);
      assert.throws(() => unwrapKey(wrongKek, Buffer.from(backup.artifact.wrap.wrappedKey, 'base64')), KeyUnwrapError);
    }
  });

  it('a backup file whose wrapped key was altered: "these shares do not reconstruct the key"', async () => {
    const w = Buffer.from(backup.artifact.wrap.wrappedKey, 'base64');
    w[10] = w[10]! ^ 0x40;
    const altered = { ...backup.artifact, wrap: { ...backup.artifact.wrap, wrappedKey: w.toString('base64') } };
    const c = await collect(altered, backup.blocks.slice(0, 3));
    await assert.rejects(restoreKey(altered, c, { keys: node.keys, store: node.store }, journal(), { verifyOnly: true }), /these shares do not reconstruct the key/);
  });

  it('a share with a flipped bit is detected and its custodian named', async () => {
    const lines = backup.texts[1]!.split('\n');
    const at = lines.indexOf('') + 1;
    const b = Buffer.from(lines[at]!, 'latin1');
    b[3] = b[3]! ^ 0x04;
    lines[at] = b.toString('latin1');
    assert.throws(() => parseShares(lines.join('\n'), 'bob-share.txt'), (e: unknown) => {
      assert.ok(e instanceof CustodyError && e.problem === 'corrupted');
      assert.equal(e.share?.custodian, 'bob');
      assert.equal(e.share?.index, 2);
      assert.match((e as Error).message, /^share 2 \(custodian bob, from bob-share\.txt\) is corrupted/);
      return true;
    });
  });

  it('a share of another backup is named foreign and not counted', async () => {
    const other = await makeBackup();
    const c = new ShareCollection(backup.artifact, journal());
    await c.present(backup.blocks[0]!);
    await assert.rejects(c.present(other.blocks[2]!), (e: unknown) => {
      assert.ok(e instanceof CustodyError && e.problem === 'foreign');
      assert.match((e as Error).message, new RegExp(`share 3 \\(custodian carol, from share-3\\.txt\\) is foreign: it belongs to backup ${other.artifact.backupId}`));
      return true;
    });
    assert.equal(c.have, 1);
    assert.deepEqual(c.rejected().length, 1);
  });

  it('a share whose header was edited (checksum recomputed) is caught by the digest in the backup file', async () => {
    const swapped = { ...backup.blocks[3]!, index: 2, custodian: 'bob' };
    const c = new ShareCollection(backup.artifact, journal());
    await assert.rejects(c.present(swapped), /is not the share that backup .* issued to bob \(digest differs\)/);
    const renamed = { ...backup.blocks[3]!, custodian: 'mallory' };
    await assert.rejects(c.present(renamed), /names custodian mallory, but backup .* gave share 4 to dave/);
  });

  it('duplicate shares do not count twice', async () => {
    const c = new ShareCollection(backup.artifact, journal());
    assert.equal((await c.present(backup.blocks[0]!)).status, 'accepted');
    assert.equal((await c.present(backup.blocks[0]!)).status, 'duplicate');
    const again = parseShares(backup.texts[0]!, 'second-copy.txt')[0]!;
    assert.equal((await c.present(again)).status, 'duplicate');
    assert.equal((await c.present(backup.blocks[1]!)).status, 'accepted');
    assert.equal(c.have, 2);
    await assert.rejects(restoreKey(backup.artifact, c, { keys: node.keys, store: node.store }, journal(), { verifyOnly: true }), /^CustodyError: need 3 shares, have 2$/);
  });

  it('passphrase-sealed shares need the right passphrase', async () => {
    const pass = new Map(['ana', 'ben', 'cat'].map((n) => [n, Buffer.from(`${n}'s long passphrase`)] as [string, Uint8Array]));
    const sealed = await makeBackup({ threshold: 2, custodians: ['ana', 'ben', 'cat'], passphrases: pass });
    assert.ok(sealed.blocks.every((b) => b.sealed));
    assert.ok(sealed.artifact.sharing.custodians.every((c) => c.sealed));
    const c = new ShareCollection(sealed.artifact, journal());
    await assert.rejects(c.present(sealed.blocks[0]!), /share 1 \(custodian ana, from share-1\.txt\) is sealed: the custodian's passphrase is needed/);
    await assert.rejects(c.present(sealed.blocks[0]!, async () => Buffer.from('ben\'s long passphrase')), /share 1 \(custodian ana, from share-1\.txt\): wrong passphrase/);
    await assert.rejects(c.present(sealed.blocks[0]!, async () => Buffer.from('not even close at all')), /wrong passphrase/);
    assert.equal(c.have, 0);
    await c.present(sealed.blocks[0]!, async (b) => pass.get(b.custodian)!);
    await c.present(sealed.blocks[2]!, async (b) => pass.get(b.custodian)!);
    const r = await restoreKey(sealed.artifact, c, { keys: node.keys, store: node.store }, journal(), { verifyOnly: true });
    assert.equal(r.proof.spkiSha256, sealed.artifact.key.spkiSha256);
    await assert.rejects(makeBackup({ threshold: 2, custodians: ['ana', 'ben', 'cat'], passphrases: new Map([...pass, ['cat', Buffer.from('short')]]) }), /passphrase of custodian cat is too short/);
  });

  it('full restore of a lost key: imported, proven, the CA points at it and signs; a present key is not replaced by accident', async () => {
    const c0 = await collect(backup.artifact, backup.blocks.slice(0, 3));
    await assert.rejects(restoreKey(backup.artifact, c0, { keys: node.keys, store: node.store }, journal()), /is present in this node's software backend: nothing to restore/);

    unlinkSync(join(node.paths.keysDir, `${issuer.keyRef}.key.json`));
    // A fresh process's view: the key is gone.
    const fresh = new SoftwareKeyBackend({ dir: node.paths.keysDir, secret: node.secret });
    assert.equal(await fresh.has(issuer.keyRef), false);
    const c = await collect(backup.artifact, [backup.blocks[1]!, backup.blocks[3]!, backup.blocks[4]!]);
    const r = await restoreKey(backup.artifact, c, { keys: fresh, store: node.store }, journal());
    assert.equal(r.verifyOnly, false);
    assert.equal(r.previousKeyRef, issuer.keyRef);
    assert.match(r.keyRef!, /^intermediate-restored-/);
    const stored = (await node.store.getIssuer(issuer.id))!;
    assert.equal(stored.keyRef, r.keyRef);
    assert.deepEqual(Buffer.from(stored.certDer), Buffer.from(issuer.certDer), 'same certificate');
    const signer = await new SoftwareKeyBackend({ dir: node.paths.keysDir, secret: node.secret }).open(stored.keyRef);
    const data = Buffer.from('after restore');
    const pub = new X509Certificate(Buffer.from(issuer.certDer)).publicKey;
    assert.ok(verify('sha256', data, { key: pub, dsaEncoding: 'der' }, await signer.sign(data)), 'the restored key signs for the original certificate');
  });

  it('the audit log holds every ceremony step and no share; the chain verifies', async () => {
    const entries = [];
    for await (const e of node.store.iterateAudit()) entries.push(e);
    const actions = new Set(entries.map((e) => e.action));
    for (const a of ['key.backup', 'key.backup.share', 'key.restore.share', 'key.restore.reconstruct', 'key.restore.verify', 'key.restore']) assert.ok(actions.has(a), a);
    const rejected = entries.filter((e) => e.action === 'key.restore.share' && e.outcome === 'failure').map((e) => String(e.details?.problem));
    for (const p of ['foreign', 'duplicate', 'passphrase', 'conflict']) assert.ok(rejected.includes(p), p);
    const restored = entries.filter((e) => e.action === 'key.restore' && e.outcome === 'success' && !e.details?.verifyOnly);
    assert.equal(restored.length, 1);
    const all = JSON.stringify(entries);
    for (const t of backup.texts) assert.ok(!all.includes(Buffer.from(parseShares(t, 'x')[0]!.data).toString('base64')), 'no share data in the audit log');
    assert.equal((await node.audit.verify()).ok, true);
  });
});
