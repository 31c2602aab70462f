/**
 * Conformance suite for the re-issuance campaign part of Store
 * (store.campaigns), run on every implementation: one active campaign at a
 * time, items added in batches (repeats ignored), matching an outstanding
 * item, marking it replaced once, counts by channel, the work list in
 * serial order, finishing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Store } from '../store.js';
import type { CampaignItem, CampaignRecord } from '../campaign-records.js';
import { T0, DAY } from './fixtures.js';

const campaign = (id: string): CampaignRecord => ({
  id, kind: 'root-loss', state: 'active', oldIssuers: ['int-old', 'root-old'], newIssuers: ['root-new', 'int-new'],
  startedAt: new Date(T0), deadline: new Date(T0 + 30 * DAY), finishedAt: null, finishNote: null,
});
const item = (serial: string, over: Partial<CampaignItem> = {}): CampaignItem => ({
  campaignId: 'c1', serial, channel: 'acme', requester: 'acme:acct1', profile: 'server', subject: 'CN=a.example', sansKey: 'a.example',
  notAfter: new Date(T0 + 90 * DAY), replacedBy: null, replacedAt: null, ...over,
});

export function campaignConformance(name: string, factory: () => Promise<{ store: Store; cleanup: () => Promise<void> }>): void {
  describe(`campaign store conformance: ${name}`, () => {
    it('one active campaign; items, matching, replacement once, counts, work list, finish', async () => {
      const { store: s, cleanup } = await factory();
      try {
        await s.migrate();
        assert.equal(await s.campaigns.currentCampaign(), null);
        await s.campaigns.createCampaign(campaign('c1'));
        await assert.rejects(s.campaigns.createCampaign(campaign('c2')), (e: Error & { code?: string }) => e.code === 'conflict');
        await s.campaigns.addCampaignItems([item('0a'), item('0b', { requester: 'acme:acct2' }), item('0c', { channel: 'rest', requester: 'token:t1', sansKey: 'b.example' })]);
        await s.campaigns.addCampaignItems([item('0a'), item('0d', { channel: 'other', requester: 'system', sansKey: 'node' })]);
        const c = await s.campaigns.currentCampaign();
        assert.deepEqual(c, campaign('c1'));
        assert.deepEqual((await s.campaigns.campaignCounts('c1')).byChannel, { acme: { total: 2, replaced: 0 }, rest: { total: 1, replaced: 0 }, other: { total: 1, replaced: 0 } });
        assert.equal(await s.campaigns.findOutstandingItem('c1', 'acme:acct1', 'a.example'), '0a');
        assert.equal(await s.campaigns.findOutstandingItem('c1', 'acme:acct1', 'z.example'), null);
        assert.equal(await s.campaigns.markItemReplaced('c1', '0a', 'ff01', new Date(T0 + DAY)), true);
        assert.equal(await s.campaigns.markItemReplaced('c1', '0a', 'ff02', new Date(T0 + 2 * DAY)), false, 'an item is replaced once');
        assert.equal(await s.campaigns.findOutstandingItem('c1', 'acme:acct1', 'a.example'), null);
        assert.deepEqual(await s.campaigns.getCampaignItem('c1', '0a'), item('0a', { replacedBy: 'ff01', replacedAt: new Date(T0 + DAY) }));
        assert.equal(await s.campaigns.getCampaignItem('c1', '99'), null);
        const counts = await s.campaigns.campaignCounts('c1');
        assert.deepEqual({ total: counts.total, replaced: counts.replaced, outstanding: counts.outstanding }, { total: 4, replaced: 1, outstanding: 3 });
        assert.deepEqual((await s.campaigns.listCampaignItems('c1', { limit: 10, outstanding: true })).map((i) => i.serial), ['0b', '0c', '0d']);
        assert.deepEqual((await s.campaigns.listCampaignItems('c1', { limit: 2 })).map((i) => i.serial), ['0a', '0b']);
        assert.deepEqual((await s.campaigns.listCampaignItems('c1', { limit: 2, after: '0b' })).map((i) => i.serial), ['0c', '0d']);
        await s.campaigns.finishCampaign('c1', new Date(T0 + 3 * DAY), 'forced');
        const done = await s.campaigns.getCampaign('c1');
        assert.equal(done?.state, 'finished');
        assert.equal(done?.finishNote, 'forced');
        await s.campaigns.createCampaign({ ...campaign('c2'), startedAt: new Date(T0 + 4 * DAY) });
        assert.equal((await s.campaigns.currentCampaign())?.id, 'c2', 'the active one, after the finished one');
        assert.deepEqual((await s.campaigns.finishedCampaigns()).map((c) => c.id), ['c1'], 'only finished ones');
      } finally {
        await s.close();
        await cleanup();
      }
    });
  });
}
