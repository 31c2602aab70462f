/**
 * What `rampart doctor` reports: one finding per check, each with its fix,
 * and the exit status for scripts: 0 all ok, 1 warnings (and no failures),
 * 2 at least one failure.
 */
export type FindingStatus = 'ok' | 'warn' | 'fail';

export interface Finding {
  check: string;
  status: FindingStatus;
  detail: string;
  /** What to do about it; empty when ok. */
  fix: string;
}

export const ok = (check: string, detail: string): Finding => ({ check, status: 'ok', detail, fix: '' });
export const warn = (check: string, detail: string, fix: string): Finding => ({ check, status: 'warn', detail, fix });
export const fail = (check: string, detail: string, fix: string): Finding => ({ check, status: 'fail', detail, fix });

export function exitStatus(findings: Finding[]): 0 | 1 | 2 {
  if (findings.some((f) => f.status === 'fail')) return 2;
  return findings.some((f) => f.status === 'warn') ? 1 : 0;
}

export function renderFindings(findings: Finding[]): string {
  const mark = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;
  const width = Math.max(...findings.map((f) => f.check.length));
  const lines = findings.map((f) => `${mark[f.status]}  ${f.check.padEnd(width)}  ${f.detail}${f.fix ? `\n      ${' '.repeat(width)}  fix: ${f.fix}` : ''}`);
  const n = (s: FindingStatus) => findings.filter((f) => f.status === s).length;
  return [...lines, '', `${n('fail')} failure(s), ${n('warn')} warning(s), ${n('ok')} ok (exit ${exitStatus(findings)})`].join('\n');
}
