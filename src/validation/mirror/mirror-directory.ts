/**
 * The directory a static copy of validation lives in, laid out like the
 * node's own URLs (`ca/`, `crl/`, `ocsp/`, plus `mirror.json`), so any
 * static web server can serve it. Every file is written under a temporary
 * name and renamed: a reader sees the old bytes or the new, never half.
 */
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, normalize, sep } from 'node:path';
import type { MirrorStore } from './mirror-store.js';

export class MirrorDirectory implements MirrorStore {
  private readonly made = new Set<string>();

  constructor(readonly root: string) {}

  describe(): string { return this.root; }

  private pathOf(rel: string): string {
    const p = normalize(join(this.root, rel));
    if (!p.startsWith(this.root + sep)) throw new Error(`mirror path escapes the mirror directory: ${rel}`);
    return p;
  }

  async write(rel: string, data: Uint8Array | string): Promise<void> {
    const p = this.pathOf(rel);
    const dir = dirname(p);
    if (!this.made.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.made.add(dir);
    }
    const tmp = join(dir, `.tmp-${randomBytes(6).toString('hex')}`);
    try {
      await writeFile(tmp, data);
      await rename(tmp, p);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  async remove(rel: string): Promise<void> {
    await rm(this.pathOf(rel), { force: true });
  }

  /** Names of the files in one folder of the mirror (none when it does not exist). */
  async list(folder: string): Promise<string[]> {
    try {
      return (await readdir(this.pathOf(folder))).filter((n) => !n.startsWith('.tmp-'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }
}
