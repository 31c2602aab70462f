/**
 * RFC 5280 4.1.2.5 (and 5.1.2.4-5.1.2.6 for CRLs): dates through 2049 are
 * UTCTime, dates in 2050 or later GeneralizedTime; UTCTime is YYMMDDHHMMSSZ
 * and GeneralizedTime YYYYMMDDHHMMSSZ, in UTC, with seconds and without
 * fractional seconds.
 */
import type { RawTime } from './der-views.js';

export function timeTypeProblem(label: string, t: RawTime | null): string | null {
  if (!t) return `${label} is not a UTCTime or GeneralizedTime`;
  if (Number.isNaN(t.date.getTime())) return null; // reported by timeFormatProblem
  const year = t.date.getUTCFullYear();
  if (year < 2050 && t.type !== 'UTCTime') return `${label} ${t.text} is a GeneralizedTime; dates before 2050 must be UTCTime`;
  if (year >= 2050 && t.type !== 'GeneralizedTime') return `${label} ${t.text} is a UTCTime; dates in 2050 or later must be GeneralizedTime`;
  return null;
}

export function timeFormatProblem(label: string, t: RawTime | null): string | null {
  if (!t) return null; // reported by timeTypeProblem
  const ok = t.type === 'UTCTime' ? /^\d{12}Z$/.test(t.text) : /^\d{14}Z$/.test(t.text);
  if (!ok) return `${label} ${t.type} "${t.text}" is not ${t.type === 'UTCTime' ? 'YYMMDDHHMMSSZ' : 'YYYYMMDDHHMMSSZ'}`;
  if (Number.isNaN(t.date.getTime())) return `${label} ${t.type} "${t.text}" is not a valid date`;
  return null;
}
