/**
 * WAL archiving on BackupTargets: `wal/<file name>`, encrypted per object
 * (envelope.ts, the object key as AAD so a segment cannot be passed off as
 * another). push is PostgreSQL's archive_command, fetch its restore_command.
 *
 * push is idempotent the way PostgreSQL asks for: a file already archived
 * with the same content is success (archive_command may be run again after
 * a crash); with different content it is a failure, never an overwrite.
 */
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BackupDecryptError, decryptObject, encryptObject, newKek } from '../envelope.js';
import type { BackupTarget } from '../target.js';
import { PitrError } from './pitr-error.js';
import { WAL_FILE } from './wal-names.js';

export const walKey = (name: string) => `wal/${name}`;

function checkName(name: string): void {
  if (!WAL_FILE.test(name)) throw new PitrError('invalid-request', `"${name}" is not a WAL file name`);
}

export interface PushResult { name: string; stored: string[]; alreadyArchived: string[] }

export async function walPush(o: { targets: BackupTarget[]; secret: Uint8Array; path: string; name: string }): Promise<PushResult> {
  checkName(o.name);
  if (o.targets.length === 0) throw new PitrError('no-targets', 'no backup targets');
  const data = await fs.readFile(o.path);
  const key = walKey(o.name);
  const result: PushResult = { name: o.name, stored: [], alreadyArchived: [] };
  let blob: Buffer | undefined;
  const failures: string[] = [];
  for (const t of o.targets) {
    try {
      const existing = await t.get(key);
      if (existing) {
        let old: Buffer;
        try {
          old = decryptObject(o.secret, key, existing);
        } catch (e) {
          throw e instanceof BackupDecryptError
            ? new PitrError('wrong-passphrase', `${o.name} is already on target ${t.name} but cannot be decrypted: ${e.message}`)
            : e;
        }
        if (!old.equals(data)) throw new PitrError('wal-conflict', `${o.name} is already archived on target ${t.name} with different content (another cluster archiving to the same place?)`);
        result.alreadyArchived.push(t.name);
        continue;
      }
      blob ??= encryptObject(newKek(o.secret), key, data);
      await t.put(key, blob);
      result.stored.push(t.name);
    } catch (e) {
      failures.push(`${t.name} (${t.describe()}): ${(e as Error).message}`);
      if (e instanceof PitrError && e.code === 'wal-conflict') throw new PitrError('wal-conflict', failures.join('; '));
    }
  }
  if (failures.length) throw new PitrError('target-failed', `archiving ${o.name} failed on ${failures.join('; ')}`);
  return result;
}

export type FetchResult = { found: true; target: string } | { found: false };

/**
 * Writes the decrypted file to `dest` (atomically) from the first target that
 * has it. Not found anywhere: { found: false } (PostgreSQL asks for files
 * that do not exist as part of normal recovery). Not found but a target
 * failed, or the file does not decrypt: an error, so recovery stops instead
 * of ending early at a gap.
 */
export async function walFetch(o: { targets: BackupTarget[]; secret: Uint8Array; name: string; dest: string }): Promise<FetchResult> {
  checkName(o.name);
  const key = walKey(o.name);
  const failures: string[] = [];
  for (const t of o.targets) {
    let blob: Uint8Array | null;
    try {
      blob = await t.get(key);
    } catch (e) {
      failures.push(`${t.name}: ${(e as Error).message}`);
      continue;
    }
    if (!blob) continue;
    let data: Buffer;
    try {
      data = decryptObject(o.secret, key, blob);
    } catch (e) {
      throw new PitrError('wrong-passphrase', `${o.name} from target ${t.name}: ${(e as Error).message}`);
    }
    const tmp = join(dirname(o.dest), `.rampart-${process.pid}-${randomBytes(4).toString('hex')}`);
    await fs.writeFile(tmp, data, { mode: 0o600 });
    await fs.rename(tmp, o.dest);
    return { found: true, target: t.name };
  }
  if (failures.length) throw new PitrError('target-failed', `cannot fetch ${o.name}: ${failures.join('; ')}`);
  return { found: false };
}

/** Archived WAL file names on any target, sorted, without duplicates. */
export async function listArchivedWal(targets: BackupTarget[]): Promise<string[]> {
  const names = new Set<string>();
  for (const t of targets) for (const k of await t.list('wal/')) names.add(k.slice(4));
  return [...names].sort();
}
