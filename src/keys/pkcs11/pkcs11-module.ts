/**
 * One loaded and initialized PKCS#11 module per library path and process,
 * shared by every backend instance (Cryptoki may be initialized only once per
 * process: a second C_Initialize answers CKR_CRYPTOKI_ALREADY_INITIALIZED).
 *
 * Initialized with CKF_OS_LOCKING_OK, so the module may be called from the
 * libuv worker threads pkcs11js runs its async calls on.
 *
 * Some modules only discover tokens in C_Initialize (SoftHSM2 reads its token
 * directory there and never again: a token that went away and came back stays
 * broken in this process). `reinitialize()` is the recovery for that: it waits
 * until no async call is in flight, then C_Finalize + C_Initialize, and bumps
 * `generation`, which tells every holder of a session that its sessions are gone.
 */
import { realpathSync } from 'node:fs';
import pkcs11js from 'pkcs11js';
import { ckrCode, StaleSession } from './errors.js';
import { SignThreads } from './sign-threads.js';

const loaded = new Map<string, Pkcs11Module>();

export class Pkcs11Module {
  readonly p: pkcs11js.PKCS11;
  /** Incremented by every re-initialization: sessions and object handles of an older generation are void. */
  generation = 0;
  /** False when someone else in this process had initialized the library: we then never finalize it. */
  readonly ownsInit: boolean;
  lastReinitAt = 0;
  private refs = 0;
  private inflight = 0;
  private drained: (() => void) | null = null;
  private resetting: Promise<void> | null = null;
  private signThreads?: SignThreads;

  private constructor(readonly path: string) {
    this.p = new pkcs11js.PKCS11();
    try {
      this.p.load(path);
    } catch (e) {
      throw new Error(`cannot load the PKCS#11 module ${path}: ${(e as Error).message}`);
    }
    this.ownsInit = this.initialize();
  }

  /** The shared module for `path`; release() it when done. */
  static acquire(path: string): Pkcs11Module {
    let key = path;
    try { key = realpathSync(path); } catch { /* load() reports the missing file */ }
    let m = loaded.get(key);
    if (!m) {
      m = new Pkcs11Module(path);
      loaded.set(key, m);
    }
    m.refs++;
    return m;
  }

  /** Worker threads that run C_SignInit + C_Sign (sign-threads.ts). */
  get threads(): SignThreads {
    this.signThreads ??= new SignThreads(this.path);
    return this.signThreads;
  }

  /**
   * Drops a reference; the last one stops the signing threads, then
   * finalizes and unloads (nothing may be in flight). The threads are
   * stopped first and waited for: finalizing while one was still loading the
   * module made the process crash (SIGSEGV) as it exited.
   */
  async release(): Promise<void> {
    if (--this.refs > 0) return;
    for (const [k, v] of loaded) if (v === this) loaded.delete(k);
    await this.signThreads?.close();
    try { if (this.ownsInit) this.p.C_Finalize(); } catch { /* already finalized */ }
    try { this.p.close(); } catch { /* unloaded */ }
  }

  private initialize(): boolean {
    try {
      this.p.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
      return true;
    } catch (e) {
      if (ckrCode(e) === pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) return false;
      throw new Error(`C_Initialize of the PKCS#11 module ${this.path} failed: ${(e as Error).message}`);
    }
  }

  /** Resolves when no re-initialization is running; synchronous calls made right after cannot overlap one. */
  async ready(): Promise<void> {
    while (this.resetting) await this.resetting;
  }

  /**
   * Runs an asynchronous module call (one that executes on a worker thread)
   * for a session opened in `generation`; re-initialization waits for it.
   */
  async call<T>(generation: number, fn: () => Promise<T>): Promise<T> {
    while (this.resetting) await this.resetting;
    if (generation !== this.generation) throw new StaleSession();
    this.inflight++;
    try {
      return await fn();
    } finally {
      if (--this.inflight === 0 && this.drained) this.drained();
    }
  }

  /** Synchronous calls on a session are only safe while the generation it was opened in is current. */
  assertCurrent(generation: number): void {
    if (generation !== this.generation) throw new StaleSession();
  }

  /** C_Finalize + C_Initialize once no async call is in flight. Concurrent callers share one run. */
  reinitialize(): Promise<void> {
    if (!this.ownsInit) return Promise.reject(new Error(`the PKCS#11 module ${this.path} was initialized by other code in this process; Rampart cannot re-initialize it`));
    this.resetting ??= (async () => {
      if (this.inflight > 0) await new Promise<void>((r) => { this.drained = r; });
      this.drained = null;
      try { this.p.C_Finalize(); } catch { /* not initialized */ }
      this.generation++;
      this.lastReinitAt = Date.now();
      this.initialize();
    })().finally(() => { this.resetting = null; });
    return this.resetting;
  }

  info(): pkcs11js.ModuleInfo {
    return this.p.C_GetInfo();
  }
}

/** A slot handle as a number (CK_SLOT_ID is a CK_ULONG, little-endian in pkcs11js' buffer). */
export function slotNumber(slot: Buffer): bigint {
  return slot.length >= 8 ? slot.readBigUInt64LE(0) : BigInt(slot.readUInt32LE(0));
}
