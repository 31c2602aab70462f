/**
 * The CLI side of a backup ceremony, shared by `rampart key backup` and the
 * SSH CA creation ceremony (`rampart ssh ca create --backup`): the sharing
 * options, custodian passphrases (files or hidden prompts), where the
 * backup file and shares go, the printable ceremony record, and the summary.
 */
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { RampartNode } from '../../main/node.js';
import { backupRecordFileName, directorySink, writeNewFile } from '../../keys/custody/backup-files.js';
import { CeremonyJournal } from '../../keys/custody/ceremony-journal.js';
import { CustodyError } from '../../keys/custody/custody-error.js';
import { DEFAULT_SHARES, DEFAULT_THRESHOLD, checkSharing } from '../../keys/custody/kek-sharing.js';
import { checkCustodians, type BackupSink, type KeyBackupRequest, type KeyBackupResult, type ShareDelivery } from '../../keys/custody/key-backup.js';
import { readPassphraseFiles, wipeAll } from '../../keys/custody/passphrase-files.js';
import { SecretPrompt } from '../../keys/custody/secret-prompt.js';
import { MIN_PASSPHRASE_LENGTH, checkPassphrase } from '../../keys/custody/share-sealing.js';
import { cliActor, type GlobalOptions } from '../context.js';

export interface SharingOpts {
  threshold: number; shares: number; custodian: string[]; outDir: string; print?: boolean; sealWithPassphrases?: boolean; passphraseFile: string[];
}

const collect = (v: string, prev: string[]) => [...prev, v];
export const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new CustodyError('invalid-request', `${name} must be a whole number (got "${v}")`);
  return n;
};

/** The options of `rampart key backup` that say how a key is shared out. */
export function backupOptions(cmd: Command): Command {
  return cmd
    .option('--threshold <k>', 'shares needed to restore', int('--threshold'), DEFAULT_THRESHOLD)
    .option('--shares <n>', 'shares made, one per custodian (2..16)', int('--shares'), DEFAULT_SHARES)
    .option('--custodian <name>', 'a custodian, in share order (repeat: exactly --shares times)', collect, [])
    .option('--out-dir <dir>', 'where the backup file, the ceremony record and (without --print) the share files go', 'key-backups')
    .option('--print', 'print each share once on stdout instead of writing share files')
    .option('--seal-with-passphrases', 'seal each share with its custodian\'s passphrase (asked without echo, or --passphrase-file)')
    .option('--passphrase-file <name=file>', 'a custodian\'s passphrase from the first line of a file (repeat; for scripts)', collect, []);
}

/** Checks the sharing options, reads passphrase files, runs `fn`, and wipes the passphrases. */
export async function withBackupPassphrases(o: SharingOpts, fn: (passphrases: Map<string, Uint8Array>) => Promise<void>): Promise<void> {
  checkSharing(o.threshold, o.shares);
  checkCustodians(o.custodian, o.shares);
  if (o.passphraseFile.length && !o.sealWithPassphrases) throw new CustodyError('invalid-request', '--passphrase-file goes with --seal-with-passphrases');
  const passphrases = readPassphraseFiles(o.passphraseFile, o.custodian);
  try {
    await fn(passphrases);
  } finally {
    wipeAll(passphrases);
  }
}

export function journalFor(node: RampartNode, title: string, issuerId: string): CeremonyJournal {
  const j = new CeremonyJournal({ title, audit: node.audit, actor: cliActor(), clock: node.clock, target: `issuer:${issuerId}` });
  j.fact('Node', `${node.cluster.nodeId} (${node.paths.dataDir})`);
  return j;
}

/** Asks a custodian for a new passphrase twice, without echo. */
async function askNewPassphrase(prompt: SecretPrompt, custodian: string): Promise<Uint8Array> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    const a = await prompt.line(`Passphrase for ${custodian}'s share (at least ${MIN_PASSPHRASE_LENGTH} characters, not shown): `, true);
    if (a === null) break;
    const b = await prompt.line(`Again, to confirm: `, true);
    if (a !== b) { prompt.say('The two entries differ; try again.'); continue; }
    const p = new Uint8Array(Buffer.from(a, 'utf8'));
    try {
      checkPassphrase(custodian, p);
      return p;
    } catch (e) {
      prompt.say((e as Error).message);
    }
  }
  throw new CustodyError('invalid-request', `no usable passphrase for custodian ${custodian}`);
}

/** Writes a ceremony record without replacing an earlier one (a second run in the same second gets "-2"); returns the path or null. */
export function tryWrite(path: string, text: string): string | null {
  for (let n = 1; n < 100; n++) {
    const p = n === 1 ? path : path.replace(/(\.txt)?$/, `-${n}$1`);
    try {
      writeNewFile(p, text, 0o644);
      return p;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      process.stderr.write(`rampart: could not write the ceremony record ${p}: ${(e as Error).message}\n`);
      return null;
    }
  }
  return null;
}

