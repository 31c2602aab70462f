/**
 * The HSM pool: the configured tokens, used in turn (round robin). An
 * operation that fails with a token failure takes that token out and is
 * retried on the next one; the failed token is tried again every
 * `retrySeconds` (reopen sessions, log in again), and comes back by itself.
 *
 * Recovery, in order: reopen in the current module; if that fails and a fresh
 * process sees the token (token-probe.ts), re-initialize the module and
 * reopen. Re-initializations are rate-limited (retrySeconds, doubling while
 * one does not bring the token back), because they interrupt every token of
 * the module for a moment.
 */
import { describeError, isTokenFailure, KeyAbsent, TokenUnavailable, TryNextToken } from './errors.js';
import type { Pkcs11Module } from './pkcs11-module.js';
import { slotNumber } from './pkcs11-module.js';
import { matchesToken, type Pkcs11Uri, type TokenView } from './pkcs11-uri.js';
import { probeTokens } from './token-probe.js';
import { Token } from './token.js';
import type pkcs11js from 'pkcs11js';

export interface PoolLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface TokenSpec {
  uri: Pkcs11Uri;
  name: string;
  pin: string;
}

export interface TokenPoolOptions {
  module: Pkcs11Module;
  tokens: TokenSpec[];
  sessionsPerToken: number;
  retrySeconds: number;
  log?: PoolLogger;
  /** Runs after a token came back (e.g. copy keys it is missing). Errors are logged. */
  onRecovered?: (t: Token) => Promise<void>;
  /** Lists the tokens a fresh process sees (default: token-probe.ts). */
  probe?: (modulePath: string) => Promise<TokenView[]>;
}

const MAX_REINIT_BACKOFF = 6;

export class TokenPool {
  readonly tokens: Token[];
  private rr = 0;
  private closed = false;
  private readonly timers = new Map<Token, NodeJS.Timeout>();
  private readonly recovering = new Map<Token, Promise<boolean>>();

  constructor(private readonly o: TokenPoolOptions) {
    this.tokens = o.tokens.map((s) => new Token(s.uri, s.name, o.module, {
      pin: s.pin, sessions: o.sessionsPerToken,
      onDown: (t, e) => this.onDown(t, e),
    }));
  }

  get module(): Pkcs11Module { return this.o.module; }

  /** Opens every token once (failures are scheduled for retry). */
  async start(): Promise<void> {
    for (const t of this.tokens) await this.recover(t);
  }

  up(): Token[] { return this.tokens.filter((t) => t.state === 'up'); }

  private onDown(t: Token, e: unknown): void {
    this.o.log?.warn({ token: t.name, error: describeError(e), retrySeconds: t.permanent ? null : this.o.retrySeconds },
      t.permanent ? 'PKCS#11 token taken out of the pool; it is not retried automatically' : 'PKCS#11 token taken out of the pool');
    this.schedule(t);
  }

  private schedule(t: Token): void {
    if (this.closed || t.permanent) return;
    clearTimeout(this.timers.get(t));
    t.retryAt = Date.now() + this.o.retrySeconds * 1000;
    const timer = setTimeout(() => { void this.recover(t); }, this.o.retrySeconds * 1000);
    timer.unref();
    this.timers.set(t, timer);
  }

  /** Tries to bring `t` (back) into the pool; concurrent calls share one attempt. */
  recover(t: Token): Promise<boolean> {
    if (this.closed || t.state === 'up') return Promise.resolve(t.state === 'up');
    if (t.permanent) return Promise.resolve(false);
    let run = this.recovering.get(t);
    if (run) return run;
    const wasStarted = t.epoch > 0;
    run = (async () => {
      const m = this.o.module;
      const generation = m.generation;
      try {
        await this.reopen(t);
      } catch (first) {
        if (first instanceof TokenUnavailable && first.permanent) throw first;
        // Another token's recovery may have re-initialized the module meanwhile: then reopening is enough.
        if (m.generation === generation) {
          if (!(await this.worthReinitializing(t)) && m.generation === generation) throw first;
          if (m.generation === generation) {
            this.o.log?.warn({ token: t.name, error: describeError(first) },
              'PKCS#11 token is visible to a fresh process but not to this one: re-initializing the module');
            t.reinitAttempts++;
            await m.reinitialize();
          }
        }
        await this.reopen(t);
      }
      t.reinitAttempts = 0;
      clearTimeout(this.timers.get(t));
      if (wasStarted) this.o.log?.info({ token: t.name, downSeconds: Math.round((Date.now() - t.downSince) / 1000) }, 'PKCS#11 token back in the pool');
      try {
        await this.o.onRecovered?.(t);
      } catch (e) {
        this.o.log?.warn({ token: t.name, error: describeError(e) }, 'PKCS#11 token recovered, but the follow-up work failed');
      }
      return true;
    })().catch((e: unknown) => {
      t.state = 'down';
      t.lastError = describeError(e);
      t.permanent = e instanceof TokenUnavailable && e.permanent;
      this.schedule(t);
      return false;
    }).finally(() => this.recovering.delete(t));
    this.recovering.set(t, run);
    return run;
  }

