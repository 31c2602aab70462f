/**
 * A backup target in S3-compatible object storage (@aws-sdk/client-s3).
 * An object is visible complete or not at all: a small one is one PutObject,
 * a stream is a multipart upload (parts of `partBytes`, at least the 5 MiB S3
 * requires; aborted on failure, so no orphan parts are kept and billed).
 * Downloads stream; listings page with ContinuationToken.
 * Credentials come from the environment variables named in the configuration,
 * else from the AWS default provider chain.
 */
import type { CompletedPart, S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { checkObjectKey } from './directory-target.js';
import type { BackupTarget } from './target.js';

const MIN_PART_BYTES = 5 << 20;

type Sdk = typeof import('@aws-sdk/client-s3');
let loaded: Sdk | undefined;
/** The SDK is loaded when an S3 target is first made: it is the heaviest module of the CLI and most runs never use it. */
const sdk = (): Sdk => (loaded ??= createRequire(import.meta.url)('@aws-sdk/client-s3') as Sdk);

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
  /** Multipart part size (default 16 MiB, at least 5 MiB). Memory used by an upload is about one part. */
  partBytes?: number;
}

const notFound = (e: unknown): boolean => {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return err.name === 'NoSuchKey' || err.$metadata?.httpStatusCode === 404;
};

export class S3Target implements BackupTarget {
  readonly name: string;
  /** The SDK client (tests observe the commands sent through its middleware stack). */
  readonly client: S3Client;
  private readonly prefix: string;
  private readonly partBytes: number;

  constructor(private readonly o: S3TargetOptions) {
    this.name = o.name;
    this.prefix = o.prefix === '' || o.prefix.endsWith('/') ? o.prefix : `${o.prefix}/`;
    this.partBytes = Math.max(MIN_PART_BYTES, o.partBytes ?? 16 << 20);
    const cfg: S3ClientConfig = { region: o.region, forcePathStyle: o.forcePathStyle, maxAttempts: 3 };
    if (o.endpoint) cfg.endpoint = o.endpoint;
    if (o.accessKeyId && o.secretAccessKey) cfg.credentials = { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey };
    this.client = new (sdk().S3Client)(cfg);
  }

  describe(): string { return `s3://${this.o.bucket}/${this.prefix}${this.o.endpoint ? ` at ${this.o.endpoint}` : ''}`; }

  private k(key: string): string {
    checkObjectKey(key);
    return this.prefix + key;
  }

  async put(key: string, data: Uint8Array, contentType?: string): Promise<void> {
    await this.client.send(new (sdk().PutObjectCommand)({
      Bucket: this.o.bucket, Key: this.k(key), Body: data, ContentLength: data.length, ...(contentType ? { ContentType: contentType } : {}),
    }));
  }

  /** Up to one part: one PutObject; more: a multipart upload, one part in memory at a time. */
  async putStream(key: string, body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
    const Key = this.k(key);
    const Bucket = this.o.bucket;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let uploadId: string | undefined;
    const parts: CompletedPart[] = [];
    const flush = async (): Promise<void> => {
      const Body = Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      uploadId ??= (await this.client.send(new (sdk().CreateMultipartUploadCommand)({ Bucket, Key }))).UploadId;
      if (!uploadId) throw new Error(`S3 gave no upload id for ${Key}`);
      const PartNumber = parts.length + 1;
      const r = await this.client.send(new (sdk().UploadPartCommand)({ Bucket, Key, UploadId: uploadId, PartNumber, Body, ContentLength: Body.length }));
      parts.push({ ETag: r.ETag, PartNumber });
    };
    try {
      for await (const piece of body) {
        pending.push(Buffer.from(piece));
        pendingBytes += piece.length;
        if (pendingBytes >= this.partBytes) await flush();
      }
      if (!uploadId) {
        await this.put(key, Buffer.concat(pending, pendingBytes));
        return;
      }
      if (pendingBytes > 0) await flush();
      await this.client.send(new (sdk().CompleteMultipartUploadCommand)({ Bucket, Key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
    } catch (e) {
      if (uploadId) await this.client.send(new (sdk().AbortMultipartUploadCommand)({ Bucket, Key, UploadId: uploadId })).catch(() => undefined);
      throw e;
    }
  }

  async get(key: string): Promise<Uint8Array | null> {
    try {
      const r = await this.client.send(new (sdk().GetObjectCommand)({ Bucket: this.o.bucket, Key: this.k(key) }));
      return r.Body ? await r.Body.transformToByteArray() : new Uint8Array();
    } catch (e) {
      if (notFound(e)) return null;
      throw e;
    }
  }

  async getStream(key: string): Promise<AsyncIterable<Uint8Array> | null> {
    try {
      const r = await this.client.send(new (sdk().GetObjectCommand)({ Bucket: this.o.bucket, Key: this.k(key) }));
      return (r.Body as Readable | undefined) ?? Readable.from([]);
    } catch (e) {
      if (notFound(e)) return null;
      throw e;
    }
  }

  /** Every key under the prefix, page by page (ContinuationToken), sorted. */
  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    for (let page = 0; page < 1_000_000; page++) {
      const r = await this.client.send(new (sdk().ListObjectsV2Command)({
        Bucket: this.o.bucket, Prefix: this.prefix + prefix, ...(token ? { ContinuationToken: token } : {}), ...(this.o.pageSize ? { MaxKeys: this.o.pageSize } : {}),
      }));
      for (const c of r.Contents ?? []) if (c.Key) out.push(c.Key.slice(this.prefix.length));
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
      if (!token) break;
    }
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new (sdk().DeleteObjectCommand)({ Bucket: this.o.bucket, Key: this.k(key) }));
  }

  close(): void { this.client.destroy(); }
}
