/**
 * Re-issuance campaigns (issue 20): the records and the store part
 * (store.campaigns). A campaign lists every unexpired certificate of the
 * hierarchy being replaced; each item is replaced by a new serial once the
 * holder (an ACME client told through ARI, or the API re-issuing from the
 * stored public key) has a certificate from the new hierarchy.
 */
import { d, dn, type Row } from './row-mapping.js';

export type CampaignKind = 'root-loss' | 'intermediate-compromise';
export type CampaignChannel = 'acme' | 'rest' | 'other';

export interface CampaignRecord {
  id: string;
  kind: CampaignKind;
  state: 'active' | 'finished';
  /** The issuers being replaced (the old root and intermediates, or the compromised intermediate). */
  oldIssuers: string[];
  /** The new issuers (new root and intermediate, or the new intermediate). */
  newIssuers: string[];
  startedAt: Date;
  /** When the old hierarchy is revoked even if items are still outstanding (null: only when done). */
  deadline: Date | null;
  finishedAt: Date | null;
  finishNote: string | null;
}

export interface CampaignItem {
  campaignId: string;
  serial: string;
  channel: CampaignChannel;
  requester: string;
  profile: string;
  subject: string;
  /** The names, lower case, sorted, joined by ",": how a replacement is recognized. */
  sansKey: string;
  notAfter: Date;
  replacedBy: string | null;
  replacedAt: Date | null;
}

export interface CampaignCounts { total: number; replaced: number; outstanding: number; byChannel: Record<CampaignChannel, { total: number; replaced: number }> }

export interface CampaignStore {
  /** Stores a new active campaign; throws RampartError 'conflict' when another one is active. */
  createCampaign(c: CampaignRecord): Promise<void>;
  /** Adds items (a batch; repeated serials are ignored). */
  addCampaignItems(items: CampaignItem[]): Promise<void>;
  getCampaign(id: string): Promise<CampaignRecord | null>;
  /** The active campaign, else the newest; null when there was none. */
  currentCampaign(): Promise<CampaignRecord | null>;
  /** Every finished campaign, newest first (their old hierarchies are no longer published). */
  finishedCampaigns(): Promise<CampaignRecord[]>;
  /** Items in serial order after `after` (keyset pages); `outstanding`: only those not replaced. */
  listCampaignItems(id: string, q: { after?: string; limit: number; outstanding?: boolean }): Promise<CampaignItem[]>;
  getCampaignItem(id: string, serial: string): Promise<CampaignItem | null>;
  /** The serial of an outstanding item of this requester with these names (null: none). */
  findOutstandingItem(id: string, requester: string, sansKey: string): Promise<string | null>;
  /** Marks an item replaced; false when it already was (or is not in the campaign). */
  markItemReplaced(id: string, serial: string, by: string, at: Date): Promise<boolean>;
  campaignCounts(id: string): Promise<CampaignCounts>;
  finishCampaign(id: string, at: Date, note: string): Promise<void>;
}

/** Capability of every Store: its re-issuance campaigns. */
export interface CampaignCapable {
  readonly campaigns: CampaignStore;
}

export const CAMPAIGN_COLUMNS = 'id, kind, state, old_issuers, new_issuers, started_at, deadline, finished_at, finish_note';
export const ITEM_COLUMNS = 'campaign_id, serial, channel, requester, profile, subject, sans_key, not_after, replaced_by, replaced_at';

export function campaignValues(c: CampaignRecord): unknown[] {
  return [c.id, c.kind, c.state, JSON.stringify(c.oldIssuers), JSON.stringify(c.newIssuers), c.startedAt.getTime(), c.deadline?.getTime() ?? null, c.finishedAt?.getTime() ?? null, c.finishNote];
}

export function itemValues(i: CampaignItem): unknown[] {
  return [i.campaignId, i.serial, i.channel, i.requester, i.profile, i.subject, i.sansKey, i.notAfter.getTime(), i.replacedBy, i.replacedAt?.getTime() ?? null];
}

export function toCampaign(r: Row): CampaignRecord {
  return {
    id: String(r.id), kind: r.kind as CampaignKind, state: r.state as CampaignRecord['state'],
    oldIssuers: JSON.parse(String(r.old_issuers)) as string[], newIssuers: JSON.parse(String(r.new_issuers)) as string[],
    startedAt: d(r.started_at), deadline: dn(r.deadline), finishedAt: dn(r.finished_at), finishNote: r.finish_note === null ? null : String(r.finish_note),
  };
}

export function toCampaignItem(r: Row): CampaignItem {
  return {
    campaignId: String(r.campaign_id), serial: String(r.serial), channel: r.channel as CampaignChannel, requester: String(r.requester),
    profile: String(r.profile), subject: String(r.subject), sansKey: String(r.sans_key), notAfter: d(r.not_after),
    replacedBy: r.replaced_by === null ? null : String(r.replaced_by), replacedAt: dn(r.replaced_at),
  };
}

/** Counts from rows of (channel, total, replaced). */
export function toCounts(rows: Row[]): CampaignCounts {
  const byChannel: CampaignCounts['byChannel'] = { acme: { total: 0, replaced: 0 }, rest: { total: 0, replaced: 0 }, other: { total: 0, replaced: 0 } };
  let total = 0;
  let replaced = 0;
  for (const r of rows) {
    const c = byChannel[r.channel as CampaignChannel] ?? byChannel.other;
    c.total += Number(r.total);
    c.replaced += Number(r.replaced);
    total += Number(r.total);
    replaced += Number(r.replaced);
  }
  return { total, replaced, outstanding: total - replaced, byChannel };
}

export const COUNTS_SQL = 'SELECT channel, COUNT(*) AS total, COUNT(replaced_by) AS replaced FROM reissue_items WHERE campaign_id = $1 GROUP BY channel';
