/** The campaign's progress as the CLI, the API and the dashboard show it. */
import type { CampaignProgress } from './campaign-service.js';

export function progressView(p: CampaignProgress) {
  const c = p.campaign;
  return {
    id: c.id, kind: c.kind, state: c.state, startedAt: c.startedAt.toISOString(), deadline: c.deadline?.toISOString() ?? null,
    finishedAt: c.finishedAt?.toISOString() ?? null, finishNote: c.finishNote, oldIssuers: c.oldIssuers, newIssuers: c.newIssuers,
    total: p.counts.total, reissued: p.counts.replaced, outstanding: p.counts.outstanding, byChannel: p.counts.byChannel,
    percentDone: Math.round(p.done * 1000) / 10, deadlinePassed: p.deadlinePassed,
  };
}

export function progressHuman(v: ReturnType<typeof progressView>): string {
  const ch = Object.entries(v.byChannel).filter(([, x]) => x.total).map(([k, x]) => `${k} ${x.replaced}/${x.total}`).join(', ');
  return [
    `Campaign ${v.id} (${v.kind}), ${v.state}: ${v.reissued} of ${v.total} re-issued, ${v.outstanding} outstanding (${v.percentDone} %)${ch ? ` — ${ch}` : ''}`,
    `  started ${v.startedAt}${v.deadline ? `, deadline ${v.deadline}${v.deadlinePassed ? ' (passed)' : ''}` : ', no deadline'}`,
    ...(v.finishNote ? [`  finished ${v.finishedAt}: ${v.finishNote}`] : []),
  ].join('\n');
}
