/**
 * Base backups on the targets: `base/<id>/base.tar.<nnn>` chunks and
 * `base/<id>/manifest.json` (written last: a backup without one is
 * incomplete and ignored), all encrypted.
 */
import { BackupDecryptError, decryptObject } from '../envelope.js';
import type { BackupTarget } from '../target.js';
import { PitrError } from './pitr-error.js';

export interface BaseChunk { key: string; bytes: number; sha256: string }

export interface BaseManifest {
  format: 'rampart-pitr-base/1';
  id: string;
  /** Server time (ISO) when the backup started and when it was complete (consistent). */
  startedAt: string;
  finishedAt: string;
  timeline: number;
  startLsn: string;
  endLsn: string;
  /** First and last WAL segment the backup needs from the archive. */
  startWal: string;
  endWal: string;
  walSegmentSize: number;
  serverVersion: string;
  source: string;
  chunks: BaseChunk[];
  tarBytes: number;
}

export const baseManifestKey = (id: string) => `base/${id}/manifest.json`;

export function newBaseId(now: Date): string {
  return `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${Math.random().toString(16).slice(2, 6)}`;
}

export interface CatalogEntry { manifest: BaseManifest; targets: string[] }

/** Every complete base backup on any target, oldest first. A manifest that does not decrypt is a wrong passphrase. */
export async function listBaseBackups(targets: BackupTarget[], secret: Uint8Array): Promise<CatalogEntry[]> {
  const byId = new Map<string, CatalogEntry>();
  for (const t of targets) {
    for (const key of await t.list('base/')) {
      const m = /^base\/([^/]+)\/manifest\.json$/.exec(key);
      if (!m) continue;
      const known = byId.get(m[1]!);
      if (known) { known.targets.push(t.name); continue; }
      const blob = await t.get(key);
      if (!blob) continue;
      let manifest: BaseManifest;
      try {
        manifest = JSON.parse(decryptObject(secret, key, blob).toString('utf8')) as BaseManifest;
      } catch (e) {
        if (e instanceof BackupDecryptError) throw new PitrError('wrong-passphrase', `cannot read base backup ${m[1]} on target ${t.name}: wrong backup passphrase (or the object was altered)`);
        throw e;
      }
      byId.set(m[1]!, { manifest, targets: [t.name] });
    }
  }
  return [...byId.values()].sort((a, b) => a.manifest.finishedAt.localeCompare(b.manifest.finishedAt));
}

/** The newest base backup that was complete at or before `t`. */
export function pickBaseBackup(entries: CatalogEntry[], t: Date): CatalogEntry {
  const usable = entries.filter((e) => new Date(e.manifest.finishedAt).getTime() <= t.getTime());
  const pick = usable.at(-1);
  if (!pick) {
    const oldest = entries[0];
    throw new PitrError('no-base-backup', oldest
      ? `no base backup was complete by ${t.toISOString()}: the oldest one (${oldest.manifest.id}) finished at ${oldest.manifest.finishedAt}`
      : 'no base backup on the targets: run `rampart pitr base` first');
  }
  return pick;
}
