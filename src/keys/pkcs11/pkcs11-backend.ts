/**
 * PKCS#11 KeyBackend: CA keys are generated in and never leave an HSM token
 * (unless generated extractable, for wrapped backups). Several tokens holding
 * the same keys form a pool: used in turn, a failing token taken out and
 * retried (token-pool.ts).
 *
 * Key references are `pkcs11:type=private;id=<CKA_ID>` where CKA_ID is the
 * SHA-1 of the public key (the SubjectKeyIdentifier of the key's certificate):
 * the same key gets the same reference in every token, whether it was
 * generated there, replicated there or restored there from a backup.
 *
 * In a pool, a key is generated in the first token that is up. When keys are
 * extractable (keys.pkcs11.extractable), the backend copies it into the other
 * tokens at once (RFC 5649 wrap under a one-time AES-256 key), and later into
 * a token that comes back or joins without it. Non-extractable keys cannot be
 * copied by Rampart: the operator loads them into the other tokens with
 * `rampart key restore` (KeyWrapper.importWrapped) or the HSM vendor's own
 * cloning; until then a key is used only in the tokens that hold it, and
 * health reports the reduced redundancy.
 *
 * Key types: ECDSA P-256 / P-384 and RSA (X.509 CAs), Ed25519 (SSH CAs,
 * CKK_EC_EDWARDS, CKM_EDDSA; mechanisms.ts). A token that cannot wrap an
 * Ed25519 key (SoftHSM2 2.6) cannot copy it to the pool's other tokens nor
 * back it up: such a key reaches every token through `rampart key restore`
 * from a backup made where it was created (key-transfer.ts), or through the
 * SSH CA creation ceremony (src/ca/ssh/ssh-ca-ceremony.ts, KeyPlacement).
 */
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { resolve } from 'node:path';
import pkcs11js from 'pkcs11js';
import { signHash, signingKey, type KeyAlgorithm, type KeyBackend, type KeyBackendHealth, type KeyPlacement, type KeyWrapper, type Signer } from '../key-backend.js';
import { describeError, isTokenFailure, KeyAbsent, TokenUnavailable } from './errors.js';
import { publicKeyOf, readPublicKey } from './key-objects.js';
import { unwrapKeyInto, wrapKeyIn, wrapRefusal, type TransferContext } from './key-transfer.js';
import { keyPairGeneration, signPlan } from './mechanisms.js';
import { Pkcs11Module } from './pkcs11-module.js';
import { formatPkcs11Uri, matchesToken, parsePkcs11Uri, redactPkcs11Uri, tokenName, type Pkcs11Uri } from './pkcs11-uri.js';
import { keyIdFor, partsFromSpki } from './public-key.js';
import type { Token } from './token.js';
import { TokenPool, type PoolLogger } from './token-pool.js';
import { inspectWrapped } from './wrapped-key.js';

type Handle = pkcs11js.Handle;

export interface Pkcs11BackendOptions {
  /** Path of the PKCS#11 module (vendor library). */
  module: string;
  /** RFC 7512 token URIs with the user PIN of each. */
  tokens: Array<{ uri: string; pin: string }>;
  sessionsPerToken: number;
  /** Generate keys extractable (so that they can be wrapped for backup and copied between tokens). */
  extractable: boolean;
  retrySeconds: number;
  log?: PoolLogger;
}

export class Pkcs11Signer implements Signer {
  constructor(
    readonly keyRef: string,
    readonly algorithm: KeyAlgorithm,
    readonly spki: Uint8Array,
    readonly id: Uint8Array,
    readonly ref: Pkcs11Uri,
    private readonly backend: Pkcs11KeyBackend,
  ) {}

  sign(data: Uint8Array): Promise<Uint8Array> {
    return this.backend.signWith(this, data);
  }
}

