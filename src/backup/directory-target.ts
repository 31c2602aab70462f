/**
 * A backup target on a local (or mounted) directory. Objects are files named
 * by their key; a write streams to a temporary file in the same directory, is
 * fsynced and renamed into place, so a reader never sees a partial object.
 * Files are mode 0600, directories 0700.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, promises as fsp, readdirSync, readFileSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { writeStreamToFile } from './file-stream.js';
import type { BackupTarget } from './target.js';

/** Object keys are relative, '/'-separated, without '.' or '..' segments. */
export function checkObjectKey(key: string): void {
  if (!key || key.startsWith('/') || key.split('/').some((s) => s === '' || s === '.' || s === '..') || key.includes('\\') || key.includes('\0')) {
    throw new Error(`invalid backup object key "${key}"`);
  }
}

const isMissing = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === 'ENOENT';

export class DirectoryTarget implements BackupTarget {
  constructor(readonly name: string, readonly dir: string) {}

  describe(): string { return this.dir; }

  private file(key: string): string {
    checkObjectKey(key);
    return join(this.dir, ...key.split('/'));
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    await this.putStream(key, [data]);
  }

  async putStream(key: string, body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
    const file = this.file(key);
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
    await writeStreamToFile(tmp, body);
    await fsp.rename(tmp, file);
    const dfd = openSync(dirname(file), 'r');
    try { fsyncSync(dfd); } finally { closeSync(dfd); }
  }

  async get(key: string): Promise<Uint8Array | null> {
    try {
      return readFileSync(this.file(key));
    } catch (e) {
      if (isMissing(e)) return null;
      throw e;
    }
  }

  async getStream(key: string): Promise<AsyncIterable<Uint8Array> | null> {
    try {
      const fh = await fsp.open(this.file(key), 'r');
      return fh.createReadStream({ highWaterMark: 1 << 20 });
    } catch (e) {
      if (isMissing(e)) return null;
      throw e;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = (d: string): void => {
      let names: string[];
      try { names = readdirSync(d); } catch (e) {
        if (isMissing(e)) return;
        throw e;
      }
      for (const n of names) {
        const p = join(d, n);
        if (statSync(p).isDirectory()) walk(p);
        else if (!/\.tmp-[0-9a-f]{12}$/.test(n)) out.push(relative(this.dir, p).split(sep).join('/'));
      }
    };
    walk(this.dir);
    return out.filter((k) => k.startsWith(prefix)).sort();
  }

  async delete(key: string): Promise<void> {
    const file = this.file(key);
    rmSync(file, { force: true });
    // Remove directories left empty, up to the target's root.
    for (let d = dirname(file); d.startsWith(this.dir + sep); d = dirname(d)) {
      try { rmdirSync(d); } catch { break; }
    }
  }
}
