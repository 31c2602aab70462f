/**
 * RFC 5424 syslog messages for audit entries, and RFC 6587 octet-counting
 * framing for TCP.
 *
 *   <PRI>1 TIMESTAMP HOSTNAME rampart - MSGID [rampart@32473 seq=".." actor=".." source=".."
 *        channel=".." target=".." outcome=".."] {json}
 *
 * - PRI: facility * 8 + severity; severity notice (5) for outcome success,
 *   warning (4) for denied and failure.
 * - TIMESTAMP: the entry's time (when the audited thing happened), UTC with
 *   milliseconds. PROCID is the NILVALUE: the entry may come from another
 *   process (the CLI, another node) than the one forwarding it.
 * - MSGID: the action (PRINTUSASCII, at most 32 characters).
 * - STRUCTURED-DATA: one element, SD-ID `rampart@32473` (32473 is the
 *   private enterprise number RFC 5612 reserves for documentation: the
 *   element name the task specified; an operator with a PEN of their own may
 *   want it changed). PARAM-VALUEs escape `"`, `\` and `]` (section 6.3.3).
 * - MSG: the entry as JSON (src/audit/forward/audit-sink.ts), escaped to
 *   plain ASCII, so no BOM is needed (MSG-ANY); `bom` adds one anyway.
 *   When the message would exceed `maxBytes` only the MSG is cut (the JSON
 *   is then incomplete: the full entry is in the database, by seq); the
 *   header and structured data are never cut.
 */
import type { AuditEntry } from '../../core/types.js';
import { asciiJson, forwardRecord, type ForwardContext } from './audit-sink.js';

export const SD_ID = 'rampart@32473';
export const APP_NAME = 'rampart';
export const SEVERITY = { warning: 4, notice: 5 } as const;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

export interface SyslogFormatOptions {
  /** Facility code 0..23. */
  facility: number;
  /** HOSTNAME field. */
  hostname: string;
  /** Longest message in bytes (without the TCP octet count). */
  maxBytes: number;
  bom: boolean;
  context: ForwardContext;
}

/** Escapes a PARAM-VALUE: `"`, `\` and `]` get a backslash (RFC 5424 section 6.3.3). */
export function escapeSdValue(v: string): string {
  return v.replace(/["\\\]]/g, (c) => `\\${c}`);
}

/** A header field: PRINTUSASCII only (other characters become `_`), at most `max`, NILVALUE when empty. */
export function headerField(v: string | null | undefined, max: number): string {
  const s = (v ?? '').replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return s === '' ? '-' : s;
}

export function severityOf(e: Pick<AuditEntry, 'outcome'>): number {
  return e.outcome === 'success' ? SEVERITY.notice : SEVERITY.warning;
}

export function structuredData(e: AuditEntry): string {
  const params: Array<[string, string]> = [
    ['seq', String(e.seq)], ['actor', e.actor], ['source', e.source], ['channel', e.channel], ['target', e.target], ['outcome', e.outcome],
  ];
  return `[${SD_ID} ${params.map(([k, v]) => `${k}="${escapeSdValue(v)}"`).join(' ')}]`;
}

/** One RFC 5424 message (bytes, no framing). */
export function formatSyslog(e: AuditEntry, o: SyslogFormatOptions): Buffer {
  const pri = o.facility * 8 + severityOf(e);
  const header = `<${pri}>1 ${e.time.toISOString()} ${headerField(o.hostname, 255)} ${APP_NAME} - ${headerField(e.action, 32)}`;
  const head = Buffer.from(`${header} ${structuredData(e)}`, 'utf8');
  const msg = asciiJson(forwardRecord(e, o.context));
  const bom = o.bom ? BOM : Buffer.alloc(0);
  const room = o.maxBytes - head.length - 1 - bom.length;
  if (room <= 0) return head; // header and SD alone fill the limit: no MSG rather than a cut header
  return Buffer.concat([head, Buffer.from(' '), bom, Buffer.from(msg.length > room ? msg.slice(0, room) : msg, 'ascii')]);
}

/** RFC 6587 section 3.4.1 octet counting: `MSG-LEN SP SYSLOG-MSG`. */
export function octetCounted(msg: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${msg.length} `, 'ascii'), msg]);
}