export interface TokenStats {
  name: string;
  state: 'up' | 'down';
  slotId: string | null;
  sessions: number;
  peakSessionsBusy: number;
  signatures: number;
  failures: number;
  lastError: string | null;
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

export function keyRefFor(id: Uint8Array): string {
  return formatPkcs11Uri({ type: 'private', id });
}

export class Pkcs11KeyBackend implements KeyBackend, KeyWrapper, KeyPlacement {
  readonly type = 'pkcs11';
  readonly pool: TokenPool;
  private readonly signers = new Map<string, Pkcs11Signer>();
  private readonly transfer: TransferContext;
  /** Per token and algorithm: why the token does not wrap such keys ('' when it does). */
  private readonly wrapChecks = new Map<string, string>();
  private closed = false;

  private constructor(private readonly o: Pkcs11BackendOptions, private readonly module: Pkcs11Module, tokens: Array<{ uri: Pkcs11Uri; name: string; pin: string }>) {
    this.pool = new TokenPool({
      module, tokens, sessionsPerToken: o.sessionsPerToken, retrySeconds: o.retrySeconds, log: o.log,
      onRecovered: (t) => this.afterRecovery(t),
    });
    this.transfer = { module, extractable: o.extractable, signRaw: (s, gen, key, alg, input) => this.signRaw(s, gen, key, alg, input) };
  }

  /** Loads (or shares) the module and opens the tokens; throws when none can be used. */
  static async open(o: Pkcs11BackendOptions): Promise<Pkcs11KeyBackend> {
    if (o.tokens.length === 0) throw new Error('keys.pkcs11.tokens is empty: name at least one token, e.g. "pkcs11:token=rampart"');
    const tokens = o.tokens.map(({ uri, pin }) => {
      const parsed = parsePkcs11Uri(uri);
      const shown = redactPkcs11Uri(uri);
      if (parsed.object !== undefined || parsed.id !== undefined || parsed.type !== undefined) {
        throw new Error(`${shown}: a token URI names a token; drop object=, id= and type=`);
      }
      if (parsed.modulePath !== undefined && resolve(parsed.modulePath) !== resolve(o.module)) {
        throw new Error(`${shown}: module-path ${parsed.modulePath} differs from keys.pkcs11.module ${o.module}; one backend uses one module`);
      }
      return { uri: parsed, name: tokenName(parsed, shown), pin };
    });
    const module = Pkcs11Module.acquire(o.module);
    const backend = new Pkcs11KeyBackend(o, module, tokens);
    try {
      await backend.pool.start();
      const up = backend.pool.up();
      if (up.length === 0) {
        throw new Error(`no PKCS#11 token could be opened (module ${o.module}): ${backend.pool.tokens.map((t) => `${t.name}: ${t.lastError}`).join('; ')}`);
      }
      for (const [i, a] of up.entries()) {
        const b = up.slice(i + 1).find((x) => x.view!.slotId === a.view!.slotId);
        if (b) throw new Error(`${a.name} and ${b.name} are the same token (slot ${a.view!.slotId}): each pool entry must name a different token`);
      }
      backend.module.threads.prestart(Math.min(16, o.sessionsPerToken * up.length));
    } catch (e) {
      await backend.close();
      throw e;
    }
    return backend;
  }

  private get p(): pkcs11js.PKCS11 { return this.module.p; }

  private parseKeyRef(keyRef: string): Pkcs11Uri {
    let ref: Pkcs11Uri;
    try {
      ref = parsePkcs11Uri(keyRef);
    } catch (e) {
      throw new Error(`key ${keyRef} is not a PKCS#11 key reference (keys.backend is pkcs11; was it made by another backend?): ${(e as Error).message}`);
    }
    if (ref.id === undefined && ref.object === undefined) throw new Error(`key reference ${keyRef} names no id= or object=`);
    if (ref.type !== undefined && ref.type !== 'private') throw new Error(`key reference ${keyRef} must name a private key (type=private)`);
    return ref;
  }

  private tokenMatches(t: Token, ref: Pkcs11Uri): boolean {
    return t.view === undefined || matchesToken(ref, t.view);
  }

  // ------------------------------------------------------------ generate, open

