/**
 * `rampart key backup | restore | list`: k-of-n backups of CA keys to
 * custodians (Shamir shares of a one-time key-encryption key) and the restore
 * ceremony. The work is in src/keys/custody/; this file is prompts and files.
 * See docs/runbooks/key-ceremony.md.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { RampartNode } from '../../main/node.js';
import { parseArtifact, type KeyBackupArtifact } from '../../keys/custody/backup-artifact.js';
import { CustodyError } from '../../keys/custody/custody-error.js';
import { createKeyBackup } from '../../keys/custody/key-backup.js';
import { checkRestoreTarget, restoreKey, type RestoreOptions, type RestoreResult } from '../../keys/custody/key-restore.js';
import { readPassphraseFiles, wipeAll } from '../../keys/custody/passphrase-files.js';
import { backupOptions, backupText, backupView, journalFor, runBackupCeremony, tryWrite, withBackupPassphrases, type SharingOpts } from './backup-ceremony.js';
import { SecretPrompt } from '../../keys/custody/secret-prompt.js';
import { ShareCollection, type PassphraseSource } from '../../keys/custody/share-collection.js';
import { SHARE_END, parseShares, type ShareBlock } from '../../keys/custody/share-format.js';
import { cliActor, out, withNode, type GlobalOptions } from '../context.js';
import { sshKeyOwner, sshRestoreStore } from '../../ca/ssh/ssh-custody.js';
import type { KeyOwner } from '../../keys/custody/key-owner.js';

const collect = (v: string, prev: string[]) => [...prev, v];

interface BackupOpts extends SharingOpts { issuer?: string; sshCa?: string }
interface RestoreOpts { backup: string; shareFile: string[]; passphraseFile: string[]; verifyOnly?: boolean; replace?: boolean; record?: string }

export function registerKey(program: Command, g: () => GlobalOptions): void {
  const key = program.command('key').description('CA key custody: k-of-n backups to custodians, restore ceremonies, key inventory');

  backupOptions(key.command('backup')
    .description('split a CA key into custodian shares: any --threshold of the --shares custodians can restore it')
    .option('--issuer <id>', 'the CA whose key to back up (default: the active issuing CA)')
    .option('--ssh-ca <name>', 'back up the key of this SSH CA instead (`rampart ssh ca list`)'))
    .action(async (o: BackupOpts) => {
      await withBackupPassphrases(o, (passphrases) => withNode(g(), (node) => backup(node, g(), o, passphrases)));
    });

  key.command('restore')
    .description('restore ceremony: custodians present their shares, the key is rebuilt, proven against the CA certificate and imported')
    .requiredOption('--backup <file>', 'the backup file (<backup-id>.backup.json)')
    .option('--share-file <file>', 'a share file (repeat); without any, each custodian pastes their share at a hidden prompt', collect, [])
    .option('--passphrase-file <name=file>', 'passphrase of a custodian\'s sealed share from a file (repeat; for scripts)', collect, [])
    .option('--verify-only', 'a drill: rebuild and verify the key, import nothing')
    .option('--replace', 'import even though the issuer\'s current key is present (e.g. moving it to another backend)')
    .option('--record <file>', 'where to write the ceremony record (default: next to the backup file; "-" to only print it)')
    .action(async (o: RestoreOpts) => {
      const artifact = parseArtifact(readText(o.backup, 'backup file'), o.backup);
      const passphrases = readPassphraseFiles(o.passphraseFile, artifact.sharing.custodians.map((c) => c.name));
      try {
        await withNode(g(), (node) => restore(node, g(), o, artifact, passphrases));
      } finally {
        wipeAll(passphrases);
      }
    });

  key.command('list')
    .description('the keys of this node\'s issuers and SSH CAs: backend, reference, and whether the key is present')
    .action(async () => {
      await withNode(g(), async (node) => {
        const rows: Array<{ id: string; kind: string; subject: string; active: boolean; backend: string; keyRef: string; present: boolean | null }> = [];
        const presence = async (backend: string, ref: string): Promise<boolean | null> => {
          try { return backend === node.keys.type ? await node.keys.has(ref) : null; } catch { return false; }
        };
        for (const i of node.ca.all()) {
          const present = await presence(i.keyBackend, i.keyRef);
          rows.push({ id: i.id, kind: i.kind, subject: i.subject, active: i.active, backend: i.keyBackend, keyRef: i.keyRef, present });
        }
        for (const c of await node.sshAuthority.list()) {
          const o = sshKeyOwner(c);
          rows.push({ id: o.id, kind: o.kind, subject: o.subject, active: true, backend: c.keyBackend, keyRef: c.keyRef, present: await presence(c.keyBackend, c.keyRef) });
        }
        out(g(), { backend: node.keys.type, keys: rows }, () => [
          `${'issuer'.padEnd(28)} ${'kind'.padEnd(12)} ${'backend'.padEnd(9)} ${'key'.padEnd(8)} reference`,
          ...rows.map((r) => `${r.id.padEnd(28)} ${r.kind.padEnd(12)} ${r.backend.padEnd(9)} ${(r.present === null ? '-' : r.present ? 'present' : 'MISSING').padEnd(8)} ${r.keyRef}`),
          `(key backend of this node: ${node.keys.type}; "-": the key is not kept by it)`,
        ].join('\n'));
      });
    });
}

/** Issuers, and SSH CAs (ids ssh:<name>; recorded from the backup on a node that has none). */
function restoreStore(node: RampartNode, a: KeyBackupArtifact) {
  return sshRestoreStore({ store: node.store.ssh, issuers: node.store, artifact: a, audit: node.audit, clock: node.clock, actor: cliActor() });
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new CustodyError('invalid-request', `cannot read the ${what} ${file}: ${(e as Error).message}`);
  }
}

