/** The re-issuance campaign part of the SQLite store (store.campaigns); writes go through the group commit. */
import type Database from 'better-sqlite3';
import { RampartError } from '../../core/errors.js';
import type { Row } from '../row-mapping.js';
import {
  CAMPAIGN_COLUMNS, COUNTS_SQL, ITEM_COLUMNS, campaignValues, itemValues, toCampaign, toCampaignItem, toCounts,
  type CampaignCounts, type CampaignItem, type CampaignRecord, type CampaignStore,
} from '../campaign-records.js';
import type { GroupCommit } from './group-commit.js';

const marks = (cols: string): string => cols.split(',').map(() => '?').join(', ');

export class SqliteCampaigns implements CampaignStore {
  constructor(private readonly prep: (sql: string) => Database.Statement, private readonly group: GroupCommit) {}

  async createCampaign(c: CampaignRecord): Promise<void> {
    await this.group.run(() => {
      const active = this.prep("SELECT id FROM reissue_campaigns WHERE state = 'active'").get() as Row | undefined;
      if (active) throw new RampartError('conflict', `re-issuance campaign ${String(active.id)} is still active: finish it first (rampart pki campaign finish)`);
      this.prep(`INSERT INTO reissue_campaigns (${CAMPAIGN_COLUMNS}) VALUES (${marks(CAMPAIGN_COLUMNS)})`).run(...campaignValues(c));
    });
  }

  async addCampaignItems(items: CampaignItem[]): Promise<void> {
    await this.group.run(() => {
      const st = this.prep(`INSERT OR IGNORE INTO reissue_items (${ITEM_COLUMNS}) VALUES (${marks(ITEM_COLUMNS)})`);
      for (const i of items) st.run(...itemValues(i));
    });
  }

  async getCampaign(id: string): Promise<CampaignRecord | null> {
    const r = this.prep('SELECT * FROM reissue_campaigns WHERE id = ?').get(id) as Row | undefined;
    return r ? toCampaign(r) : null;
  }

  async currentCampaign(): Promise<CampaignRecord | null> {
    const r = this.prep("SELECT * FROM reissue_campaigns ORDER BY state = 'active' DESC, started_at DESC LIMIT 1").get() as Row | undefined;
    return r ? toCampaign(r) : null;
  }

  async finishedCampaigns(): Promise<CampaignRecord[]> {
    return (this.prep("SELECT * FROM reissue_campaigns WHERE state = 'finished' ORDER BY started_at DESC").all() as Row[]).map(toCampaign);
  }

  async listCampaignItems(id: string, q: { after?: string; limit: number; outstanding?: boolean }): Promise<CampaignItem[]> {
    const rows = this.prep(`SELECT * FROM reissue_items WHERE campaign_id = ? AND serial > ? ${q.outstanding ? 'AND replaced_by IS NULL' : ''} ORDER BY serial LIMIT ?`)
      .all(id, q.after ?? '', q.limit) as Row[];
    return rows.map(toCampaignItem);
  }

  async getCampaignItem(id: string, serial: string): Promise<CampaignItem | null> {
    const r = this.prep('SELECT * FROM reissue_items WHERE campaign_id = ? AND serial = ?').get(id, serial) as Row | undefined;
    return r ? toCampaignItem(r) : null;
  }

  async findOutstandingItem(id: string, requester: string, sansKey: string): Promise<string | null> {
    const r = this.prep('SELECT serial FROM reissue_items WHERE campaign_id = ? AND requester = ? AND sans_key = ? AND replaced_by IS NULL ORDER BY not_after LIMIT 1')
      .get(id, requester, sansKey) as Row | undefined;
    return r ? String(r.serial) : null;
  }

  async markItemReplaced(id: string, serial: string, by: string, at: Date): Promise<boolean> {
    return this.group.run(() => this.prep('UPDATE reissue_items SET replaced_by = ?, replaced_at = ? WHERE campaign_id = ? AND serial = ? AND replaced_by IS NULL')
      .run(by, at.getTime(), id, serial).changes === 1);
  }

  async campaignCounts(id: string): Promise<CampaignCounts> {
    return toCounts(this.prep(COUNTS_SQL.replace('$1', '?')).all(id) as Row[]);
  }

  async finishCampaign(id: string, at: Date, note: string): Promise<void> {
    await this.group.run(() => this.prep("UPDATE reissue_campaigns SET state = 'finished', finished_at = ?, finish_note = ? WHERE id = ?").run(at.getTime(), note, id));
  }
}