  async generate(label: string, algorithm: KeyAlgorithm): Promise<Signer> {
    const errors: string[] = [];
    for (const t of this.pool.tokens) {
      if (t.state !== 'up') { errors.push(`${t.name}: out of the pool (${t.lastError})`); continue; }
      try {
        const signer = await t.withSession((s, gen) => this.generateIn(t, s, gen, label, algorithm));
        await this.replicate(signer);
        return signer;
      } catch (e) {
        if (!isTokenFailure(e)) throw e;
        errors.push(`${t.name}: ${describeError(e)}`);
      }
    }
    throw new TokenUnavailable(`cannot generate a ${algorithm} key: ${errors.join('; ')}`);
  }

  private async generateIn(t: Token, s: Handle, gen: number, label: string, algorithm: KeyAlgorithm): Promise<Pkcs11Signer> {
    const tmpId = randomBytes(20);
    const plan = keyPairGeneration(algorithm, { id: tmpId, label, extractable: this.o.extractable });
    const kp = await this.module.call(gen, () => this.p.C_GenerateKeyPairAsync(s, plan.mechanism, plan.publicTemplate, plan.privateTemplate));
    this.module.assertCurrent(gen);
    try {
      const pub = readPublicKey(this.p, s, kp.publicKey);
      if (pub.algorithm !== algorithm) throw new Error(`${t.name} generated a ${pub.algorithm} key when ${algorithm} was asked for`);
      let id: Uint8Array = keyIdFor(pub.spki);
      try {
        for (const h of [kp.privateKey, kp.publicKey]) this.p.C_SetAttributeValue(s, h, [{ type: pkcs11js.CKA_ID, value: Buffer.from(id) }]);
      } catch (e) {
        if (isTokenFailure(e)) throw e;
        // The token will not change CKA_ID: keep the random one (a restore elsewhere then gets another reference).
        this.o.log?.warn({ token: t.name, error: describeError(e) }, 'could not set CKA_ID to the key id; keeping a random CKA_ID');
        id = tmpId;
      }
      t.forgetKeys();
      const keyRef = keyRefFor(id);
      const signer = new Pkcs11Signer(keyRef, algorithm, pub.spki, id, this.parseKeyRef(keyRef), this);
      this.signers.set(keyRef, signer);
      return signer;
    } catch (e) {
      if (gen === this.module.generation) for (const h of [kp.privateKey, kp.publicKey]) try { this.p.C_DestroyObject(s, h); } catch { /* gone */ }
      throw e;
    }
  }

  async open(keyRef: string): Promise<Signer> {
    const cached = this.signers.get(keyRef);
    if (cached) return cached;
    const ref = this.parseKeyRef(keyRef);
    const found: Array<{ t: Token; algorithm: KeyAlgorithm; spki: Uint8Array; id: Uint8Array }> = [];
    const errors: string[] = [];
    for (const t of this.pool.up().filter((x) => this.tokenMatches(x, ref))) {
      try {
        const r = await t.withSession(async (s, gen) => {
          this.module.assertCurrent(gen);
          const h = t.findPrivateKey(s, ref.id, ref.object);
          if (!h) return null;
          const [idAttr] = this.p.C_GetAttributeValue(s, h, [{ type: pkcs11js.CKA_ID }]);
          return { ...publicKeyOf(this.p, t, s, h, idAttr!.value), id: new Uint8Array(idAttr!.value) };
        });
        if (r) found.push({ t, ...r });
      } catch (e) {
        if (!isTokenFailure(e)) throw e;
        errors.push(`${t.name}: ${describeError(e)}`);
      }
    }
    const first = found[0];
    if (!first) {
      const down = this.pool.tokens.filter((t) => t.state !== 'up').map((t) => `${t.name}: out of the pool (${t.lastError})`);
      if (!down.length && !errors.length) throw new Error(`key not found: ${keyRef} (looked in ${this.pool.tokens.map((t) => t.name).join(', ')})`);
      throw new TokenUnavailable(`key ${keyRef} is not available: not in any token that is up; ${[...errors, ...down].join('; ')}`);
    }
    const other = found.find((f) => !same(f.spki, first.spki));
    if (other) throw new Error(`${first.t.name} and ${other.t.name} hold different keys under ${keyRef}`);
    const signer = new Pkcs11Signer(keyRef, first.algorithm, first.spki, first.id, ref, this);
    this.signers.set(keyRef, signer);
    await this.replicate(signer);
    return signer;
  }

