/**
 * A backup target in S3-compatible object storage (@aws-sdk/client-s3).
 * A PUT is atomic in S3: an object is visible complete or not at all.
 * Credentials come from the environment variables named in the configuration,
 * else from the AWS default provider chain.
 */
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { checkObjectKey } from './directory-target.js';
import type { BackupTarget } from './target.js';

export interface S3TargetOptions {
  name: string;
  bucket: string;
  prefix: string;
  region: string;
  endpoint?: string;
  forcePathStyle: boolean;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Keys per ListObjectsV2 page (default: the server's, 1000 on S3). */
  pageSize?: number;
}

export class S3Target implements BackupTarget {
  readonly name: string;
  private readonly client: S3Client;
  private readonly prefix: string;

  constructor(private readonly o: S3TargetOptions) {
    this.name = o.name;
    this.prefix = o.prefix === '' || o.prefix.endsWith('/') ? o.prefix : `${o.prefix}/`;
    const cfg: S3ClientConfig = { region: o.region, forcePathStyle: o.forcePathStyle, maxAttempts: 3 };
    if (o.endpoint) cfg.endpoint = o.endpoint;
    if (o.accessKeyId && o.secretAccessKey) cfg.credentials = { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey };
    this.client = new S3Client(cfg);
  }

  describe(): string { return `s3://${this.o.bucket}/${this.prefix}${this.o.endpoint ? ` at ${this.o.endpoint}` : ''}`; }

  private k(key: string): string {
    checkObjectKey(key);
    return this.prefix + key;
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.o.bucket, Key: this.k(key), Body: data, ContentLength: data.length }));
  }

  async get(key: string): Promise<Uint8Array | null> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.o.bucket, Key: this.k(key) }));
      return r.Body ? await r.Body.transformToByteArray() : new Uint8Array();
    } catch (e) {
      const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (err.name === 'NoSuchKey' || err.$metadata?.httpStatusCode === 404) return null;
      throw e;
    }
  }

  /** Pages with StartAfter (the last key seen), which every S3-compatible server supports the same way. */
  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let after: string | undefined;
    for (;;) {
      const r = await this.client.send(new ListObjectsV2Command({
        Bucket: this.o.bucket, Prefix: this.prefix + prefix, ...(after ? { StartAfter: after } : {}), ...(this.o.pageSize ? { MaxKeys: this.o.pageSize } : {}),
      }));
      const keys = (r.Contents ?? []).map((c) => c.Key).filter((k): k is string => !!k);
      for (const k of keys) out.push(k.slice(this.prefix.length));
      if (!r.IsTruncated || keys.length === 0) break;
      after = keys[keys.length - 1];
    }
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.o.bucket, Key: this.k(key) }));
  }

  close(): void { this.client.destroy(); }
}
