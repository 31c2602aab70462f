/**
 * The static copy of validation in S3-compatible object storage (config
 * `mirror.s3`): the same keys as the mirror directory under the bucket's
 * prefix, each object one PutObject (readers never see half of one) with the
 * content type a relying party expects, so a bucket's website endpoint or
 * any HTTP server in front of it can serve the copy while every node is down.
 */
import type { RampartConfig } from '../config/schema.js';
import { MirrorDirectory } from '../validation/mirror/mirror-directory.js';
import { MirrorFanOut, type MirrorStore } from '../validation/mirror/mirror-store.js';
import type { S3Target } from './s3-target.js';
import { s3TargetFrom } from './targets.js';

const TYPES: Array<[RegExp, string]> = [
  [/^ocsp\//, 'application/ocsp-response'],
  [/\.crl$/, 'application/pkix-crl'],
  [/\.crt$/, 'application/pkix-cert'],
  [/\.pem$/, 'application/x-pem-file'],
  [/\.json$/, 'application/json'],
];

export function mirrorContentType(rel: string): string {
  return TYPES.find(([re]) => re.test(rel))?.[1] ?? 'application/octet-stream';
}

export class MirrorBucket implements MirrorStore {
  constructor(private readonly target: S3Target) {}

  describe(): string { return this.target.describe(); }

  async write(rel: string, data: Uint8Array | string): Promise<void> {
    await this.target.put(rel, typeof data === 'string' ? new TextEncoder().encode(data) : data, mirrorContentType(rel));
  }

  async remove(rel: string): Promise<void> {
    await this.target.delete(rel);
  }

  async list(folder: string): Promise<string[]> {
    const under = `${folder}/`;
    const names = new Set<string>();
    for (const key of await this.target.list(under)) {
      const rest = key.slice(under.length);
      if (rest) names.add(rest.split('/')[0]!);
    }
    return [...names].sort();
  }
}

/** Where the validation mirror goes (`mirror.directory` and/or `mirror.s3`); null when neither is set. */
export function mirrorStoreFor(config: Pick<RampartConfig, 'mirror'>, mirrorDir: string | null, env: NodeJS.ProcessEnv): MirrorStore | null {
  const stores: MirrorStore[] = [];
  if (mirrorDir) stores.push(new MirrorDirectory(mirrorDir));
  if (config.mirror.s3) stores.push(new MirrorBucket(s3TargetFrom('mirror', config.mirror.s3, env, 'mirror.s3')));
  return stores.length === 0 ? null : stores.length === 1 ? stores[0]! : new MirrorFanOut(stores);
}