  async has(keyRef: string): Promise<boolean> {
    try {
      await this.open(keyRef);
      return true;
    } catch {
      return false;
    }
  }

  // ------------------------------------------------------------ sign

  /** C_SignInit + C_Sign with `key` on session `s` (held by the caller), in a signing thread. */
  private async signRaw(s: Handle, gen: number, key: Handle, algorithm: KeyAlgorithm, input: Buffer): Promise<Uint8Array> {
    const plan = signPlan(algorithm);
    return plan.output(await this.module.call(gen, () => this.module.threads.sign(s, key, plan.mechanism, input, plan.maxBytes)));
  }

  private async signOn(t: Token, signer: Pkcs11Signer, s: Handle, gen: number, input: Buffer): Promise<Uint8Array> {
    this.module.assertCurrent(gen);
    const h = t.findPrivateKey(s, signer.id, signer.ref.object);
    if (!h) throw new KeyAbsent(t.name);
    const sig = await this.signRaw(s, gen, h, signer.algorithm, input);
    t.signatures++;
    return sig;
  }

  /** Signs on the next token (round robin) that holds the key; a failing token is taken out and the next one tried. */
  async signWith(signer: Pkcs11Signer, data: Uint8Array): Promise<Uint8Array> {
    if (this.closed) throw new Error('the PKCS#11 key backend is closed');
    const input = signPlan(signer.algorithm).input(data);
    return this.pool.run(`sign with ${signer.keyRef}`,
      (t) => t.knownToLack(signer.id, signer.ref.object) || !this.tokenMatches(t, signer.ref),
      (t, s, gen) => this.signOn(t, signer, s, gen, input));
  }

  // ------------------------------------------------------------ health

  async health(): Promise<KeyBackendHealth> {
    if (this.closed) return { ok: false, detail: 'closed' };
    this.pool.checkTokens();
    const keys = [...this.signers.values()];
    const probe = Buffer.from('rampart key backend health probe');
    // A test signature with every loaded key in every token that is up: finds failures before a request does.
    await Promise.all(this.pool.up().map(async (t) => {
      for (const k of keys) {
        if (t.state !== 'up') return;
        if (!this.tokenMatches(t, k.ref)) continue;
        try {
          await t.withSession((s, gen) => this.signOn(t, k, s, gen, signPlan(k.algorithm).input(probe)));
        } catch { /* KeyAbsent is coverage (below); a token failure took the token out */ }
      }
    }));
    const up = this.pool.up();
    const down = this.pool.tokens.filter((t) => t.state !== 'up');
    const outText = (t: Token): string => {
      const retry = t.permanent ? 'not retried automatically' : `next retry in ${Math.max(0, Math.ceil((t.retryAt - Date.now()) / 1000))} s`;
      return `${t.name}: ${t.lastError} (out since ${new Date(t.downSince).toISOString()}, ${retry})`;
    };
    if (!up.length) return { ok: false, detail: `no PKCS#11 token usable: ${down.map(outText).join('; ')}` };
    const partial = keys.flatMap((k) => {
      const holders = up.filter((t) => this.tokenMatches(t, k.ref) && !t.knownToLack(k.id, k.ref.object));
      return holders.length < up.filter((t) => this.tokenMatches(t, k.ref)).length
        ? [`key ${k.keyRef} only in ${holders.map((t) => t.name).join(', ') || 'no token'}`] : [];
    });
    const inUse = `${up.length} of ${this.pool.tokens.length} token(s) in use (${up.map((t) => t.name).join(', ')})`;
    const keyText = `${keys.length} key(s) loaded`;
    if (down.length || partial.length) {
      return { ok: true, degraded: true, detail: [inUse, ...(down.length ? [`out of the pool: ${down.map(outText).join('; ')}`] : []), ...partial, keyText].join('; ') };
    }
    return { ok: true, detail: `${inUse}; ${keyText}${keys.length && this.pool.tokens.length > 1 ? ', each in every token' : ''}` };
  }

