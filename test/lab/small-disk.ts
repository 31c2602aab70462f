/**
 * A small filesystem that fills: a tmpfs of `sizeMiB` mounted on a fresh
 * directory (root only), filled to the last byte by a ballast file and freed
 * by deleting it. remove() unmounts (lazily when still busy) and deletes the
 * directory; call it in the test's after(), so it also runs on failure.
 */
import { mkdirSync, openSync, closeSync, rmSync, writeSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/node-process.js';
import { run } from './lab-network.js';

export interface SmallDisk {
  dir: string;
  /** Writes the ballast until the filesystem answers ENOSPC; returns the bytes written. */
  fill(): number;
  /** Deletes the ballast. */
  free(): void;
  freeBytes(): number;
  remove(): Promise<void>;
}

export async function createSmallDisk(sizeMiB: number, owner?: { uid: number; gid: number }): Promise<SmallDisk> {
  const dir = tempDir('rampart-small-disk-');
  const opts = [`size=${sizeMiB}m`, 'mode=0755', ...(owner ? [`uid=${owner.uid}`, `gid=${owner.gid}`] : [])];
  await run('mount', ['-t', 'tmpfs', '-o', opts.join(','), 'rampart-small-disk', dir]);
  const ballast = join(dir, 'ballast');
  let removed = false;
  return {
    dir,
    fill() {
      const fd = openSync(ballast, 'a');
      const chunk = Buffer.alloc(1 << 20);
      let written = 0;
      try {
        // Bounded: never more chunks than the filesystem's size, then single bytes for the tail.
        for (let i = 0; i <= sizeMiB; i++) written += writeSync(fd, chunk);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      }
      try {
        for (let i = 0; i < (1 << 20); i++) written += writeSync(fd, chunk, 0, 1);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      } finally {
        closeSync(fd);
      }
      return written;
    },
    free() { rmSync(ballast, { force: true }); },
    freeBytes() { const s = statfsSync(dir); return s.bavail * s.bsize; },
    async remove() {
      if (removed) return;
      removed = true;
      await run('umount', [dir]).catch(() => run('umount', ['-l', dir]));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A subdirectory of the disk (e.g. a node's data directory). */
export function subdir(disk: SmallDisk, name: string): string {
  const d = join(disk.dir, name);
  mkdirSync(d, { recursive: true });
  return d;
}
