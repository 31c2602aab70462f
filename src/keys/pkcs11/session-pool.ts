/**
 * The open sessions of one token: an operation takes a free session and gives
 * it back; when all are busy, callers queue (first come, first served). A
 * PKCS#11 session runs one operation at a time, so the number of sessions is
 * the number of signatures a token computes in parallel.
 *
 * Closing the pool (token failed, module re-initialized) rejects the queue at
 * once; sessions still in use are closed when they come back, never under a
 * running call.
 */
import type pkcs11js from 'pkcs11js';

type Session = pkcs11js.Handle;

export class SessionPool {
  private readonly free: Session[];
  private readonly waiters: Array<{ resolve: (s: Session) => void; reject: (e: Error) => void }> = [];
  private closedBy: Error | null = null;
  busy = 0;
  /** Most sessions in use at the same time since the pool was opened. */
  peakBusy = 0;

  constructor(private readonly sessions: Session[], private readonly closeSession: (s: Session) => void) {
    this.free = [...sessions];
  }

  get size(): number { return this.sessions.length; }
  get queued(): number { return this.waiters.length; }
  get closed(): boolean { return this.closedBy !== null; }

  acquire(): Promise<Session> {
    if (this.closedBy) return Promise.reject(this.closedBy);
    const s = this.free.pop();
    if (s) return Promise.resolve(this.take(s));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private take(s: Session): Session {
    this.busy++;
    if (this.busy > this.peakBusy) this.peakBusy = this.busy;
    return s;
  }

  release(s: Session): void {
    this.busy--;
    if (this.closedBy) {
      this.closeSession(s);
      return;
    }
    const w = this.waiters.shift();
    if (w) w.resolve(this.take(s));
    else this.free.push(s);
  }

  /** Rejects waiters with `reason`, closes idle sessions now and busy ones when released. */
  close(reason: Error): void {
    if (this.closedBy) return;
    this.closedBy = reason;
    for (const w of this.waiters.splice(0)) w.reject(reason);
    for (const s of this.free.splice(0)) this.closeSession(s);
  }

  async use<T>(fn: (s: Session) => Promise<T>): Promise<T> {
    const s = await this.acquire();
    try {
      return await fn(s);
    } finally {
      this.release(s);
    }
  }
}
