/**
 * The text form of one custodian's share: a self-describing block that can be
 * printed, mailed inside an envelope, pasted into a terminal or kept in a
 * file.
 *
 *   -----BEGIN RAMPART KEY SHARE-----
 *   Version: 1
 *   Backup: kb-20260101-1a2b3c4d
 *   Issuer: int-...
 *   Subject: CN=Rampart Issuing CA
 *   Custodian: alice
 *   Share: 2 of 5
 *   Threshold: 3
 *   Sealed: no
 *   Created: 2026-01-01T12:00:00.000Z
 *
 *   <share data, base64, 64 characters a line>
 *   Checksum: sha256:<16 hex>
 *   -----END RAMPART KEY SHARE-----
 *
 * The checksum is SHA-256 over the header lines and the data exactly as
 * written (truncated to 64 bits): it catches typos and flipped bits, anywhere
 * in the block, before anything else looks at the share. It is not a
 * signature; whether a share really belongs to a backup is checked against
 * the backup file (share digests) and, in the end, by the AES-KWP integrity
 * check and the CA certificate.
 */
import { CustodyError, describeShare } from './custody-error.js';
import { sha256Hex } from './fingerprints.js';

export const SHARE_BEGIN = '-----BEGIN RAMPART KEY SHARE-----';
export const SHARE_END = '-----END RAMPART KEY SHARE-----';
export const MAX_SHARES = 16;

export interface ShareHeader {
  backupId: string;
  issuerId: string;
  subject: string;
  custodian: string;
  /** 1-based position of this share in the backup (custodian order). */
  index: number;
  count: number;
  threshold: number;
  /** Whether `data` is sealed with the custodian's passphrase (see share-sealing.ts). */
  sealed: boolean;
  created: string;
}

export interface ShareBlock extends ShareHeader {
  /** The raw share (unsealed) or the sealed blob (sealed). */
  data: Uint8Array;
  checksum: string;
  /** Where the block came from (file name, "pasted by custodian 2"), for messages. */
  source: string;
}

const SAFE_VALUE = /^[^\x00-\x1f\x7f]*$/;

function headerLines(h: ShareHeader): string[] {
  for (const [k, v] of Object.entries(h)) {
    if (typeof v === 'string' && (!SAFE_VALUE.test(v) || v !== v.trim())) throw new Error(`share header ${k} must be one line without control characters or surrounding spaces`);
  }
  return [
    'Version: 1', `Backup: ${h.backupId}`, `Issuer: ${h.issuerId}`, `Subject: ${h.subject}`, `Custodian: ${h.custodian}`,
    `Share: ${h.index} of ${h.count}`, `Threshold: ${h.threshold}`, `Sealed: ${h.sealed ? 'yes' : 'no'}`, `Created: ${h.created}`,
  ];
}

function checksumOf(header: string[], b64: string): string {
  return `sha256:${sha256Hex(`${header.join('\n')}\n\n${b64}`).slice(0, 16)}`;
}

export function formatShare(h: ShareHeader, data: Uint8Array): string {
  const header = headerLines(h);
  const b64 = Buffer.from(data).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return [SHARE_BEGIN, ...header, '', ...lines, `Checksum: ${checksumOf(header, b64)}`, SHARE_END, ''].join('\n');
}

/** The checksum line's value of a formatted share (its short fingerprint in records). */
export function shareChecksum(text: string): string {
  const m = /^Checksum: (\S+)$/m.exec(text);
  if (!m) throw new Error('not a formatted share');
  return m[1]!;
}

