/** Time source: everything that reads the time takes a Clock, so tests can move it. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock tests can set and advance. */
export class ManualClock implements Clock {
  constructor(private t: number = Date.now()) {}
  now(): Date { return new Date(this.t); }
  set(d: Date): void { this.t = d.getTime(); }
  advance(ms: number): void { this.t += ms; }
}
