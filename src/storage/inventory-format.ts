/**
 * The inventory export's text (NDJSON or CSV), made straight from stored
 * rows: in the SQLite reader thread, so that the thread answering OCSP only
 * passes finished text to the socket. Columns: serial, issuer, subject, sans,
 * notBefore, notAfter, status (expired when good and past notAfter),
 * revokedAt, reason, profile, and pem on request. CSV follows RFC 4180: a
 * header line, CRLF line ends, fields holding a comma, quote, CR or LF
 * quoted with quotes doubled; SANs are one field separated by spaces.
 */
import { toPem } from '../core/pem.js';
import type { Row } from './row-mapping.js';

export const EXPORT_FORMATS = ['ndjson', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
export const EXPORT_COLUMNS = ['serial', 'issuer', 'subject', 'sans', 'notBefore', 'notAfter', 'status', 'revokedAt', 'reason', 'profile'] as const;

export interface ExportTextOptions {
  format: ExportFormat;
  /** Add each certificate as PEM (the rows must then carry the DER). */
  pem: boolean;
  nowMs: number;
  /** RFC 5280 reason names by code (the caller's table: storage knows no reasons). */
  reasonNames: Record<number, string>;
}

/** One RFC 4180 field. */
export function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function exportHeader(o: Pick<ExportTextOptions, 'format' | 'pem'>): string {
  return o.format === 'csv' ? `${[...EXPORT_COLUMNS, ...(o.pem ? ['pem'] : [])].join(',')}\r\n` : '';
}

const iso = (v: unknown): string | null => (v === null || v === undefined ? null : new Date(Number(v)).toISOString());

export function formatRows(rows: Row[], o: ExportTextOptions): string {
  let out = '';
  for (const r of rows) {
    const notAfter = Number(r.not_after);
    const status = r.status === 'good' && notAfter <= o.nowMs ? 'expired' : String(r.status);
    const reason = r.revocation_reason === null || r.revocation_reason === undefined ? null : (o.reasonNames[Number(r.revocation_reason)] ?? String(r.revocation_reason));
    const pem = o.pem ? toPem(new Uint8Array(r.der as Uint8Array)) : undefined;
    if (o.format === 'ndjson') {
      // sans is stored as the JSON text of its array: it goes in as it is.
      out += `{"serial":${JSON.stringify(String(r.serial))},"issuer":${JSON.stringify(String(r.issuer_id))},"subject":${JSON.stringify(String(r.subject))},`
        + `"sans":${String(r.sans)},"notBefore":"${iso(r.not_before)}","notAfter":"${iso(notAfter)}","status":"${status}",`
        + `"revokedAt":${JSON.stringify(iso(r.revoked_at))},"reason":${JSON.stringify(reason)},"profile":${JSON.stringify(String(r.profile))}`
        + `${pem === undefined ? '' : `,"pem":${JSON.stringify(pem)}`}}\n`;
    } else {
      const cells = [String(r.serial), String(r.issuer_id), String(r.subject), (JSON.parse(String(r.sans)) as string[]).join(' '),
        iso(r.not_before)!, iso(notAfter)!, status, iso(r.revoked_at) ?? '', reason ?? '', String(r.profile), ...(pem === undefined ? [] : [pem])];
      out += `${cells.map(csvField).join(',')}\r\n`;
    }
  }
  return out;
}