export interface BackupCeremonyOutcome {
  result: KeyBackupResult;
  record: string;
  recordPath: string | null;
  printed: ShareDelivery[];
}

type BackupRun = (req: Omit<KeyBackupRequest, 'issuer' | 'keys'>, sink: BackupSink, journal: CeremonyJournal) => Promise<KeyBackupResult>;

/**
 * Asks for missing passphrases, runs the backup (`run`: createKeyBackup, or
 * the SSH CA creation ceremony) into `o.outDir` (or printing the shares),
 * and writes the ceremony record, also when it failed.
 */
export async function runBackupCeremony(node: RampartNode, g: GlobalOptions, o: SharingOpts, passphrases: Map<string, Uint8Array>, ownerId: string, title: string, run: BackupRun): Promise<BackupCeremonyOutcome> {
  if (o.sealWithPassphrases) {
    const missing = o.custodian.filter((c) => !passphrases.has(c));
    if (missing.length && !process.stdin.isTTY) {
      throw new CustodyError('invalid-request', `no terminal to ask ${missing.join(', ')} for a passphrase: use --passphrase-file NAME=FILE`);
    }
    if (missing.length) {
      const prompt = new SecretPrompt();
      try {
        prompt.say(`Each custodian now chooses the passphrase that seals their share (${missing.join(', ')}).`);
        for (const c of missing) passphrases.set(c, await askNewPassphrase(prompt, c));
      } finally {
        prompt.close();
      }
    }
  }
  const journal = journalFor(node, title, ownerId);
  const printed: ShareDelivery[] = [];
  const printShare = o.print ? async (s: ShareDelivery): Promise<string> => {
    if (g.json) printed.push(s);
    else process.stdout.write(`\n=== Share ${s.index} of ${s.count} for custodian ${s.custodian}: give it to ${s.custodian} only, keep no copy ===\n${s.text}`);
    return 'printed';
  } : undefined;
  const dir = resolve(o.outDir);
  let result: KeyBackupResult;
  try {
    result = await run({
      threshold: o.threshold, custodians: o.custodian, passphrases: o.sealWithPassphrases ? passphrases : undefined,
      node: node.cluster.nodeId, createdBy: cliActor().id, clock: node.clock,
    }, directorySink(dir, printShare), journal);
  } catch (e) {
    const id = journal.factOf('Backup');
    if (id) tryWrite(join(dir, backupRecordFileName(id)), journal.render(`FAILED: ${(e as Error).message}`));
    throw e;
  }
  const a = result.artifact;
  const record = journal.render(`SUCCESS: backup ${a.backupId}, ${a.sharing.threshold} of ${a.sharing.shares} shares handed out`);
  const recordPath = tryWrite(join(dir, backupRecordFileName(a.backupId)), record);
  return { result, record, recordPath, printed };
}

/** The --json view of a finished backup. */
export function backupView(d: BackupCeremonyOutcome): Record<string, unknown> {
  const a = d.result.artifact;
  return {
    backupId: a.backupId, issuerId: a.issuer.id, subject: a.issuer.subject, algorithm: a.key.algorithm, spkiSha256: a.key.spkiSha256,
    certificateSha256: a.issuer.certificateSha256, threshold: a.sharing.threshold, shares: a.sharing.shares, backupFile: d.result.artifactLocation,
    record: d.recordPath, custodians: d.result.shares.map((s) => ({ ...s, ...(d.printed.length ? { share: d.printed.find((p) => p.index === s.index)!.text } : {}) })),
  };
}

/** The text summary of a finished backup. */
export function backupText(d: BackupCeremonyOutcome, o: SharingOpts): string[] {
  const a = d.result.artifact;
  return [
    ...(o.print ? ['', d.record] : []),
    `Backup ${a.backupId} of ${a.issuer.subject} (${a.issuer.id}): any ${a.sharing.threshold} of ${a.sharing.shares} custodians can restore the key.`,
    `  key:          ${a.key.algorithm}, SPKI SHA256 ${a.key.spkiSha256}`,
    `  backup file:  ${d.result.artifactLocation} (not secret; keep it with your backups)`,
    ...d.result.shares.map((s) => `  share ${s.index}:      ${s.custodian}${s.sealed ? ' (sealed)' : ''}  ${s.location}`),
    `  record:       ${d.recordPath ?? '(not written, see above)'} (print, sign, file)`,
    o.print ? 'The shares were printed above, once: nothing else holds them.' : 'Hand each share file to its custodian, then delete the share files here.',
  ];
}
