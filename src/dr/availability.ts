/**
 * Availability arithmetic: how much downtime an availability target allows
 * per year (365 days), month (30 days), week and day, and what that downtime
 * costs at a given revenue per hour. Pure functions, no I/O.
 */

export const PERIODS = {
  year: 365 * 86_400,
  month: 30 * 86_400,
  week: 7 * 86_400,
  day: 86_400,
} as const;

export type Period = keyof typeof PERIODS;

export class AvailabilityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AvailabilityError';
  }
}

/** Parses "99.95" or "99.95%" to 99.95; throws an AvailabilityError unless 0 < a < 100. */
export function parseAvailability(input: string | number): number {
  const text = String(input).trim().replace(/%$/, '');
  const a = typeof input === 'number' ? input : /^[0-9]+(\.[0-9]+)?$/.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(a)) throw new AvailabilityError(`availability must be a percentage such as 99.9 or 99.95 (got "${String(input)}")`);
  if (a <= 0 || a >= 100) throw new AvailabilityError(`availability must be more than 0 and less than 100 percent (got ${a}); 100 % allows no downtime at all`);
  return a;
}

/** Parses a revenue per hour: a finite number >= 0. */
export function parseRevenuePerHour(input: string | number): number {
  const n = typeof input === 'number' ? input : /^[0-9]+(\.[0-9]+)?$/.test(String(input).trim()) ? Number(input) : NaN;
  if (!Number.isFinite(n) || n < 0) throw new AvailabilityError(`--revenue-per-hour must be a number >= 0 (got "${String(input)}")`);
  return n;
}

/** Allowed downtime in seconds per period for an availability in percent. */
export function downtimeSeconds(availability: number, period: Period): number {
  // Rounded to the microsecond: (100 - 99.9) is 0.09999999999999432 in binary floating point.
  return Math.round(((100 - availability) / 100) * PERIODS[period] * 1e6) / 1e6;
}

export interface DowntimeBudget {
  availability: number;
  /** Allowed downtime in seconds; month = 30 days, year = 365 days. */
  seconds: Record<Period, number>;
  human: Record<Period, string>;
  /** Revenue lost if the whole allowance is used, per period (when a revenue per hour is given). */
  revenueAtRisk?: Record<Period, number>;
}

export function downtimeBudget(availability: number, revenuePerHour?: number): DowntimeBudget {
  const periods = Object.keys(PERIODS) as Period[];
  const seconds = Object.fromEntries(periods.map((p) => [p, downtimeSeconds(availability, p)])) as Record<Period, number>;
  const human = Object.fromEntries(periods.map((p) => [p, formatDuration(seconds[p])])) as Record<Period, string>;
  const budget: DowntimeBudget = { availability, seconds, human };
  if (revenuePerHour !== undefined) {
    budget.revenueAtRisk = Object.fromEntries(periods.map((p) => [p, Math.round((seconds[p] / 3600) * revenuePerHour * 100) / 100])) as Record<Period, number>;
  }
  return budget;
}

/** Three significant digits, trailing zeros dropped: 8.76 h, 43.2 min, 1.44 min, 8.64 s, 3.65 d. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) throw new AvailabilityError(`not a duration: ${seconds}`);
  const sig = (n: number): string => String(Number(n.toPrecision(3)));
  if (seconds >= 2 * 86_400) return `${sig(seconds / 86_400)} d`;
  if (seconds >= 3600) return `${sig(seconds / 3600)} h`;
  if (seconds >= 60) return `${sig(seconds / 60)} min`;
  if (seconds >= 1) return `${sig(seconds)} s`;
  return `${sig(seconds * 1000)} ms`;
}

/** Formats minutes as a duration ("15 min", "1 h", "7 d"); 0 stays "0". */
export function formatMinutes(minutes: number): string {
  if (minutes === 0) return '0';
  return formatDuration(minutes * 60);
}
