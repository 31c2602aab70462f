/** The readable text report of a drill run (stored next to its JSON). */
import { formatDuration, formatMinutes } from './availability.js';
import type { DrillResult } from './drill-result.js';

const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

export function renderDrillReport(r: DrillResult): string {
  const verdict = (met: boolean | null): string => (met === null ? 'not measured' : met ? 'met' : 'MISSED');
  const measured = (s: number | null): string => (s === null ? 'n/a' : s === 0 ? '0 (no data lost)' : formatDuration(s));
  return [
    `Rampart DR drill: ${r.scenario}`,
    `Run:       ${r.id} on ${r.node}`,
    `Started:   ${r.startedAt}`,
    `Finished:  ${r.finishedAt} (${secs(r.durationMs)})`,
    `Outcome:   ${r.outcome.toUpperCase()}${r.error ? ` - ${r.error}` : ''}`,
    '',
    `Tier "${r.tier.name}": RTO ${formatMinutes(r.tier.rtoMinutes)}, RPO ${formatMinutes(r.tier.rpoMinutes)}${r.tier.availability !== null ? `, availability ${r.tier.availability} %` : ''}`,
    `  recovery time (RTO): measured ${r.measured.rtoSeconds === null ? 'n/a' : formatDuration(r.measured.rtoSeconds)} - ${verdict(r.rtoMet)}`,
    `  data loss (RPO):     measured ${measured(r.measured.rpoSeconds)} - ${verdict(r.rpoMet)}`,
    '',
    'Steps:',
    ...r.steps.map((s, i) => `  ${String(i + 1).padStart(2)}. ${s.ok ? 'ok  ' : 'FAIL'} ${secs(s.durationMs).padStart(9)}  ${s.name}${s.detail ? ` (${s.detail})` : ''}${s.error ? `\n                      ${s.error.split('\n').join('\n                      ')}` : ''}`),
    ...(r.notes.length ? ['', 'Notes:', ...r.notes.map((n) => `  - ${n}`)] : []),
    '',
  ].join('\n');
}
