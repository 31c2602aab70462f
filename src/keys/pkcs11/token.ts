/**
 * One token of the pool: finds its slot by URI, opens `sessionsPerToken`
 * sessions and logs in, runs operations on a free session, caches private key
 * handles, and marks itself down on a token failure (the pool retries it).
 */
import pkcs11js from 'pkcs11js';
import { describeError, isPinFailure, isTokenFailure, StaleSession, TokenUnavailable } from './errors.js';
import { slotNumber, type Pkcs11Module } from './pkcs11-module.js';
import { matchesToken, type Pkcs11Uri, type TokenView } from './pkcs11-uri.js';
import { SessionPool } from './session-pool.js';

type Handle = pkcs11js.Handle;

export interface TokenOptions {
  pin: string;
  sessions: number;
  /** Called once each time the token goes from up to down. */
  onDown: (t: Token, error: unknown) => void;
}

const keyOf = (id: Uint8Array | undefined, label: string | undefined): string =>
  `id=${id ? Buffer.from(id).toString('hex') : '*'} label=${label ?? '*'}`;

export class Token {
  state: 'up' | 'down' = 'down';
  lastError = 'not opened yet';
  downSince = Date.now();
  retryAt = 0;
  /** The login was refused (wrong or locked PIN): not retried automatically, or the PIN would lock. */
  permanent = false;
  /** Incremented by every successful open: failures of operations from an earlier opening are ignored. */
  epoch = 0;
  view?: TokenView;
  mechanisms: number[] = [];
  signatures = 0;
  failures = 0;
  reinitAttempts = 0;
  private slot?: Handle;
  private pool?: SessionPool;
  private generation = -1;
  private readonly keys = new Map<string, Handle | null>();

  constructor(readonly uri: Pkcs11Uri, readonly name: string, private readonly module: Pkcs11Module, private readonly o: TokenOptions) {}

  private get p(): pkcs11js.PKCS11 { return this.module.p; }

  get peakSessionsBusy(): number { return this.pool?.peakBusy ?? 0; }
  get sessionCount(): number { return this.pool?.size ?? 0; }

  /** What the module reports about `slot`. */
  viewOf(slot: Handle, lib: pkcs11js.ModuleInfo): TokenView {
    const si = this.p.C_GetSlotInfo(slot);
    const ti = this.p.C_GetTokenInfo(slot);
    return {
      slotId: slotNumber(slot), slotDescription: si.slotDescription, slotManufacturer: si.manufacturerID,
      label: ti.label, manufacturer: ti.manufacturerID, model: ti.model, serial: ti.serialNumber,
      libraryManufacturer: lib.manufacturerID, libraryDescription: lib.libraryDescription, libraryVersion: lib.libraryVersion,
    };
  }

  private findSlot(): { slot: Handle; view: TokenView } {
    const lib = this.module.info();
    const matches: Array<{ slot: Handle; view: TokenView }> = [];
    const others: string[] = [];
    for (const slot of this.p.C_GetSlotList(true)) {
      let view: TokenView;
      try {
        view = this.viewOf(slot, lib);
      } catch (e) {
        others.push(`slot ${slotNumber(slot)} (${describeError(e)})`);
        continue;
      }
      if (matchesToken(this.uri, view)) matches.push({ slot, view });
      else others.push(`"${view.label.trim()}" (serial ${view.serial.trim() || 'none'}, slot ${view.slotId})`);
    }
    if (matches.length === 0) throw new TokenUnavailable(`no token matches; tokens present: ${others.join(', ') || 'none'}`);
    if (matches.length > 1) {
      throw new TokenUnavailable(`the URI matches ${matches.length} tokens (${matches.map((m) => `serial ${m.view.serial.trim()}`).join(', ')}): add serial= to name one`, true);
    }
    return matches[0]!;
  }

