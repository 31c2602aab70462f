/**
 * A skewed wall clock for one lab process: Debian's `faketime` (libfaketime,
 * LD_PRELOAD) shifts what the process reads from the realtime clock by a
 * fixed offset while the clock keeps running. Node's monotonic clock
 * (performance.now, timers) is left alone (FAKETIME_DONT_FAKE_MONOTONIC=1),
 * as a host whose NTP is wrong would see it. The package is installed when
 * missing and root (requireCommand), and listed in scripts/install-test-deps.sh.
 */
import { requireCommand } from '../helpers/debian.js';

/** argv prefix that runs a command with its wall clock `offsetMinutes` ahead (negative: behind). */
export function skewedClockWrap(offsetMinutes: number): string[] {
  if (!Number.isInteger(offsetMinutes) || offsetMinutes === 0) throw new Error(`clock offset: a non-zero whole number of minutes, got ${offsetMinutes}`);
  const sign = offsetMinutes > 0 ? '+' : '-';
  return ['env', 'FAKETIME_DONT_FAKE_MONOTONIC=1', requireCommand('faketime', 'faketime'), '-f', `${sign}${Math.abs(offsetMinutes)}m`];
}
