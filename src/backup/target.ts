/**
 * Where backups and archived WAL segments are kept: one interface, a
 * directory and S3-compatible object storage behind it (several at once for
 * copies in different places). Objects are opaque encrypted bytes named by
 * keys such as `backups/<id>/manifest.json` or `wal/<timeline>/<segment>`.
 */
export interface BackupTarget {
  readonly name: string;
  /** Human-readable location (path or s3://bucket/prefix). */
  describe(): string;
  /** Stores an object atomically (readers never see a partial object). */
  put(key: string, data: Uint8Array): Promise<void>;
  /** As put, from a stream of any length in bounded memory (a directory: temp file + rename; S3: multipart upload). */
  putStream(key: string, body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void>;
  /** The object, or null when it does not exist. */
  get(key: string): Promise<Uint8Array | null>;
  /** The object as a stream, or null when it does not exist. */
  getStream(key: string): Promise<AsyncIterable<Uint8Array> | null>;
  /** Keys under a prefix, sorted. */
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
}
