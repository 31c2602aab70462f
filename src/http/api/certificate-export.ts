/**
 * The inventory export (REST GET /api/v1/certificates/export and `rampart
 * certs export`): every certificate matching the list filters, as NDJSON
 * (one JSON object a line) or CSV (RFC 4180: a header line, CRLF line ends,
 * fields with a comma, quote, CR or LF quoted and quotes doubled). Rows come
 * from the store in batches and leave as one text chunk per batch, pulled by
 * the reader: memory stays flat whatever the size, and a slow reader slows
 * the queries down instead of piling rows up.
 */
import type { CertificateFilter, CertificateRecord } from '../../core/types.js';
import { toPem } from '../../pki/certificate-builder.js';
import { reasonName } from '../../pki/revocation-reasons.js';
import type { CertificateStore } from '../../storage/store.js';

export const EXPORT_FORMATS = ['ndjson', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Columns, in CSV order. SANs are one field, separated by spaces in CSV (no SAN contains one). */
export const EXPORT_COLUMNS = ['serial', 'issuer', 'subject', 'sans', 'notBefore', 'notAfter', 'status', 'revokedAt', 'reason', 'profile'] as const;

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  ndjson: 'application/x-ndjson; charset=utf-8',
  csv: 'text/csv; charset=utf-8; header=present',
};

export interface ExportRow {
  serial: string; issuer: string; subject: string; sans: string[]; notBefore: string; notAfter: string;
  status: 'good' | 'revoked' | 'expired'; revokedAt: string | null; reason: string | null; profile: string; pem?: string;
}

export function exportRow(r: CertificateRecord, now: Date, pem: boolean): ExportRow {
  return {
    serial: r.serial, issuer: r.issuerId, subject: r.subject, sans: r.sans,
    notBefore: r.notBefore.toISOString(), notAfter: r.notAfter.toISOString(),
    status: r.status === 'good' && r.notAfter <= now ? 'expired' : r.status,
    revokedAt: r.revokedAt?.toISOString() ?? null, reason: r.revocationReason === null ? null : reasonName(r.revocationReason),
    profile: r.profile, ...(pem ? { pem: toPem(r.der) } : {}),
  };
}

/** One RFC 4180 field. */
export function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

function csvLine(row: ExportRow, pem: boolean): string {
  const cells = EXPORT_COLUMNS.map((c) => {
    const v = row[c];
    return v === null ? '' : Array.isArray(v) ? v.join(' ') : v;
  });
  if (pem) cells.push(row.pem ?? '');
  return `${cells.map(csvField).join(',')}\r\n`;
}

/** The export as text chunks (the CSV header first, then one chunk per batch of rows). */
export async function* exportChunks(store: Pick<CertificateStore, 'exportCertificates'>, filter: CertificateFilter, now: Date,
  format: ExportFormat, opts: { pem?: boolean; onRows?: (n: number) => void } = {}): AsyncIterable<string> {
  const pem = opts.pem ?? false;
  if (format === 'csv') yield `${[...EXPORT_COLUMNS, ...(pem ? ['pem'] : [])].join(',')}\r\n`;
  for await (const batch of store.exportCertificates(filter, now, { withDer: pem })) {
    let chunk = '';
    for (const r of batch) {
      const row = exportRow(r, now, pem);
      chunk += format === 'csv' ? csvLine(row, pem) : `${JSON.stringify(row)}\n`;
    }
    opts.onRows?.(batch.length);
    yield chunk;
  }
}
