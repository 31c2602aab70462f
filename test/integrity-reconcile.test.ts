/**
 * Reconciliation from a forwarded audit copy (JSON lines, as the jsonl
 * destination writes it) into a restored database, on real SQLite files: a
 * consistent copy of the database (the backup snapshot) is taken after two
 * issuances; two more are issued and one of them revoked; the copy is then
 * reconciled. The certificates issued after the copy come back from the DER
 * in their audit entries, the revocation is applied again, the lost audit
 * tail is appended verbatim and the chain verifies; an issuance entry without
 * its DER is named unrecoverable; a changed line is reported and not used; a
 * second run changes nothing.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startInProcessNode, type InProcessTestNode } from './helpers/running-node.js';
import { newCsr } from '../src/dr/lifecycle-check.js';
import { forwardRecord } from '../src/audit/forward/audit-sink.js';
import { AuditLog, hashEntry } from '../src/audit/audit-log.js';
import { ChainVerifier } from '../src/audit/chain-verifier.js';
import { systemClock } from '../src/core/clock.js';
import type { AuditEntry } from '../src/core/types.js';
import { createStore } from '../src/storage/create-store.js';
import type { Store } from '../src/storage/store.js';
import { reconcileFromAudit } from '../src/integrity/reconcile.js';

describe('integrity reconcile --from-audit', () => {
  let fixture: InProcessTestNode | undefined;
  let restored: Store | undefined;
  let fromDir: Store | undefined;
  after(async () => {
    await restored?.close();
    await fromDir?.close();
    await fixture?.close();
  });

  it('puts back what was issued and revoked after the backup, names what it cannot', async () => {
    fixture = await startInProcessNode({ prefix: 'rampart-reconcile-' });
    const { node, dataDir } = fixture;
    const actor = { id: 'cli:test', role: 'admin', source: 'local', channel: 'cli' } as const;
    const issue = async (cn: string) => (await node.issuance.issue({ csr: await newCsr(cn), profile: 'server' }, actor)).record.serial;
    const early = [await issue('r0.example.test'), await issue('r1.example.test')];
    const backupFile = join(dataDir, 'backup-copy.db');
    const snap = await node.store.backupSnapshot(backupFile);
    const late = [await issue('r2.example.test'), await issue('r3.example.test')];
    await node.revocation.revoke(late[0]!, 'keyCompromise', actor);

    const entries: AuditEntry[] = [];
    for await (const e of node.store.iterateAudit()) entries.push(e);
    const last = entries[entries.length - 1]!;
    const forged: Omit<AuditEntry, 'hash'> = {
      seq: last.seq + 1, time: new Date(), actor: 'cli:old', source: 'local', channel: 'cli', action: 'certificate.issue', target: 'serial:0badc0de',
      outcome: 'success', details: { profile: 'server', subject: 'CN=old' }, prevHash: last.hash,
    };
    const withoutDer = { ...forged, hash: hashEntry(forged) };
    // Tidy archived certificates that expired long ago: none of these.
    const archivedBody: Omit<AuditEntry, 'hash'> = {
      seq: withoutDer.seq + 1, time: new Date(), actor: 'system', source: 'local', channel: 'system', action: 'certificate.archive', target: 'archive:tidy/x',
      outcome: 'success', details: { count: 1, newestNotAfter: '2001-01-01T00:00:00.000Z' }, prevHash: withoutDer.hash,
    };
    const archived = { ...archivedBody, hash: hashEntry(archivedBody) };
    const ctx = { node: 'a', ca: null };
    const lines = [...entries, withoutDer, archived].map((e) => JSON.stringify(forwardRecord(e, ctx)));
    lines.splice(3, 0, lines[2]!); // a batch sent twice (at least once delivery)
    const changed = JSON.parse(lines[1]!) as { actor: string };
    changed.actor = 'someone-else';
    lines.push(JSON.stringify(changed), '{not json');
    const file = join(dataDir, 'audit.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n`);

    const snapCopy = join(dataDir, 'backup-copy-2.db');
    copyFileSync(snap.file, snapCopy);
    restored = createStore(node.config, { dbPath: snap.file });
    await restored.migrate();
    for (const s of late) assert.equal(await restored.getCertificate(s), null, 'not in the backup');
    const audit = new AuditLog({ store: restored, clock: systemClock });
    const r = await reconcileFromAudit(restored, audit, file);

    assert.deepEqual(r.restored, late);
    assert.deepEqual(r.archived, []);
    assert.deepEqual(r.revoked, [late[0]]);
    assert.equal(r.alreadyPresent, early.length);
    assert.deepEqual(r.unrecoverable.map((u) => [u.serial, u.seq]), [['0badc0de', withoutDer.seq]]);
    assert.match(r.unrecoverable[0]!.reason, /carries no DER/);
    assert.deepEqual(r.badLines.map((b) => b.reason.replace(/\d+/, 'N')), ['entry N: its content does not match its hash (changed after it was written)', 'not JSON']);
    assert.equal(r.auditGap, null);
    assert.equal(r.head.hash, archived.hash);
    assert.equal(r.auditAppended, archived.seq - r.restoredHead.seq);
    for (const s of [...early, ...late]) assert.ok(await restored.getCertificate(s), s);
    const rec = (await restored.getCertificate(late[0]!))!;
    assert.equal(rec.status, 'revoked');
    assert.equal(rec.revocationReason, 1);
    const original = (await node.store.getCertificate(late[1]!))!;
    const back = (await restored.getCertificate(late[1]!))!;
    assert.deepEqual(Buffer.from(back.der), Buffer.from(original.der));
    assert.deepEqual([back.issuerId, back.profile, back.subject, back.sans, back.notAfter.getTime(), back.crlShard], [original.issuerId, original.profile, original.subject, original.sans, original.notAfter.getTime(), original.crlShard]);
    const chain = await new ChainVerifier({ store: restored, clock: systemClock, everyMs: 0, fullEveryRuns: 1 }).verify();
    assert.equal(chain.ok, true, JSON.stringify(chain.problem));
    assert.equal(chain.headSeq, archived.seq);

    const again = await reconcileFromAudit(restored, audit, file);
    assert.deepEqual([again.restored, again.revoked, again.auditAppended, again.auditReplayed], [[], [], 0, 0]);
    assert.deepEqual(again.unrecoverable.map((u) => u.serial), ['0badc0de']);

    // The same copy as a log rotator leaves it: the newer half in audit.jsonl, the older in audit.jsonl.1
    // (name order is not seq order); a directory is read file by file in seq order.
    const rotated = join(dataDir, 'siem');
    mkdirSync(rotated);
    const half = Math.floor(lines.length / 2);
    writeFileSync(join(rotated, 'audit.jsonl.1'), `${lines.slice(0, half).join('\n')}\n`);
    writeFileSync(join(rotated, 'audit.jsonl'), `${lines.slice(half).join('\n')}\n`);
    fromDir = createStore(node.config, { dbPath: snapCopy });
    await fromDir.migrate();
    const d = await reconcileFromAudit(fromDir, new AuditLog({ store: fromDir, clock: systemClock }), rotated);
    assert.deepEqual([d.restored, d.revoked, d.unrecoverable.map((u) => u.serial), d.auditAppended, d.auditGap], [late, [late[0]], ['0badc0de'], r.auditAppended, null]);
    assert.equal(d.linesRead, lines.length);
    assert.deepEqual(d.badLines.map((b) => b.reason.replace(/\d+/g, 'N')), ['audit.jsonl line N: entry N: its content does not match its hash (changed after it was written)', 'audit.jsonl line N: not JSON']);
    const dirChain = await new ChainVerifier({ store: fromDir, clock: systemClock, everyMs: 0, fullEveryRuns: 1 }).verify();
    assert.equal(dirChain.ok, true, JSON.stringify(dirChain.problem));
  });
});