  stats(): TokenStats[] {
    return this.pool.tokens.map((t) => ({
      name: t.name, state: t.state, slotId: t.view ? t.view.slotId.toString() : null, sessions: t.sessionCount,
      peakSessionsBusy: t.peakSessionsBusy, signatures: t.signatures, failures: t.failures, lastError: t.state === 'up' ? null : t.lastError,
    }));
  }

  // ------------------------------------------------------------ wrap / unwrap

  private wrapFrom(signer: Pkcs11Signer, kek: Uint8Array): Promise<{ raw: Buffer; label: string }> {
    return this.pool.run(`wrap ${signer.keyRef}`, (t) => t.knownToLack(signer.id, signer.ref.object) || !this.tokenMatches(t, signer.ref), async (t, s, gen) => {
      this.module.assertCurrent(gen);
      const h = t.findPrivateKey(s, signer.id, signer.ref.object);
      if (!h) throw new KeyAbsent(t.name);
      return wrapKeyIn(this.transfer, t, s, gen, h, signer.keyRef, kek);
    });
  }

  async exportWrapped(keyRef: string, kek: Uint8Array): Promise<{ algorithm: KeyAlgorithm; spki: Uint8Array; wrapped: Uint8Array }> {
    if (kek.length !== 32) throw new Error(`the key-encryption key must be 32 bytes (AES-256), got ${kek.length}`);
    const signer = await this.open(keyRef) as Pkcs11Signer;
    const { raw } = await this.wrapFrom(signer, kek);
    const checked = inspectWrapped(raw, kek);
    if (!same(checked.spki, signer.spki)) throw new Error(`the token wrapped a key whose public key is not that of ${keyRef}`);
    return { algorithm: signer.algorithm, spki: signer.spki, wrapped: checked.exact };
  }

  /**
   * Unwraps into every token that is up and does not hold the key yet, as a
   * token private key (sensitive; extractable per keys.pkcs11.extractable)
   * plus its public key object. `spki` (as exportWrapped returns it) names the
   * public key; without it the wrapped PKCS#8 is unwrapped in node:crypto to
   * learn it (tokens such as SoftHSM2 do not reveal an EC private key's public
   * point). Either way, a test signature in each token must verify under it.
   */
  async importWrapped(label: string, algorithm: KeyAlgorithm, wrapped: Uint8Array, kek: Uint8Array, spki?: Uint8Array): Promise<Signer> {
    if (kek.length !== 32) throw new Error(`the key-encryption key must be 32 bytes (AES-256), got ${kek.length}`);
    let pub: Uint8Array;
    if (spki) {
      const parts = partsFromSpki(spki);
      if (parts.algorithm !== algorithm) throw new Error(`the public key is ${parts.algorithm}, not ${algorithm}`);
      pub = spki;
    } else {
      const inspected = inspectWrapped(wrapped, kek);
      if (inspected.algorithm !== algorithm) throw new Error(`the wrapped key is ${inspected.algorithm}, not ${algorithm}`);
      pub = inspected.spki;
    }
    const id = keyIdFor(pub);
    const keyRef = keyRefFor(id);
    const errors: string[] = [];
    for (const t of this.pool.up()) {
      try {
        await this.importInto(t, label, algorithm, wrapped, kek, pub, id);
      } catch (e) {
        if (!isTokenFailure(e)) throw e;
        errors.push(`${t.name}: ${describeError(e)}`);
      }
    }
    this.signers.delete(keyRef);
    try {
      return await this.open(keyRef);
    } catch (e) {
      throw new Error(`importing the key failed: ${errors.join('; ') || (e as Error).message}`);
    }
  }

  /** Unwraps into token `t` unless it already holds the key; false when it did. */
  private importInto(t: Token, label: string, algorithm: KeyAlgorithm, wrapped: Uint8Array, kek: Uint8Array, spki: Uint8Array, id: Uint8Array): Promise<boolean> {
    return t.withSession((s, gen) => unwrapKeyInto(this.transfer, t, s, gen, { label, algorithm, wrapped, kek, spki, id }));
  }