/** Every share block in `text` (a file or a paste may hold one or several). */
export function parseShares(text: string, source: string): ShareBlock[] {
  const lines = text.split('\n').map((l) => l.trim());
  const blocks: ShareBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] === SHARE_END) throw new CustodyError('format', `${source}: "${SHARE_END}" without a matching BEGIN line (damaged share block?)`, { source });
    if (lines[i] !== SHARE_BEGIN) continue;
    const end = lines.indexOf(SHARE_END, i + 1);
    const nextBegin = lines.indexOf(SHARE_BEGIN, i + 1);
    if (end < 0 || (nextBegin >= 0 && nextBegin < end)) {
      throw new CustodyError('format', `${source}: share block is not terminated by "${SHARE_END}" (incomplete copy or damaged END line?)`, { source });
    }
    const where = blocks.length || lines.indexOf(SHARE_BEGIN, end) >= 0 ? `${source}, block ${blocks.length + 1}` : source;
    blocks.push(parseBlock(lines.slice(i + 1, end), where));
    i = end;
  }
  if (!blocks.length) throw new CustodyError('format', `${source}: no "${SHARE_BEGIN}" block found (damaged BEGIN line, or not a share)`, { source });
  return blocks;
}

/** Parses the lines between BEGIN and END (already trimmed). */
function parseBlock(lines: string[], source: string): ShareBlock {
  const blank = lines.indexOf('');
  const header = blank < 0 ? lines : lines.slice(0, blank);
  const fields = new Map<string, string>();
  for (const l of header) {
    const m = /^([A-Za-z]+): ?(.*)$/.exec(l);
    if (m && !fields.has(m[1]!)) fields.set(m[1]!, m[2]!);
  }
  // Best-effort names for messages, before anything is trusted.
  const idx = /^(\d+) of \d+$/.exec(fields.get('Share') ?? '');
  const ref = { custodian: fields.get('Custodian'), index: idx ? Number(idx[1]) : undefined, source };
  const who = describeShare(ref);
  if (blank < 0) throw new CustodyError('format', `${who} is damaged: no blank line between the header and the share data`, ref);
  const body = lines.slice(blank + 1).filter((l) => l !== '');
  const sumLine = body.pop();
  const sum = /^Checksum: (sha256:[0-9a-f]{16})$/.exec(sumLine ?? '');
  if (!sum) throw new CustodyError('corrupted', `${who} is corrupted: its last line must be "Checksum: sha256:<16 hex digits>"`, ref);
  const b64 = body.join('');
  if (checksumOf(header, b64) !== sum[1]) {
    throw new CustodyError('corrupted', `${who} is corrupted: checksum mismatch (the text was altered, mistyped or damaged; ask the custodian for a clean copy)`, ref);
  }
  // The text is exactly as written; now check that it says what a share must say.
  const bad = (what: string): never => { throw new CustodyError('format', `${who}: ${what}`, ref); };
  const allowed = ['Version', 'Backup', 'Issuer', 'Subject', 'Custodian', 'Share', 'Threshold', 'Sealed', 'Created'];
  for (const k of fields.keys()) if (!allowed.includes(k)) bad(`unknown header "${k}"`);
  if (header.length !== fields.size) bad('malformed or repeated header line');
  if (fields.get('Version') !== '1') bad(`share format version ${fields.get('Version') ?? '(none)'} is not supported (this Rampart reads version 1)`);
  const need = (k: string): string => fields.get(k) || bad(`missing header "${k}"`);
  const share = /^(\d{1,2}) of (\d{1,2})$/.exec(need('Share')) ?? bad('header "Share" must read "<i> of <n>"');
  const index = Number(share[1]);
  const count = Number(share[2]);
  const threshold = Number(need('Threshold'));
  if (!(count >= 2 && count <= MAX_SHARES && index >= 1 && index <= count)) bad(`impossible share position ${index} of ${count}`);
  if (!(Number.isInteger(threshold) && threshold >= 2 && threshold <= count)) bad(`impossible threshold ${need('Threshold')} for ${count} shares`);
  const sealed = need('Sealed');
  if (sealed !== 'yes' && sealed !== 'no') bad('header "Sealed" must be yes or no');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) bad('share data is not base64');
  return {
    backupId: need('Backup'), issuerId: need('Issuer'), subject: fields.get('Subject') ?? '', custodian: need('Custodian'),
    index, count, threshold, sealed: sealed === 'yes', created: fields.get('Created') ?? '',
    data: new Uint8Array(Buffer.from(b64, 'base64')), checksum: sum[1]!, source,
  };
}
