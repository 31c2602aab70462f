/**
 * Backups: create (one consistent snapshot written to every target), list,
 * verify, prune. Every object is envelope-encrypted (envelope.ts) under a KEK
 * from the backup secret; the manifest is written last, so a backup without
 * a manifest is incomplete and ignored.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditLog } from '../audit/audit-log.js';
import type { RampartConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import type { RampartMetrics } from '../metrics/metrics.js';
import type { Actor } from '../core/actor.js';
import type { Store } from '../storage/store.js';
import { collectParts } from './backup-parts.js';
import type { DatabaseSnapshot } from '../storage/store.js';
import { decryptObject, encryptObject, newKek } from './envelope.js';
import {
  MANIFEST_FORMAT, backupIdTime, checkManifest, isBackupId, manifestKey, newBackupId, partKey, sha256, signManifest,
  type BackupManifest, type BackupPart, type SignedManifest,
} from './manifest.js';
import type { BackupTarget } from './target.js';

export const LAST_BACKUP_META = 'backup.last';

export interface LastBackup { id: string; time: string; sizeBytes: number; durationSeconds: number }

export interface BackupServiceOptions {
  config: RampartConfig;
  /** The live store (needed by create and for the last-backup record; restore has none). */
  store?: Store;
  targets: BackupTarget[];
  /** The backup secret (backup-secret.ts). */
  secret: Uint8Array;
  nodeId: string;
  version: string;
  clock: Clock;
  dataDir: string;
  /** <dataDir>/keys for a single SQLite node with software keys, else null (keys are in the database or an HSM). */
  keysDir: string | null;
  audit?: AuditLog;
  metrics?: RampartMetrics;
  env?: NodeJS.ProcessEnv;
}

export interface TargetOutcome { target: string; ok: boolean; error?: string }
export interface CreateResult { manifest: BackupManifest; sizeBytes: number; targets: TargetOutcome[]; ok: boolean }
export interface VerifyResult { id: string; target: string; ok: boolean; problems: string[]; manifest?: BackupManifest }
export interface FetchedBackup { manifest: BackupManifest; parts: Map<string, Buffer>; target: string }
export interface ListedBackup {
  id: string; time: string; targets: string[]; sizeBytes?: number; counts?: BackupManifest['counts']; database?: string; error?: string;
}

export class BackupService {
  constructor(private readonly o: BackupServiceOptions) {}

  get targets(): BackupTarget[] { return this.o.targets; }

  // ------------------------------------------------------------ create

  private get store(): Store {
    if (!this.o.store) throw new Error('no database is open for this backup operation');
    return this.o.store;
  }

