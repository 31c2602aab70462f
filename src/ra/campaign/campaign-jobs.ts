/**
 * A node's campaign work: every certificate it issues is matched against the
 * active campaign at once; every 30 s the campaign is reloaded (another
 * process may have started or finished one) and the metrics updated; every
 * minute the leader, past the deadline, finishes the campaign (the old
 * hierarchy is revoked, in batches that give the event loop back). Every node matches its own issuance; what a CLI
 * process issued is matched by `rampart pki campaign status --reconcile`
 * (a scan of the new issuers' inventory: not run on a serving node's thread).
 */
import type { CaEvents } from '../../core/events.js';
import { Periodic } from '../../core/periodic.js';
import type { CampaignMetrics } from '../../metrics/campaign-metrics.js';
import type { CampaignService } from './campaign-service.js';

export class CampaignJobs {
  private readonly jobs: Periodic;

  constructor(private readonly o: { campaigns: CampaignService; events: CaEvents; metrics: CampaignMetrics; isLeader: () => boolean; onError: (e: unknown) => void; deadlineCheckMs?: number }) {
    this.jobs = new Periodic(o.onError);
  }

  async refresh(): Promise<void> {
    const c = await this.o.campaigns.load() ?? await this.o.campaigns.current();
    if (!c) return;
    const p = await this.o.campaigns.progress(c);
    this.o.metrics.set({ active: c.state === 'active', total: p.counts.total, replaced: p.counts.replaced, byChannel: p.counts.byChannel, startedAt: c.startedAt, deadline: c.deadline });
  }

  start(): void {
    this.o.events.on('issued', (rec) => { this.o.campaigns.onIssued(rec).catch(this.o.onError); });
    this.jobs.every(30_000, () => this.refresh());
    this.jobs.every(this.o.deadlineCheckMs ?? 60_000, async () => {
      if (this.o.isLeader()) await this.o.campaigns.finishIfDue();
    });
    void this.refresh().catch(this.o.onError);
  }

  stop(): void {
    this.jobs.stop();
  }
}
