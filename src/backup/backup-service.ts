/**
 * Backups: create (one consistent snapshot written to every target), list,
 * verify, prune. Every object is envelope-encrypted (envelope.ts) under a KEK
 * from the backup secret; the manifest is written last, so a backup without
 * a manifest is incomplete and ignored.
 */
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditLog } from '../audit/audit-log.js';
import type { RampartConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import type { RampartMetrics } from '../metrics/metrics.js';
import type { Actor } from '../core/actor.js';
import type { Store } from '../storage/store.js';
import { collectParts } from './backup-parts.js';
import type { DatabaseSnapshot } from '../storage/store.js';
import { decryptObject, encryptObject, newKekAsync } from './envelope.js';
import { readPart, writePart, type PartSource, type WrittenPart } from './part-stream.js';
import { writeStreamToFile } from './file-stream.js';
import { ProgressMeter, type BackupPhase, type ProgressFn } from './progress.js';
import {
  MANIFEST_FORMAT, backupIdTime, checkManifest, isBackupId, manifestKey, newBackupId, partKey, signManifest,
  type BackupManifest, type SignedManifest,
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
/** Small parts kept in memory (`keep`), by name. */
export interface FetchedBackup { manifest: BackupManifest; parts: Map<string, Buffer>; target: string }
export interface FetchOptions {
  manifest?: BackupManifest;
  /** Parts streamed to a consumer (which must read the whole stream; a failure after it is thrown by fetch). */
  sinks?: Record<string, (plain: AsyncIterable<Uint8Array>) => Promise<void>>;
  toFiles?: Record<string, string>; keep?: string[]; onProgress?: ProgressFn | undefined; phase?: BackupPhase }
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

  /**
   * Snapshot (to a temporary file in the data directory, removed at the end, also on failure), then every
   * part streamed through encryption to each target (in parallel), then the manifest. Memory stays bounded
   * whatever the database size.
   */
  async create(actor: Actor, onProgress?: ProgressFn): Promise<CreateResult> {
    const t0 = performance.now();
    const now = this.o.clock.now();
    const id = newBackupId(now);
    const tmp = mkdtempSync(join(this.o.dataDir, '.backup-tmp-'));
    try {
      let snap: DatabaseSnapshot;
      try {
        const meter = new ProgressMeter(onProgress, 'snapshot');
        snap = await this.store.backupSnapshot(join(tmp, 'db'), (b, total) => meter.set(b, total));
        meter.finish();
      } catch (e) {
        await this.audit(actor, 'backup.create', `backup:${id}`, 'failure', { error: (e as Error).message });
        throw e;
      }
      const small = await collectParts({ config: this.o.config, store: this.store, auditSeq: snap.facts.position.auditSeq, auditHead: snap.facts.position.auditHead, keysDir: this.o.keysDir });
      const sources: PartSource[] = [
        { name: snap.partName, size: statSync(snap.file).size, open: () => createReadStream(snap.file, { highWaterMark: 1 << 20 }) },
        ...small.map((p) => ('data' in p ? { name: p.name, size: p.data.length, open: () => [p.data] } : { name: p.name, size: 0, open: p.stream })),
      ];
      const kek = await newKekAsync(this.o.secret);
      const meter = new ProgressMeter(onProgress, 'upload', sources.reduce((n, x) => n + x.size, 0) * this.o.targets.length);
      const uploads = await Promise.all(this.o.targets.map(async (t) => {
        const written: WrittenPart[] = [];
        try {
          for (const src of sources) written.push(await writePart(t, kek, partKey(id, src.name), src, meter));
          return { target: t.name, ok: true, written };
        } catch (e) {
          return { target: t.name, ok: false, error: (e as Error).message, written };
        }
      }));
      meter.finish();
      const parts = uploads.reduce((best, u) => (u.written.length > best.length ? u.written : best), [] as WrittenPart[]);
      const manifest: BackupManifest = {
        format: MANIFEST_FORMAT, id, createdAt: now.toISOString(), nodeId: this.o.nodeId, version: this.o.version,
        database: { kind: snap.partName === 'database.sqlite' ? 'sqlite' : 'postgres', position: snap.facts.position },
        crlNumbers: snap.facts.crlNumbers, counts: snap.facts.counts, parts: parts.map((w) => w.part), durationMs: 0,
      };
      manifest.durationMs = Math.round(performance.now() - t0);
      const mKey = manifestKey(id);
      const mBlob = encryptObject(kek, mKey, Buffer.from(JSON.stringify(signManifest(manifest, this.o.secret))));
      const sizeBytes = parts.reduce((n, w) => n + w.storedBytes, 0) + mBlob.length;
      // The manifest last, only where every part was written: a backup is listed only once it is complete.
      const outcomes = await Promise.all(uploads.map(async (u): Promise<TargetOutcome> => {
        if (!u.ok) return { target: u.target, ok: false, error: u.error! };
        try {
          await this.target(u.target).put(mKey, mBlob);
          return { target: u.target, ok: true };
        } catch (e) {
          return { target: u.target, ok: false, error: (e as Error).message };
        }
      }));
      return await this.recordCreate(actor, manifest, sizeBytes, outcomes, t0, now);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  private async recordCreate(actor: Actor, manifest: BackupManifest, sizeBytes: number, outcomes: TargetOutcome[], t0: number, now: Date): Promise<CreateResult> {
    const ok = outcomes.every((x) => x.ok);
    const durationSeconds = (performance.now() - t0) / 1000;
    if (ok) {
      const last: LastBackup = { id: manifest.id, time: manifest.createdAt, sizeBytes, durationSeconds };
      await this.store.setMeta(LAST_BACKUP_META, JSON.stringify(last));
      this.o.metrics?.backupLastSuccess.set(now.getTime() / 1000);
      this.o.metrics?.backupDuration.set(durationSeconds);
      this.o.metrics?.backupSize.set(sizeBytes);
    }
    await this.audit(actor, 'backup.create', `backup:${manifest.id}`, ok ? 'success' : 'failure', {
      sizeBytes, targets: outcomes, counts: manifest.counts, database: manifest.database.kind,
    });
    return { manifest, sizeBytes, targets: outcomes, ok };
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

  /**
   * Downloads and decrypts every part as a stream, checking sizes and checksums; throws with the first
   * problem. Parts named in `sinks` go to that consumer, those in `toFiles` are written to that path (mode 0600), those in `keep` are returned
   * in memory (small parts only), the others are only checked.
   */
  async fetch(id: string, t: BackupTarget, o: FetchOptions = {}): Promise<FetchedBackup> {
    const manifest = o.manifest ?? await this.readManifest(t, id);
    const kept = new Map<string, Buffer>();
    const meter = new ProgressMeter(o.onProgress, o.phase ?? 'verify', manifest.parts.reduce((n, p) => n + p.size, 0));
    for (const p of manifest.parts) {
      if (p.key !== partKey(id, p.name)) throw new Error(`backup ${id}: part ${p.name} has an unexpected object key ${p.key}`);
      const file = o.toFiles?.[p.name];
      const sink = o.sinks?.[p.name];
      const keep = o.keep?.includes(p.name);
      await readPart(t, this.o.secret, id, p, meter, async (plain) => {
        if (sink) {
          await sink(plain);
        } else if (file) {
          await writeStreamToFile(file, plain);
        } else if (keep) {
          const pieces: Uint8Array[] = [];
          for await (const x of plain) pieces.push(x);
          kept.set(p.name, Buffer.concat(pieces));
        } else {
          for await (const _ of plain) { /* checked by readPart */ }
        }
      });
    }
    meter.finish();
    return { manifest, parts: kept, target: t.name };
  }

  async verify(actor: Actor, id?: string, targetName?: string, onProgress?: ProgressFn): Promise<VerifyResult[]> {
    const loc = await this.locate(id, targetName);
    const targets = targetName ? [loc.target] : this.o.targets;
    const results: VerifyResult[] = [];
    for (const t of targets) {
      try {
        const f = await this.fetch(loc.id, t, { onProgress });
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