  async create(actor: Actor): Promise<CreateResult> {
    const t0 = performance.now();
    const now = this.o.clock.now();
    const id = newBackupId(now);
    const tmp = mkdtempSync(join(this.o.dataDir, '.backup-tmp-'));
    let snap: DatabaseSnapshot;
    try {
      snap = await this.snapshotDatabase(join(tmp, 'db'));
    } catch (e) {
      await this.audit(actor, 'backup.create', `backup:${id}`, 'failure', { error: (e as Error).message });
      throw e;
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    const named = [
      { name: snap.partName, data: snap.data },
      ...await collectParts({ config: this.o.config, store: this.store, auditSeq: snap.facts.position.auditSeq, auditHead: snap.facts.position.auditHead, keysDir: this.o.keysDir }),
    ];
    const kek = newKek(this.o.secret);
    const objects: Array<{ key: string; data: Buffer }> = [];
    const parts: BackupPart[] = named.map((p) => {
      const key = partKey(id, p.name);
      objects.push({ key, data: encryptObject(kek, key, p.data) });
      return { name: p.name, key, sha256: sha256(p.data), size: p.data.length };
    });
    const manifest: BackupManifest = {
      format: MANIFEST_FORMAT, id, createdAt: now.toISOString(), nodeId: this.o.nodeId, version: this.o.version,
      database: { kind: snap.partName === 'database.sqlite' ? 'sqlite' : 'postgres', position: snap.facts.position },
      crlNumbers: snap.facts.crlNumbers, counts: snap.facts.counts, parts, durationMs: Math.round(performance.now() - t0),
    };
    const mKey = manifestKey(id);
    objects.push({ key: mKey, data: encryptObject(kek, mKey, Buffer.from(JSON.stringify(signManifest(manifest, this.o.secret)))) });
    const sizeBytes = objects.reduce((s, x) => s + x.data.length, 0);

    const outcomes = await Promise.all(this.o.targets.map(async (t): Promise<TargetOutcome> => {
      try {
        // Parts first, the manifest last: a backup is listed only once it is complete.
        for (const obj of objects.slice(0, -1)) await t.put(obj.key, obj.data);
        await t.put(mKey, objects[objects.length - 1]!.data);
        return { target: t.name, ok: true };
      } catch (e) {
        return { target: t.name, ok: false, error: (e as Error).message };
      }
    }));
    const ok = outcomes.every((x) => x.ok);
    const durationSeconds = (performance.now() - t0) / 1000;
    if (ok) {
      const last: LastBackup = { id, time: manifest.createdAt, sizeBytes, durationSeconds };
      await this.store.setMeta(LAST_BACKUP_META, JSON.stringify(last));
      this.o.metrics?.backupLastSuccess.set(now.getTime() / 1000);
      this.o.metrics?.backupDuration.set(durationSeconds);
      this.o.metrics?.backupSize.set(sizeBytes);
    }
    await this.audit(actor, 'backup.create', `backup:${id}`, ok ? 'success' : 'failure', {
      sizeBytes, targets: outcomes, counts: manifest.counts, database: manifest.database.kind,
    });
    return { manifest, sizeBytes, targets: outcomes, ok };
  }

  private async snapshotDatabase(tmpFile: string): Promise<DatabaseSnapshot> {
    return this.store.backupSnapshot(tmpFile);
  }

  // ------------------------------------------------------------ list

  /** Complete backups (with a manifest) per target, oldest first. */
  async ids(targets = this.o.targets): Promise<Map<string, string[]>> {
    const byId = new Map<string, string[]>();
    for (const t of targets) {
      for (const k of await t.list('backups/')) {
        const m = /^backups\/([^/]+)\/manifest$/.exec(k);
        if (m && isBackupId(m[1]!)) byId.set(m[1]!, [...(byId.get(m[1]!) ?? []), t.name]);
      }
    }
    return new Map([...byId].sort(([a], [b]) => a.localeCompare(b)));
  }

  async list(): Promise<ListedBackup[]> {
    const out: ListedBackup[] = [];
    for (const [id, targets] of await this.ids()) {
      const item: ListedBackup = { id, time: backupIdTime(id).toISOString(), targets };
      try {
        const m = await this.readManifest(this.target(targets[0]!), id);
        Object.assign(item, { time: m.createdAt, sizeBytes: m.parts.reduce((s, p) => s + p.size, 0), counts: m.counts, database: m.database.kind });
      } catch (e) {
        item.error = (e as Error).message;
      }
      out.push(item);
    }
    return out;
  }

  // ------------------------------------------------------------ read and verify

  private target(name: string): BackupTarget {
    const t = this.o.targets.find((x) => x.name === name);
    if (!t) throw new Error(`no backup target named "${name}" (configured: ${this.o.targets.map((x) => x.name).join(', ')})`);
    return t;
  }

  async readManifest(t: BackupTarget, id: string): Promise<BackupManifest> {
    const blob = await t.get(manifestKey(id));
    if (!blob) throw new Error(`backup ${id} is not on target ${t.name}`);
    const plain = decryptObject(this.o.secret, manifestKey(id), blob);
    let signed: SignedManifest;
    try { signed = JSON.parse(plain.toString('utf8')) as SignedManifest; } catch { throw new Error(`backup ${id}: the manifest is not valid JSON`); }
    return checkManifest(signed, this.o.secret, id);
  }

  /** Resolves which backup (default: the newest) on which target (default: the first that has it). */
  async locate(id?: string, targetName?: string): Promise<{ id: string; target: BackupTarget }> {
    const targets = targetName ? [this.target(targetName)] : this.o.targets;
    const ids = await this.ids(targets);
    if (id !== undefined && !isBackupId(id)) throw new Error(`"${id}" is not a backup id (e.g. 20250101T120000123Z-1a2b3c; see \`rampart backup list\`)`);
    const pick = id ?? [...ids.keys()].pop();
    if (!pick) throw new Error(`no backups on ${targets.map((t) => `${t.name} (${t.describe()})`).join(', ')}`);
    const where = ids.get(pick);
    if (!where) throw new Error(`backup ${pick} not found on ${targets.map((t) => t.name).join(', ')}`);
    return { id: pick, target: this.target(where[0]!) };
  }

  /** Downloads and decrypts every part, checking sizes and checksums; throws with the first problem. */
  async fetch(id: string, t: BackupTarget): Promise<FetchedBackup> {
    const manifest = await this.readManifest(t, id);
    const parts = new Map<string, Buffer>();
    for (const p of manifest.parts) {
      if (p.key !== partKey(id, p.name)) throw new Error(`backup ${id}: part ${p.name} has an unexpected object key ${p.key}`);
      const blob = await t.get(p.key);
      if (!blob) throw new Error(`backup ${id}: part ${p.name} (${p.key}) is missing on target ${t.name}`);
      const plain = decryptObject(this.o.secret, p.key, blob);
      if (plain.length !== p.size) throw new Error(`backup ${id}: part ${p.name} is ${plain.length} bytes, the manifest says ${p.size}`);
      if (sha256(plain) !== p.sha256) throw new Error(`backup ${id}: part ${p.name} does not match its sha256 in the manifest`);
      parts.set(p.name, plain);
    }
    return { manifest, parts, target: t.name };
  }

  async verify(actor: Actor, id?: string, targetName?: string): Promise<VerifyResult[]> {
    const loc = await this.locate(id, targetName);
    const targets = targetName ? [loc.target] : this.o.targets;
    const results: VerifyResult[] = [];
    for (const t of targets) {
      try {
        const f = await this.fetch(loc.id, t);
        results.push({ id: loc.id, target: t.name, ok: true, problems: [], manifest: f.manifest });
      } catch (e) {
        results.push({ id: loc.id, target: t.name, ok: false, problems: [(e as Error).message] });
      }
    }
    const ok = results.every((r) => r.ok);
    await this.audit(actor, 'backup.verify', `backup:${loc.id}`, ok ? 'success' : 'failure', {
      targets: results.map((r) => ({ target: r.target, ok: r.ok, problems: r.problems })),
    });
    return results;
  }

  // ------------------------------------------------------------ prune

  /** Deletes backups older than retentionDays on every target, always keeping the newest one. */
  async prune(actor: Actor): Promise<{ deleted: string[]; kept: string[] }> {
    const cutoff = this.o.clock.now().getTime() - this.o.config.backup.retentionDays * 86_400_000;
    const all = await this.ids();
    const ids = [...all.keys()];
    const newest = ids[ids.length - 1];
    const deleted: string[] = [];
    for (const id of ids) {
      if (id === newest || backupIdTime(id).getTime() >= cutoff) continue;
      for (const t of this.o.targets) {
        const keys = await t.list(`backups/${id}/`);
        // The manifest first: a half-deleted backup is never listed as complete.
        if (keys.includes(manifestKey(id))) await t.delete(manifestKey(id));
        for (const k of keys) if (k !== manifestKey(id)) await t.delete(k);
      }
      deleted.push(id);
    }
    const kept = ids.filter((x) => !deleted.includes(x));
    await this.audit(actor, 'backup.prune', 'backups', 'success', { deleted, kept: kept.length, retentionDays: this.o.config.backup.retentionDays });
    return { deleted, kept };
  }

  private async audit(actor: Actor, action: string, target: string, outcome: 'success' | 'failure', details: Record<string, unknown>): Promise<void> {
    await this.o.audit?.record({ actor: actor.id, source: actor.source, channel: actor.channel, action, target, outcome, details });
  }
}