  /** Copies an extractable key into every token that is up and lacks it (no-op for non-extractable keys). */
  private async replicate(signer: Pkcs11Signer): Promise<void> {
    const lacking: Token[] = [];
    for (const t of this.pool.up().filter((x) => this.tokenMatches(x, signer.ref))) {
      try {
        const has = await t.withSession(async (s, gen) => { this.module.assertCurrent(gen); return t.findPrivateKey(s, signer.id, signer.ref.object) !== null; });
        if (!has) lacking.push(t);
      } catch (e) {
        if (!isTokenFailure(e)) throw e;
      }
    }
    if (!lacking.length) return;
    const kek = randomBytes(32);
    try {
      let wrapped: { raw: Buffer; label: string };
      try {
        wrapped = await this.wrapFrom(signer, kek);
      } catch (e) {
        this.o.log?.warn({ key: signer.keyRef, missingIn: lacking.map((t) => t.name), error: describeError(e) },
          'key is not in every token of the pool and cannot be copied by Rampart (load it with `rampart key restore`)');
        return;
      }
      for (const t of lacking) {
        try {
          await this.importInto(t, wrapped.label, signer.algorithm, wrapped.raw, kek, signer.spki, signer.id);
          this.o.log?.info({ key: signer.keyRef, token: t.name }, 'key copied into pool token');
        } catch (e) {
          this.o.log?.warn({ key: signer.keyRef, token: t.name, error: describeError(e) }, 'copying a key into a pool token failed');
        }
      }
    } finally {
      kek.fill(0);
    }
  }

  // ------------------------------------------------------------ placement (KeyPlacement)

  places(): Array<{ name: string; up: boolean }> {
    return this.pool.tokens.map((t) => ({ name: t.name, up: t.state === 'up' }));
  }

  keyRefForSpki(spki: Uint8Array): string {
    return keyRefFor(keyIdFor(spki));
  }

  /**
   * Why a key of `algorithm` generated in a token would stay there: the key
   * is made non-extractable (keys.pkcs11.extractable off), or a token of the
   * pool does not wrap such keys (probed once per token with a throwaway
   * session key). Null when generated keys reach every token and backups.
   */
  async copyLimit(algorithm: KeyAlgorithm): Promise<string | null> {
    if (!this.o.extractable) return 'keys.pkcs11.extractable is off: keys generated in a token never leave it';
    const reasons: string[] = [];
    for (const t of this.pool.up()) {
      const k = `${t.name}\0${algorithm}`;
      let why = this.wrapChecks.get(k);
      if (why === undefined) {
        why = (await t.withSession((s, gen) => wrapRefusal(this.transfer, t, s, gen, algorithm))) ?? '';
        this.wrapChecks.set(k, why);
      }
      if (why) reasons.push(why);
    }
    return reasons.length ? reasons.join('; ') : null;
  }

  /** A test signature by `keyRef` from every token that is up, each checked against the key's public key here. */
  async signInEveryPlace(keyRef: string, data: Uint8Array): Promise<Array<{ place: string; signature: Uint8Array }>> {
    const signer = await this.open(keyRef) as Pkcs11Signer;
    const input = signPlan(signer.algorithm).input(data);
    const pub = createPublicKey({ key: Buffer.from(signer.spki), format: 'der', type: 'spki' });
    const out: Array<{ place: string; signature: Uint8Array }> = [];
    for (const t of this.pool.up().filter((x) => this.tokenMatches(x, signer.ref))) {
      const signature = await t.withSession((s, gen) => this.signOn(t, signer, s, gen, input));
      if (!verify(signHash(signer.algorithm), Buffer.from(data), signingKey(signer.algorithm, pub), signature)) {
        throw new Error(`the test signature of ${keyRef} from ${t.name} does not verify`);
      }
      out.push({ place: t.name, signature });
    }
    return out;
  }

  private async afterRecovery(t: Token): Promise<void> {
    for (const k of this.signers.values()) if (this.tokenMatches(t, k.ref)) await this.replicate(k);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pool.close();
    this.signers.clear();
    await this.module.release();
  }
}
