/**
 * Where the static copy of validation is kept: a directory (mirror-directory.ts)
 * and/or a bucket of S3-compatible object storage (backup/mirror-bucket.ts),
 * laid out like the node's own URLs. Every write is atomic for readers (a
 * renamed temporary file; one PutObject).
 */
export interface MirrorStore {
  /** Where it is, for logs and status (a path, or s3://bucket/prefix). */
  describe(): string;
  write(rel: string, data: Uint8Array | string): Promise<void>;
  remove(rel: string): Promise<void>;
  /** Names of the entries directly in one folder of the copy (none when it does not exist). */
  list(folder: string): Promise<string[]>;
}

/** Several stores kept alike: every write and removal goes to each; a listing is the union. */
export class MirrorFanOut implements MirrorStore {
  constructor(private readonly stores: readonly MirrorStore[]) {
    if (stores.length === 0) throw new Error('a mirror needs at least one store');
  }

  describe(): string { return this.stores.map((s) => s.describe()).join(' + '); }

  async write(rel: string, data: Uint8Array | string): Promise<void> {
    await Promise.all(this.stores.map((s) => s.write(rel, data)));
  }

  async remove(rel: string): Promise<void> {
    await Promise.all(this.stores.map((s) => s.remove(rel)));
  }

  async list(folder: string): Promise<string[]> {
    const names = new Set<string>();
    for (const l of await Promise.all(this.stores.map((s) => s.list(folder)))) for (const n of l) names.add(n);
    return [...names].sort();
  }
}
