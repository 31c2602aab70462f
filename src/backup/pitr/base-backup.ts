/**
 * `rampart pitr base`: a physical base backup with pg_basebackup (tar
 * format, -X none: the WAL from start to end comes from the archive, which
 * PostgreSQL waits for before pg_basebackup returns), encrypted in 64 MiB
 * chunks to every target, then the manifest (start/end LSN, timeline, times).
 * Tablespaces other than the default ones are refused.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { encryptObject, newKek } from '../envelope.js';
import type { BackupTarget } from '../target.js';
import { baseManifestKey, newBaseId, type BaseChunk, type BaseManifest } from './base-catalog.js';
import type { PgTools } from './pg-tools.js';
import { PitrError } from './pitr-error.js';
import { parseLsn, segmentName } from './wal-names.js';

export const CHUNK_BYTES = 64 << 20;

export interface PgConnection { host: string; port: number; user: string; database: string; password?: string }

export interface BaseBackupOptions {
  targets: BackupTarget[];
  secret: Uint8Array;
  conn: PgConnection;
  tools: PgTools;
  log?: (msg: string) => void;
}

async function serverState(conn: PgConnection): Promise<{ now: Date; segmentSize: number; version: string }> {
  const sql = postgres({ host: conn.host, port: conn.port, user: conn.user, database: conn.database, password: conn.password, max: 1, connect_timeout: 10, onnotice: () => undefined });
  try {
    const [r] = await sql<{ now: Date; segbytes: string; version: string }[]>`
      SELECT clock_timestamp() AS now, current_setting('server_version') AS version,
             (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS segbytes`;
    return { now: new Date(r!.now), segmentSize: Number(r!.segbytes), version: r!.version };
  } catch (e) {
    throw new PitrError('base-backup-failed', `cannot query ${conn.host}:${conn.port}: ${(e as Error).message}`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export async function takeBaseBackup(o: BaseBackupOptions): Promise<BaseManifest> {
  if (o.targets.length === 0) throw new PitrError('no-targets', 'no backup targets');
  const log = o.log ?? (() => undefined);
  const before = await serverState(o.conn);
  const id = newBaseId(before.now);
  const tmp = mkdtempSync(join(tmpdir(), 'rampart-pitr-base-'));
  try {
    const env = { ...process.env, ...(o.conn.password ? { PGPASSWORD: o.conn.password } : {}) };
    log(`pg_basebackup from ${o.conn.host}:${o.conn.port} as ${o.conn.user}`);
    await o.tools.run('pg_basebackup', ['-h', o.conn.host, '-p', String(o.conn.port), '-U', o.conn.user, '-w', '-D', tmp,
      '-F', 't', '-X', 'none', '-c', 'fast', '-l', `rampart ${id}`], { env }).catch((e: Error) => {
      throw new PitrError('base-backup-failed', e.message);
    });
    const after = await serverState(o.conn);
    const files = (await fs.readdir(tmp)).sort();
    const extra = files.filter((f) => f !== 'base.tar' && f !== 'backup_manifest');
    if (extra.length) throw new PitrError('base-backup-failed', `tablespaces are not supported (pg_basebackup wrote ${extra.join(', ')})`);
    const pgManifest = JSON.parse(await fs.readFile(join(tmp, 'backup_manifest'), 'utf8')) as { 'WAL-Ranges': { Timeline: number; 'Start-LSN': string; 'End-LSN': string }[] };
    const range = pgManifest['WAL-Ranges'].at(-1);
    if (!range) throw new PitrError('base-backup-failed', 'backup_manifest has no WAL range');
    const startLsn = parseLsn(range['Start-LSN']);
    const endLsn = parseLsn(range['End-LSN']);

    const kek = newKek(o.secret);
    const putAll = async (key: string, data: Uint8Array) => {
      const blob = encryptObject(kek, key, data);
      for (const t of o.targets) {
        try { await t.put(key, blob); } catch (e) { throw new PitrError('target-failed', `target ${t.name} (${t.describe()}): ${(e as Error).message}`); }
      }
    };
    const chunks: BaseChunk[] = [];
    const fh = await fs.open(join(tmp, 'base.tar'), 'r');
    let tarBytes = 0;
    try {
      const buf = Buffer.alloc(CHUNK_BYTES);
      for (;;) {
        let n = 0;
        while (n < CHUNK_BYTES) {
          const { bytesRead } = await fh.read(buf, n, CHUNK_BYTES - n, null);
          if (bytesRead === 0) break;
          n += bytesRead;
        }
        if (n === 0) break;
        const data = buf.subarray(0, n);
        const key = `base/${id}/base.tar.${String(chunks.length).padStart(4, '0')}`;
        await putAll(key, data);
        chunks.push({ key, bytes: n, sha256: createHash('sha256').update(data).digest('hex') });
        tarBytes += n;
        if (n < CHUNK_BYTES) break;
      }
    } finally {
      await fh.close();
    }
    await putAll(`base/${id}/backup_manifest`, await fs.readFile(join(tmp, 'backup_manifest')));
    const manifest: BaseManifest = {
      format: 'rampart-pitr-base/1', id,
      startedAt: before.now.toISOString(), finishedAt: after.now.toISOString(),
      timeline: range.Timeline, startLsn: range['Start-LSN'], endLsn: range['End-LSN'],
      startWal: segmentName(range.Timeline, startLsn, before.segmentSize),
      endWal: segmentName(range.Timeline, endLsn > startLsn ? endLsn - 1n : endLsn, before.segmentSize),
      walSegmentSize: before.segmentSize, serverVersion: before.version, source: `${o.conn.host}:${o.conn.port}`,
      chunks, tarBytes,
    };
    await putAll(baseManifestKey(id), Buffer.from(JSON.stringify(manifest, null, 2)));
    log(`base backup ${id}: ${tarBytes} bytes in ${chunks.length} chunk(s), WAL ${manifest.startWal}..${manifest.endWal}`);
    return manifest;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
