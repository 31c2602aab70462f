/**
 * DNS provider 'file': the records live in a JSON document
 *
 *   { "records": { "<name>": { "type", "ttl", "targets", "region", "reason", "updatedAt" } } }
 *
 * keyed by the normalized name (lower case, no trailing dot), one record per
 * name. A zone-file stand-in that a local resolver, a sidecar or a test reads.
 *
 * An update reads the document, replaces the one name (keeping the others),
 * writes a temporary file in the same directory, fsyncs it, renames it over
 * the document and fsyncs the directory: a reader sees the old or the new
 * document, never a partial one, and a crash leaves one of the two. Updates
 * through one provider object are serialized; separate processes writing the
 * same file are not coordinated (the last rename wins).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DNS_RECORD_TYPES, normalizeDnsName, validateDnsChange, type DnsChange, type DnsProvider, type DnsRecordType, type DnsUpdateResult } from './dns-provider.js';

export interface FileDnsRecord {
  type: DnsRecordType;
  ttl: number;
  targets: string[];
  region: string;
  reason: string;
  /** ISO 8601 time of the update. */
  updatedAt: string;
}

export interface FileDnsDocument {
  records: Record<string, FileDnsRecord>;
}

export interface FileDnsProviderOptions {
  /** The JSON document (absolute, or relative to the process's working directory). */
  path: string;
  clock?: () => Date;
}

export class FileDnsProvider implements DnsProvider {
  readonly kind = 'file';
  readonly path: string;
  private readonly clock: () => Date;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(o: FileDnsProviderOptions) {
    this.path = o.path;
    this.clock = o.clock ?? (() => new Date());
  }

  async current(name: string, type: DnsChange['type']): Promise<string[] | null> {
    const doc = this.read();
    const rec = doc?.records[normalizeDnsName(name)];
    return rec && rec.type === type ? [...rec.targets] : null;
  }

  update(change: DnsChange): Promise<DnsUpdateResult> {
    const run = this.queue.then(() => this.apply(change));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The whole document; null when the file does not exist. Throws when it is not a records document. */
  read(): FileDnsDocument | null {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new Error(`DNS file ${this.path}: cannot read it: ${(e as Error).message}`);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new Error(`DNS file ${this.path} is not valid JSON (${(e as Error).message}); fix or remove it, it is not overwritten`);
    }
    checkDocument(this.path, doc);
    return doc;
  }

  private async apply(change: DnsChange): Promise<DnsUpdateResult> {
    validateDnsChange(change);
    const key = normalizeDnsName(change.name);
    const doc = this.read() ?? { records: {} };
    const old = doc.records[key];
    const previous = old && old.type === change.type ? [...old.targets] : null;
    doc.records[key] = {
      type: change.type,
      ttl: change.ttl,
      targets: [...change.targets],
      region: change.region,
      reason: change.reason,
      updatedAt: this.clock().toISOString(),
    };
    writeAtomically(this.path, `${JSON.stringify(doc, null, 2)}\n`);
    const replaced = old && old.type !== change.type ? ` (replaced its ${old.type} record)` : '';
    return {
      provider: this.kind,
      name: change.name,
      previous,
      targets: [...change.targets],
      detail: `wrote ${key} ${change.type} ${change.targets.join(',')} ttl ${change.ttl} to ${this.path}${replaced}`,
    };
  }
}

function checkDocument(path: string, doc: unknown): asserts doc is FileDnsDocument {
  const bad = (why: string): never => {
    throw new Error(`DNS file ${path} is not a records document (${why}); fix or remove it, it is not overwritten`);
  };
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) bad('expected a JSON object');
  const records = (doc as { records?: unknown }).records;
  if (records === null || typeof records !== 'object' || Array.isArray(records)) bad('"records" must be an object');
  for (const [name, r] of Object.entries(records as Record<string, unknown>)) {
    const rec = r as Partial<FileDnsRecord> | null;
    if (rec === null || typeof rec !== 'object') bad(`record ${JSON.stringify(name)} is not an object`);
    if (!(DNS_RECORD_TYPES as readonly string[]).includes(rec!.type as string)) bad(`record ${JSON.stringify(name)} has no valid type`);
    if (!Array.isArray(rec!.targets) || !rec!.targets.every((t) => typeof t === 'string')) bad(`record ${JSON.stringify(name)} has no targets list`);
  }
}

/** Temp file in the same directory, fsync, rename over `path`, fsync the directory. */
export function writeAtomically(path: string, text: string): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
  const data = Buffer.from(text, 'utf8');
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
    closeSync(fd);
  } catch (e) {
    try { closeSync(fd); } catch { /* already closed */ }
    rmSync(tmp, { force: true });
    throw e;
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  const dfd = openSync(dir, 'r');
  try { fsyncSync(dfd); } finally { closeSync(dfd); }
}