  private async reopen(t: Token): Promise<void> {
    await this.o.module.ready();
    t.open();
  }

  /** Re-initialize only when a fresh process sees the token (or cannot tell), at most every retrySeconds, backing off. */
  private async worthReinitializing(t: Token): Promise<boolean> {
    const m = this.o.module;
    if (!m.ownsInit) return false;
    const wait = this.o.retrySeconds * 1000 * 2 ** Math.min(t.reinitAttempts, MAX_REINIT_BACKOFF);
    const due = (): boolean => Date.now() - m.lastReinitAt >= wait;
    if (!due()) return false;
    let visible: boolean;
    try {
      const views = await (this.o.probe ?? probeTokens)(m.path);
      visible = views.some((v) => matchesToken(t.uri, v));
    } catch (e) {
      this.o.log?.warn({ token: t.name, error: describeError(e) }, 'could not probe the PKCS#11 module in a child process');
      visible = true;
    }
    return visible && due();
  }

  /**
   * Runs `fn` on the next token that is up and not skipped (round robin). A
   * token failure has taken that token out: the operation moves on to the next.
   */
  async run<T>(what: string, skip: (t: Token) => boolean, fn: (t: Token, session: pkcs11js.Handle, generation: number) => Promise<T>): Promise<T> {
    const tried = new Set<Token>();
    const errors: string[] = [];
    const skips: TryNextToken[] = [];
    for (;;) {
      const candidates = this.tokens.filter((t) => t.state === 'up' && !tried.has(t) && !skip(t));
      if (!candidates.length) break;
      const t = candidates[this.rr++ % candidates.length]!;
      if (this.rr > 1e9) this.rr = 0;
      tried.add(t);
      try {
        return await t.withSession((s, gen) => fn(t, s, gen));
      } catch (e) {
        if (e instanceof TryNextToken) { errors.push(`${t.name}: ${e.message}`); skips.push(e); continue; }
        if (isTokenFailure(e)) { errors.push(`${t.name}: ${describeError(e)}`); continue; }
        throw e;
      }
    }
    for (const t of this.tokens) if (!tried.has(t) && t.state !== 'up') errors.push(`${t.name}: out of the pool (${t.lastError})`);
    // Every token answered, and the answer is about the key (e.g. not extractable): that is the error, not the tokens.
    const refusal = skips.find((e) => !(e instanceof KeyAbsent));
    if (refusal && skips.length === errors.length) throw new Error(refusal.message);
    throw new TokenUnavailable(`cannot ${what}: ${errors.join('; ') || 'no token configured'}`);
  }

  /** Active check of every token that is up (still listed, still answering); kicks recovery of those due. */
  checkTokens(): void {
    let slots: bigint[] | null = null;
    try { slots = this.o.module.p.C_GetSlotList(true).map(slotNumber); } catch { /* some modules fail the whole list while one token is broken */ }
    for (const t of this.tokens) t.checkPresent(slots);
    for (const t of this.tokens) if (t.state === 'down' && !t.permanent && Date.now() >= t.retryAt) void this.recover(t);
  }

  /** Waits for recoveries in progress (tests, shutdown). */
  async settle(): Promise<void> {
    await Promise.all([...this.recovering.values()]);
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const t of this.tokens) t.close();
  }
}
