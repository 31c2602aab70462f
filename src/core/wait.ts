/** Polling with a deadline, for drill steps that wait for a system to come back. */

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Calls fn until it returns a truthy value; throws after timeoutMs with the last error seen. */
export async function waitUntil<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs: number, stepMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(stepMs);
  }
}

/**
 * `work`, or a rejection with `onLate()` after `ms`. The work is left to
 * finish (its late result or error is dropped): for a query held by a
 * connection that a partition cut, which TCP may keep for tens of seconds.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, onLate: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  work.catch(() => undefined);
  return Promise.race([work, new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onLate()), ms);
  })]).finally(() => clearTimeout(timer));
}
