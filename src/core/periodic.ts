/**
 * Background work on a timer, owned by the role that does it: every(ms, fn)
 * runs fn every ms (timers unref'd, so they never keep a CLI process alive),
 * reports failures to onError, and stop() clears them all.
 */
export class Periodic {
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(private readonly onError: (e: unknown) => void) {}

  every(ms: number, fn: () => Promise<unknown> | unknown): void {
    const t = setInterval(() => {
      try {
        void Promise.resolve(fn()).catch(this.onError);
      } catch (e) {
        this.onError(e);
      }
    }, ms);
    t.unref();
    this.timers.push(t);
  }

  stop(): void {
    for (const t of this.timers.splice(0)) clearInterval(t);
  }
}
