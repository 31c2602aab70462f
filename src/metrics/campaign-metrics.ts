/** rampart_campaign_* gauges: progress of the current re-issuance campaign (issue 20), in the node's registry. */
import { Gauge, type Registry } from 'prom-client';

export interface CampaignMetricValues {
  active: boolean;
  total: number;
  replaced: number;
  byChannel: Record<string, { total: number; replaced: number }>;
  startedAt: Date | null;
  deadline: Date | null;
}

export class CampaignMetrics {
  private readonly active: Gauge;
  private readonly certificates: Gauge;
  private readonly started: Gauge;
  private readonly deadline: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.active = new Gauge({ name: 'rampart_campaign_active', help: '1 while a re-issuance campaign (rampart pki rebuild) is active', registers });
    this.certificates = new Gauge({ name: 'rampart_campaign_certificates', help: 'Certificates of the current re-issuance campaign by channel and state (reissued, outstanding)', labelNames: ['channel', 'state'], registers });
    this.started = new Gauge({ name: 'rampart_campaign_start_timestamp_seconds', help: 'When the current re-issuance campaign started', registers });
    this.deadline = new Gauge({ name: 'rampart_campaign_deadline_timestamp_seconds', help: 'Deadline of the current re-issuance campaign (0: none)', registers });
  }

  set(v: CampaignMetricValues): void {
    this.active.set(v.active ? 1 : 0);
    for (const [channel, c] of Object.entries(v.byChannel)) {
      this.certificates.set({ channel, state: 'reissued' }, c.replaced);
      this.certificates.set({ channel, state: 'outstanding' }, c.total - c.replaced);
    }
    this.started.set(v.startedAt ? v.startedAt.getTime() / 1000 : 0);
    this.deadline.set(v.deadline ? v.deadline.getTime() / 1000 : 0);
  }
}
