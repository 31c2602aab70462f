/** The re-issuance campaign part of the PostgreSQL store (store.campaigns). Every write is safe to repeat. */
import { RampartError } from '../../core/errors.js';
import type { Row } from '../row-mapping.js';
import {
  CAMPAIGN_COLUMNS, COUNTS_SQL, ITEM_COLUMNS, campaignValues, itemValues, toCampaign, toCampaignItem, toCounts,
  type CampaignCounts, type CampaignItem, type CampaignRecord, type CampaignStore,
} from '../campaign-records.js';
import { transaction, type PgPool } from './pg-pool.js';

const marks = (cols: string, from = 1): string => cols.split(',').map((_, i) => `$${i + from}`).join(', ');
type Param = string | number | null;

export class PostgresCampaigns implements CampaignStore {
  constructor(private readonly pool: PgPool) {}

  async createCampaign(c: CampaignRecord): Promise<void> {
    await this.pool.run('createCampaign', (sql) => transaction(sql, async (tx) => {
      const [active] = await tx`SELECT id FROM reissue_campaigns WHERE state = 'active' FOR UPDATE`;
      if (active && String(active.id) === c.id) return; // a retried attempt that had committed
      if (active) throw new RampartError('conflict', `re-issuance campaign ${String(active.id)} is still active: finish it first (rampart pki campaign finish)`);
      await tx.unsafe(`INSERT INTO reissue_campaigns (${CAMPAIGN_COLUMNS}) VALUES (${marks(CAMPAIGN_COLUMNS)})`, campaignValues(c) as Param[]);
    }));
  }

  async addCampaignItems(items: CampaignItem[]): Promise<void> {
    if (!items.length) return;
    await this.pool.run('addCampaignItems', (sql) => transaction(sql, async (tx) => {
      for (const i of items) {
        await tx.unsafe(`INSERT INTO reissue_items (${ITEM_COLUMNS}) VALUES (${marks(ITEM_COLUMNS)}) ON CONFLICT DO NOTHING`, itemValues(i) as Param[]);
      }
    }));
  }

  async getCampaign(id: string): Promise<CampaignRecord | null> {
    const [r] = await this.pool.run('getCampaign', (sql) => sql`SELECT * FROM reissue_campaigns WHERE id = ${id}`);
    return r ? toCampaign(r) : null;
  }

  async currentCampaign(): Promise<CampaignRecord | null> {
    const [r] = await this.pool.run('currentCampaign', (sql) => sql`SELECT * FROM reissue_campaigns ORDER BY (state = 'active') DESC, started_at DESC LIMIT 1`);
    return r ? toCampaign(r) : null;
  }

  async finishedCampaigns(): Promise<CampaignRecord[]> {
    const rows = await this.pool.run('finishedCampaigns', (sql) => sql`SELECT * FROM reissue_campaigns WHERE state = 'finished' ORDER BY started_at DESC`);
    return rows.map(toCampaign);
  }

  async listCampaignItems(id: string, q: { after?: string; limit: number; outstanding?: boolean }): Promise<CampaignItem[]> {
    const rows = await this.pool.run('listCampaignItems', (sql) => sql.unsafe(
      `SELECT * FROM reissue_items WHERE campaign_id = $1 AND serial > $2 ${q.outstanding ? 'AND replaced_by IS NULL' : ''} ORDER BY serial LIMIT $3`,
      [id, q.after ?? '', q.limit],
    ));
    return (rows as Row[]).map(toCampaignItem);
  }

  async getCampaignItem(id: string, serial: string): Promise<CampaignItem | null> {
    const [r] = await this.pool.run('getCampaignItem', (sql) => sql`SELECT * FROM reissue_items WHERE campaign_id = ${id} AND serial = ${serial}`);
    return r ? toCampaignItem(r) : null;
  }

  async findOutstandingItem(id: string, requester: string, sansKey: string): Promise<string | null> {
    const [r] = await this.pool.run('findOutstandingItem', (sql) => sql`SELECT serial FROM reissue_items
      WHERE campaign_id = ${id} AND requester = ${requester} AND sans_key = ${sansKey} AND replaced_by IS NULL ORDER BY not_after LIMIT 1`);
    return r ? String(r.serial) : null;
  }

  async markItemReplaced(id: string, serial: string, by: string, at: Date): Promise<boolean> {
    const rows = await this.pool.run('markItemReplaced', (sql) => sql`UPDATE reissue_items SET replaced_by = ${by}, replaced_at = ${at.getTime()}
      WHERE campaign_id = ${id} AND serial = ${serial} AND (replaced_by IS NULL OR replaced_by = ${by}) RETURNING replaced_at`);
    return rows.length === 1 && Number(rows[0]!.replaced_at) === at.getTime();
  }

  async campaignCounts(id: string): Promise<CampaignCounts> {
    return toCounts(await this.pool.run('campaignCounts', (sql) => sql.unsafe(COUNTS_SQL, [id])) as Row[]);
  }

  async finishCampaign(id: string, at: Date, note: string): Promise<void> {
    await this.pool.run('finishCampaign', (sql) => sql`UPDATE reissue_campaigns SET state = 'finished', finished_at = ${at.getTime()}, finish_note = ${note} WHERE id = ${id}`);
  }
}
