/** How a certificate becomes a campaign item, and the work-list export (NDJSON or CSV). */
import type { CertificateRecord } from '../../core/types.js';
import type { CampaignChannel, CampaignItem } from '../../storage/campaign-records.js';

/** The names of a certificate as the campaign matches them: lower case, sorted; the subject when it has none. */
export function sansKey(rec: Pick<CertificateRecord, 'sans' | 'subject'>): string {
  return rec.sans.length ? [...new Set(rec.sans.map((s) => s.toLowerCase()))].sort().join(',') : `subject:${rec.subject}`;
}

export function channelOf(requester: string): CampaignChannel {
  if (requester.startsWith('acme:')) return 'acme';
  // EST clients re-enroll on their own; 'system': the node's own TLS certificate, renewed by the node.
  if (requester.startsWith('est:') || requester.startsWith('cli') || requester === 'system') return 'other';
  return 'rest';
}

/**
 * A node's own HTTPS certificate (tls-identity.ts): it stays on the old
 * hierarchy during a campaign on purpose (clients trust the node through the
 * bundle they have) and each node replaces it once the old hierarchy is
 * revoked, so it never holds a campaign's finish back.
 */
export function isNodeTlsItem(i: Pick<CampaignItem, 'requester' | 'profile'>): boolean {
  return i.requester === 'system' && i.profile === 'node-tls';
}

export function itemOf(campaignId: string, rec: CertificateRecord): CampaignItem {
  return {
    campaignId, serial: rec.serial, channel: channelOf(rec.requester), requester: rec.requester, profile: rec.profile, subject: rec.subject,
    sansKey: sansKey(rec), notAfter: rec.notAfter, replacedBy: null, replacedAt: null,
  };
}

export type WorkListFormat = 'ndjson' | 'csv';

export const WORK_LIST_COLUMNS = ['serial', 'channel', 'requester', 'profile', 'subject', 'names', 'notAfter', 'state', 'replacedBy', 'replacedAt'] as const;

function row(i: CampaignItem): Record<(typeof WORK_LIST_COLUMNS)[number], string | null> {
  return {
    serial: i.serial, channel: i.channel, requester: i.requester, profile: i.profile, subject: i.subject, names: i.sansKey,
    notAfter: i.notAfter.toISOString(), state: i.replacedBy ? 'reissued' : 'outstanding', replacedBy: i.replacedBy, replacedAt: i.replacedAt?.toISOString() ?? null,
  };
}

const csvCell = (v: string | null): string => (v === null ? '' : /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

export function workListHeader(format: WorkListFormat): string {
  return format === 'csv' ? `${WORK_LIST_COLUMNS.join(',')}\n` : '';
}

export function workListLines(items: CampaignItem[], format: WorkListFormat): string {
  return items.map((i) => {
    const r = row(i);
    return format === 'csv' ? `${WORK_LIST_COLUMNS.map((c) => csvCell(r[c])).join(',')}\n` : `${JSON.stringify(r)}\n`;
  }).join('');
}
