/**
 * Files of a backup ceremony: the backup file, one share file per custodian
 * (mode 0600, never overwritten) and the ceremony record, in one directory
 * (mode 0700).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BackupSink, ShareDelivery } from './key-backup.js';
import type { KeyBackupArtifact } from './backup-artifact.js';

export function custodianSlug(name: string): string {
  return name.normalize('NFKD').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').toLowerCase().slice(0, 40) || 'custodian';
}

export function artifactFileName(backupId: string): string { return `${backupId}.backup.json`; }
export function shareFileName(s: Pick<ShareDelivery, 'backupId' | 'index' | 'custodian'>): string { return `${s.backupId}.share-${s.index}-${custodianSlug(s.custodian)}.txt`; }
export function backupRecordFileName(backupId: string): string { return `${backupId}.backup-record.txt`; }

/** Writes a new file, refusing to replace an existing one (a share must never be overwritten by another). */
export function writeNewFile(path: string, content: string, mode = 0o600): void {
  writeFileSync(path, content, { mode, flag: 'wx' });
}

export function ensureDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return resolve(dir);
}

/** Writes the backup file and, unless `printShare` is given, each share to its own file in `dir`. */
export function directorySink(dir: string, printShare?: (s: ShareDelivery) => Promise<string>): BackupSink {
  const abs = ensureDir(dir);
  return {
    async saveArtifact(a: KeyBackupArtifact, json: string): Promise<string> {
      const p = join(abs, artifactFileName(a.backupId));
      writeNewFile(p, json, 0o644);
      return p;
    },
    async deliverShare(s: ShareDelivery): Promise<string> {
      if (printShare) return printShare(s);
      const p = join(abs, shareFileName(s));
      writeNewFile(p, s.text);
      return p;
    },
  };
}
