/**
 * The JSON-lines destination: appends one JSON object per entry and line to
 * a file and fsyncs it before the batch counts as delivered (the directory
 * too when the file was just created). The file is opened per batch, so a
 * log rotator may move it away at any time: the next batch creates a new
 * one. A line left incomplete by a crash is ended before the next append, so
 * it never swallows the next entry.
 */
import { mkdir, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AuditEntry } from '../../core/types.js';
import { forwardRecord, type AuditSink, type ForwardContext } from './audit-sink.js';

export class JsonLinesSink implements AuditSink {
  readonly description: string;

  constructor(readonly name: string, private readonly path: string, private readonly context: () => ForwardContext) {
    this.description = `file ${path}`;
  }

  async send(entries: readonly AuditEntry[]): Promise<void> {
    if (!entries.length) return;
    const ctx = this.context();
    let text = entries.map((e) => `${JSON.stringify(forwardRecord(e, ctx))}\n`).join('');
    await mkdir(dirname(this.path), { recursive: true });
    const created = await stat(this.path).then(() => false, (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return true;
      throw e;
    });
    // O_APPEND: every write lands at the end, even with another writer on the file.
    const fh = await open(this.path, 'a+', 0o640);
    try {
      const { size } = await fh.stat();
      if (size > 0) {
        const last = Buffer.alloc(1);
        await fh.read(last, 0, 1, size - 1);
        if (last[0] !== 0x0a) text = `\n${text}`;
      }
      await fh.write(text, null, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (created) await syncDir(dirname(this.path));
  }

  async close(): Promise<void> { /* nothing held between batches */ }
}

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try { await d.sync(); } finally { await d.close(); }
}
