/**
 * The inventory export (REST GET /api/v1/certificates/export and `rampart
 * certs export`): every certificate matching the list filters, as NDJSON or
 * CSV (columns and quoting: src/storage/inventory-format.ts). The store
 * yields finished text one batch at a time (SQLite formats it in its reader
 * thread); each chunk is pulled by the reader, so memory stays flat whatever
 * the size and a slow client slows the queries instead of piling rows up.
 */
import type { CertificateFilter } from '../../core/types.js';
import { REVOCATION_REASONS } from '../../pki/revocation-reasons.js';
import type { CertificateStore } from '../../storage/store.js';
import { EXPORT_FORMATS, type ExportFormat } from '../../storage/inventory-format.js';

export { EXPORT_FORMATS, type ExportFormat };

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  ndjson: 'application/x-ndjson; charset=utf-8',
  csv: 'text/csv; charset=utf-8; header=present',
};

const REASON_NAMES: Record<number, string> = Object.fromEntries(Object.entries(REVOCATION_REASONS).map(([name, code]) => [code, name]));

/** The export as text chunks (the CSV header first, then one chunk per batch of rows). */
export async function* exportChunks(store: Pick<CertificateStore, 'exportText'>, filter: CertificateFilter, now: Date,
  format: ExportFormat, opts: { pem?: boolean; onRows?: (n: number) => void } = {}): AsyncIterable<string> {
  for await (const chunk of store.exportText(filter, now, { format, pem: opts.pem ?? false, reasonNames: REASON_NAMES })) {
    if (chunk.rows) opts.onRows?.(chunk.rows);
    if (chunk.text) yield chunk.text;
  }
}
