/**
 * `rampart tiers` (the RTO/RPO/availability table from the configuration) and
 * `rampart availability PERCENT` (what a target allows in downtime). The
 * arithmetic is in src/dr/availability.ts.
 */
import type { Command } from 'commander';
import { downtimeBudget, formatMinutes, parseAvailability, parseRevenuePerHour, PERIODS, type Period } from '../../dr/availability.js';
import { loadCliConfig, out, type GlobalOptions } from '../context.js';

export interface TierRow {
  component: string;
  availability: number | null;
  downtimePerYear: string | null;
  downtimePerYearSeconds: number | null;
  rtoMinutes: number;
  rpoMinutes: number;
  rto: string;
  rpo: string;
  notes: string;
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function registerTiers(program: Command, g: () => GlobalOptions): void {
  program.command('tiers')
    .description('the RTO/RPO/availability tiers from the configuration, with the downtime each availability allows')
    .action(() => {
      const config = loadCliConfig(g());
      const rows: TierRow[] = Object.entries(config.tiers).map(([component, t]) => {
        const year = t.availability !== undefined && t.availability > 0 && t.availability < 100 ? downtimeBudget(t.availability) : null;
        return {
          component, availability: t.availability ?? null,
          downtimePerYear: year?.human.year ?? null, downtimePerYearSeconds: year?.seconds.year ?? null,
          rtoMinutes: t.rtoMinutes, rpoMinutes: t.rpoMinutes, rto: formatMinutes(t.rtoMinutes), rpo: formatMinutes(t.rpoMinutes), notes: t.notes,
        };
      });
      out(g(), { tiers: rows }, () => [
        table(['component', 'availability', 'downtime/year', 'RTO', 'RPO', 'notes'],
          rows.map((r) => [r.component, r.availability === null ? '-' : `${r.availability} %`, r.downtimePerYear ?? '-', r.rto, r.rpo, r.notes])),
        '',
        'RPO 0: no acknowledged write may be lost. Drills (`rampart drill run`) are measured against these tiers (drills.tier in the configuration).',
      ].join('\n'));
    });

  program.command('availability <percent>')
    .description('downtime an availability target allows per year, month (30 days), week and day')
    .option('--revenue-per-hour <amount>', 'also show the revenue at risk per period')
    .action((percent: string, o: { revenuePerHour?: string }) => {
      const a = parseAvailability(percent);
      const revenue = o.revenuePerHour !== undefined ? parseRevenuePerHour(o.revenuePerHour) : undefined;
      const b = downtimeBudget(a, revenue);
      const periods = Object.keys(PERIODS) as Period[];
      const label: Record<Period, string> = { year: 'per year (365 d)', month: 'per month (30 d)', week: 'per week', day: 'per day' };
      out(g(), { ...b, monthDays: 30, yearDays: 365 }, () => [
        `${a} % availability allows this much downtime:`,
        ...periods.map((p) => `  ${label[p].padEnd(17)} ${b.human[p].padStart(9)}${b.revenueAtRisk ? `   revenue at risk ${b.revenueAtRisk[p].toFixed(2)}` : ''}`),
        'A month is counted as 30 days (a year as 365).',
      ].join('\n'));
    });
}