  /** Finds the slot, opens the sessions and logs in. Synchronous: call after module.ready(). */
  open(): void {
    this.closeSessions(new TokenUnavailable(`${this.name} is being reopened`));
    const { slot, view } = this.findSlot();
    const info = this.p.C_GetTokenInfo(slot);
    if (!(info.flags & pkcs11js.CKF_TOKEN_INITIALIZED)) throw new TokenUnavailable('the token is not initialized');
    if (info.flags & pkcs11js.CKF_USER_PIN_LOCKED) throw new TokenUnavailable('the user PIN is locked (CKF_USER_PIN_LOCKED): unlock it with the SO PIN', true);
    const sessions: Handle[] = [];
    try {
      for (let i = 0; i < this.o.sessions; i++) sessions.push(this.p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION));
      try {
        this.p.C_Login(sessions[0]!, pkcs11js.CKU_USER, this.o.pin);
      } catch (e) {
        if (e instanceof pkcs11js.Pkcs11Error && e.code === pkcs11js.CKR_USER_ALREADY_LOGGED_IN) { /* another session of this process logged in */ }
        else if (isPinFailure(e)) throw new TokenUnavailable(`login refused (${describeError(e)}): fix the PIN and restart; not retried automatically, so that the PIN does not lock`, true);
        else throw e;
      }
      this.mechanisms = this.p.C_GetMechanismList(slot);
    } catch (e) {
      for (const s of sessions) try { this.p.C_CloseSession(s); } catch { /* gone */ }
      throw e;
    }
    const generation = this.module.generation;
    this.slot = slot;
    this.view = view;
    this.generation = generation;
    this.keys.clear();
    // A session handle of an older module generation may now name someone else's session: never close it.
    this.pool = new SessionPool(sessions, (s) => {
      if (this.module.generation === generation) try { this.p.C_CloseSession(s); } catch { /* gone */ }
    });
    this.epoch++;
    this.state = 'up';
    this.permanent = false;
  }

  private closeSessions(reason: Error): void {
    this.pool?.close(reason);
    this.pool = undefined;
    this.keys.clear();
  }

  /** Out of the pool (idempotent). Failures of operations started before the current opening are ignored. */
  markDown(e: unknown, epoch = this.epoch): void {
    if (this.state === 'down' || epoch !== this.epoch) return;
    this.state = 'down';
    this.failures++;
    this.lastError = describeError(e);
    this.permanent = e instanceof TokenUnavailable && e.permanent;
    this.downSince = Date.now();
    this.closeSessions(new TokenUnavailable(`${this.name} was taken out of the pool: ${this.lastError}`));
    this.o.onDown(this, e);
  }

  close(): void {
    this.state = 'down';
    this.lastError = 'closed';
    this.closeSessions(new TokenUnavailable(`${this.name} was closed`));
  }

  /** Runs `fn` on a free session (queueing when all are busy). A token failure takes the token down and is rethrown. */
  async withSession<T>(fn: (session: Handle, generation: number) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      await this.module.ready();
      if (this.state !== 'up' || !this.pool) throw new TokenUnavailable(`${this.name} is out of the pool (${this.lastError})`);
      const epoch = this.epoch;
      try {
        if (this.generation !== this.module.generation) this.open();
        const generation = this.generation;
        return await this.pool.use((s) => fn(s, generation));
      } catch (e) {
        if (e instanceof StaleSession && attempt < 2) continue;
        // Queued on sessions that were replaced meanwhile (reopened after a module re-initialization): use the new ones.
        if (e instanceof TokenUnavailable && this.epoch !== epoch && this.state === 'up' && attempt < 2) continue;
        if (isTokenFailure(e)) this.markDown(e, epoch);
        throw e;
      }
    }
  }

  /** The token still answers and is still in the module's slot list (null: the list could not be read). */
  checkPresent(slotList: bigint[] | null): void {
    const epoch = this.epoch;
    try {
      if (this.state !== 'up' || !this.slot) return;
      if (this.generation !== this.module.generation) this.open();
      if (slotList && !slotList.includes(slotNumber(this.slot))) throw new TokenUnavailable('the token is no longer in the slot list');
      this.p.C_GetTokenInfo(this.slot);
    } catch (e) {
      this.markDown(e, epoch);
    }
  }

  /** The handle of the private key with `id` and/or `label`, null when this token has none. Cached until reopened. */
  findPrivateKey(session: Handle, id: Uint8Array | undefined, label?: string): Handle | null {
    const k = keyOf(id, label);
    const cached = this.keys.get(k);
    if (cached !== undefined) return cached;
    const found = this.find(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      ...(id !== undefined ? [{ type: pkcs11js.CKA_ID, value: Buffer.from(id) }] : []),
      ...(label !== undefined ? [{ type: pkcs11js.CKA_LABEL, value: label }] : []),
    ], 2);
    if (found.length > 1) throw new Error(`${this.name} holds more than one private key matching ${k}`);
    this.keys.set(k, found[0] ?? null);
    return found[0] ?? null;
  }

  /** Drops cached key handles (after a key was added to or removed from the token). */
  forgetKeys(): void { this.keys.clear(); }

  /** True when this token is known (from the cache) not to hold the key. */
  knownToLack(id: Uint8Array | undefined, label?: string): boolean {
    return this.keys.get(keyOf(id, label)) === null;
  }

  find(session: Handle, template: pkcs11js.Template, max: number): Handle[] {
    this.p.C_FindObjectsInit(session, template);
    try {
      return this.p.C_FindObjects(session, max);
    } finally {
      this.p.C_FindObjectsFinal(session);
    }
  }
}