async function backup(node: RampartNode, g: GlobalOptions, o: BackupOpts, passphrases: Map<string, Uint8Array>): Promise<void> {
  if (o.sshCa && o.issuer) throw new CustodyError('invalid-request', 'give --issuer or --ssh-ca, not both');
  const issuer: KeyOwner | undefined = o.sshCa ? sshKeyOwner(await node.sshAuthority.ca(o.sshCa)) : o.issuer ? node.ca.get(o.issuer) : node.ca.active();
  if (!issuer) throw new CustodyError('invalid-request', `no issuer ${o.issuer} on this node (see \`rampart key list\`)`);
  const done = await runBackupCeremony(node, g, o, passphrases, issuer.id, 'Rampart key backup ceremony record', (req, sink, journal) => createKeyBackup({ ...req, issuer, keys: node.keys }, sink, journal));
  out(g, backupView(done), () => backupText(done, o).join('\n'));
}

async function restore(node: RampartNode, g: GlobalOptions, o: RestoreOpts, a: KeyBackupArtifact, passFiles: Map<string, Uint8Array>): Promise<void> {
  const opts: RestoreOptions = { verifyOnly: o.verifyOnly, replace: o.replace };
  const journal = journalFor(node, `Rampart key restore ceremony record${o.verifyOnly ? ' (verify-only drill)' : ''}`, a.issuer.id);
  journal.fact('Backup', `${a.backupId} (made ${a.createdAt} on ${a.node} by ${a.createdBy})`);
  journal.fact('Backup file', resolve(o.backup));
  journal.fact('Issuer', `${a.issuer.id} (${a.issuer.kind}) ${a.issuer.subject}`);
  journal.fact('CA certificate', `SHA256 ${a.issuer.certificateSha256}`);
  journal.fact('Sharing', `${a.sharing.threshold} of ${a.sharing.shares} shares needed (custodians: ${a.sharing.custodians.map((c) => `${c.index} ${c.name}`).join(', ')})`);
  journal.fact('Target backend', node.keys.type);
  const recordPath = o.record === '-' ? null : resolve(o.record ?? join(dirname(resolve(o.backup)), `${a.backupId}.restore-${node.clock.now().toISOString().replace(/[-:]/g, '').slice(0, 15)}Z.txt`));
  let recordWritten: string | null = null;
  const finish = (outcome: string): string => {
    const text = journal.render(outcome);
    if (recordPath) recordWritten = tryWrite(recordPath, text);
    return text;
  };

  const interactive = o.shareFile.length === 0;
  let prompt: SecretPrompt | null = null;
  const getPrompt = () => (prompt ??= new SecretPrompt());
  const asked = new Set<string>();
  const passphrase: PassphraseSource = async (b: ShareBlock) => {
    const f = passFiles.get(b.custodian);
    if (f) return new Uint8Array(f);
    if (!interactive && !process.stdin.isTTY) return null;
    asked.add(b.custodian);
    const l = await getPrompt().line(`${b.custodian}, the passphrase of your share ${b.index} (not shown): `, true);
    return l === null ? null : new Uint8Array(Buffer.from(l, 'utf8'));
  };
  const say = (s: string) => { if (prompt) prompt.say(s); else process.stderr.write(`${s}\n`); };

  /** Presents one share; a wrong typed passphrase may be retried twice. */
  const present = async (b: ShareBlock): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await collection.present(b, passphrase);
        say(r.status === 'duplicate'
          ? `share ${r.index} (${r.custodian}) was already presented: not counted twice (${r.have} of ${r.need})`
          : `accepted share ${r.index} of ${a.sharing.shares} from custodian ${r.custodian} (${r.have} of ${r.need})`);
        return;
      } catch (e) {
        if (!(e instanceof CustodyError)) throw e;
        say(`REJECTED: ${e.message}`);
        if (!(e.problem === 'passphrase' && asked.has(b.custodian) && attempt < 3)) return;
      }
    }
  };

  const collection = new ShareCollection(a, journal);
  try {
    try {
      await checkRestoreTarget(a, { keys: node.keys, store: restoreStore(node, a) }, opts);
    } catch (e) {
      await journal.step('key.restore', 'failure', `refused before any share was asked for: ${(e as Error).message}`, { backupId: a.backupId, issuerId: a.issuer.id });
      throw e;
    }
    await journal.step('key.restore.begin', 'success', `restore ceremony for backup ${a.backupId}${o.verifyOnly ? ' (verify-only drill)' : ` into the ${node.keys.type} backend`}: ${a.sharing.threshold} of ${a.sharing.shares} shares needed`, {
      backupId: a.backupId, issuerId: a.issuer.id, threshold: a.sharing.threshold, shares: a.sharing.shares, verifyOnly: Boolean(o.verifyOnly), backend: node.keys.type,
    });
    if (!interactive) {
      for (const f of o.shareFile) {
        let blocks: ShareBlock[];
        try {
          blocks = parseShares(readText(f, 'share file'), basename(f));
        } catch (e) {
          if (!(e instanceof CustodyError)) throw e;
          await collection.reject(e, { source: basename(f) });
          say(`REJECTED: ${e.message}`);
          continue;
        }
        for (const b of blocks) await present(b);
      }
    } else {
      const p = getPrompt();
      p.say(`Restore ceremony: backup ${a.backupId} of ${a.issuer.subject}.`);
      p.say(`${a.sharing.threshold} of these ${a.sharing.shares} custodians must present their share: ${a.sharing.custodians.map((c) => `${c.index} ${c.name}`).join(', ')}.`);
      for (let n = 1; !collection.complete(); n++) {
        const text = await p.block(`\nCustodian ${collection.have + 1} of ${collection.need}: paste your share, from BEGIN to END line (input is not shown; "done" to stop):\n`, SHARE_END);
        if (text === null) break;
        let blocks: ShareBlock[];
        try {
          blocks = parseShares(text, `pasted share #${n}`);
        } catch (e) {
          if (!(e instanceof CustodyError)) throw e;
          await collection.reject(e, { source: `pasted share #${n}` });
          p.say(`REJECTED: ${e.message}`);
          continue;
        }
        for (const b of blocks) await present(b);
      }
    }
    (prompt as SecretPrompt | null)?.close();
    const r: RestoreResult = await restoreKey(a, collection, { keys: node.keys, store: restoreStore(node, a) }, journal, opts);
    await node.ca.load();
    const outcome = r.verifyOnly
      ? `SUCCESS (drill): shares ${r.shares.map((s) => s.index).join(', ')} reconstruct the key; it matches the CA certificate; nothing imported`
      : `SUCCESS: key restored into the ${r.backend} backend as ${r.keyRef}; ${a.issuer.id} now signs with it`;
    const record = finish(outcome);
    out(g, { ...r, backupId: a.backupId, record: recordWritten, recordText: record }, () => [
      record,
      recordWritten ? `Ceremony record written to ${recordWritten}` : '',
      r.verifyOnly ? 'Drill complete: nothing was changed.' : 'Restart running Rampart nodes so that they load the restored key.',
    ].filter(Boolean).join('\n'));
  } catch (e) {
    const text = finish(`FAILED: ${(e as Error).message}`);
    if (!g.json) process.stdout.write(`${text}\n`);
    throw e;
  } finally {
    (prompt as SecretPrompt | null)?.close();
    collection.wipe();
  }
}
