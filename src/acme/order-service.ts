/**
 * Orders, authorizations and challenges (RFC 8555 §7.4–7.5): any node can
 * serve any step, because every state change is a compare-and-set in the
 * shared database. Validation and finalization run on the node that got the
 * request; if that node dies half-way, another node's sweeper finishes the
 * work (see `sweep`).
 */
import { createPublicKey } from 'node:crypto';
import type { JWK } from 'jose';
import { isRampartError, type RampartError } from '../core/errors.js';
import { checkIdentifier, canonicalIp } from '../ra/policy.js';
import type { ParsedCsr } from '../pki/csr.js';
import { acmeActor, newId, newToken, type AcmeDeps, type AcmeRequest } from './context.js';
import { authzTarget, parseOrderIdentifiers } from './identifiers.js';
import { AcmeError, isAcmeError, ACME_URN } from './problems.js';
import { registeredDomain, type LimitName } from './rate-limits.js';
import { parseCertId } from './ari.js';
import type { AcmeAccount, AcmeAuthorization, AcmeChallenge, AcmeIdentifier, AcmeOrder, ChallengeType } from '../storage/acme-records.js';

const HOUR = 3_600_000;
/** How long a challenge POST waits for its validation before answering "processing". */
const SYNC_WAIT_MS = 3_000;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** For writes that a later durable write flushes, or that are derived and recomputed (see AcmeStore). */
const RELAXED = { durable: false } as const;

const FINAL_AUTHZ = new Set(['invalid', 'deactivated', 'expired', 'revoked']);

export class OrderService {
  /** Validations running on this node, by authorization id. */
  private readonly running = new Map<string, Promise<void>>();

  constructor(private readonly d: AcmeDeps) {}

  // ------------------------------------------------------------ orders

  async newOrder(account: AcmeAccount, payload: unknown, req: AcmeRequest): Promise<AcmeOrder> {
    if (!isObject(payload)) throw new AcmeError('malformed', 'the newOrder payload must be a JSON object');
    const identifiers = parseOrderIdentifiers(payload.identifiers, this.d.settings.maxIdentifiersPerOrder);
    if (payload.notBefore !== undefined || payload.notAfter !== undefined) {
      throw new AcmeError('malformed', 'notBefore and notAfter are not supported: the certificate profile sets the validity');
    }
    const problems: Array<{ type: 'rejectedIdentifier'; detail: string; identifier: AcmeIdentifier }> = [];
    for (const id of identifiers) {
      try {
        checkIdentifier(this.d.settings.profile, this.d.profile, id);
      } catch (e) {
        if (isRampartError(e) && e.code === 'policyViolation') problems.push({ type: 'rejectedIdentifier', detail: e.message, identifier: id });
        else throw e;
      }
    }
    if (problems.length) {
      throw new AcmeError('rejectedIdentifier', problems.length === 1 ? problems[0]!.detail : `${problems.length} identifiers are refused by policy`, { subproblems: problems });
    }
    let replaces: string | null = null;
    if (payload.replaces !== undefined) {
      if (typeof payload.replaces !== 'string') throw new AcmeError('malformed', 'replaces must be an ARI certificate identifier string');
      const certId = parseCertId(payload.replaces);
      const cert = await this.d.store.getCertificate(certId.serialHex);
      if (!cert || cert.requester !== `acme:${account.id}`) throw new AcmeError('malformed', 'replaces names no certificate of this account');
      if (await this.d.store.findAcmeOrderReplacing(account.id, payload.replaces)) {
        throw new AcmeError('alreadyReplaced', 'another order of this account already replaces this certificate');
      }
      replaces = payload.replaces;
    }
    this.requireWritable();
    await this.d.limits.check('newOrdersPerAccount', account.id, 'new orders for this account');
    for (const dom of new Set(identifiers.map((i) => registeredDomain(i.value)))) {
      await this.d.limits.check('certificatesPerRegisteredDomain', dom, `certificates for ${dom}`);
    }
    const now = this.d.clock.now();
    const expires = new Date(now.getTime() + this.d.settings.orderLifetimeHours * HOUR);
    const authzIds: string[] = [];
    const fresh: AcmeAuthorization[] = [];
    const reuseAfter = new Date(now.getTime() + HOUR);
    for (const id of identifiers) {
      const { identifier, wildcard } = authzTarget(id);
      if (this.d.settings.authorizationReuseHours > 0) {
        const reused = await this.d.store.findValidAcmeAuthorization(account.id, identifier, wildcard, reuseAfter);
        if (reused && now.getTime() - reused.createdAt.getTime() < this.d.settings.authorizationReuseHours * HOUR) {
          authzIds.push(reused.id);
          continue;
        }
      }
      const types: ChallengeType[] = wildcard ? ['dns-01'] : identifier.type === 'ip' ? ['http-01', 'tls-alpn-01'] : ['http-01', 'dns-01', 'tls-alpn-01'];
      const a: AcmeAuthorization = {
        id: newId(), accountId: account.id, identifier, wildcard, status: 'pending', expires,
        challenges: types.map((type) => ({ id: newId().slice(0, 12), type, token: newToken(), status: 'pending', validated: null, error: null })),
        processingSince: null, createdAt: now, version: 1,
      };
      fresh.push(a);
      authzIds.push(a.id);
    }
    const order: AcmeOrder = {
      id: newId(), accountId: account.id, status: fresh.length ? 'pending' : 'ready', expires, identifiers, authorizationIds: authzIds,
      notBefore: null, notAfter: null, error: null, certificateSerial: null, replaces, csrDer: null, processingSince: null, createdAt: now, version: 1,
    };
    await this.d.store.insertAcmeOrder(order, fresh);
    await this.d.limits.record([['newOrdersPerAccount', account.id]]);
    return order;
  }

  /** The order with its status brought up to date from its authorizations and expiry. */
  async getOrder(account: AcmeAccount, id: string): Promise<AcmeOrder> {
    const o = await this.d.store.getAcmeOrder(id);
    if (!o || o.accountId !== account.id) throw new AcmeError('malformed', `no order ${id} for this account`, { status: 404 });
    return this.refresh(o);
  }

  private async refresh(o: AcmeOrder): Promise<AcmeOrder> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const next = await this.computeStatus(o);
      if (next.status === o.status) return o;
      // Derived state (recomputed on every read): no flush of its own.
      if (await this.d.store.updateAcmeOrder(next, o.version, RELAXED)) return { ...next, version: o.version + 1 };
      const again = await this.d.store.getAcmeOrder(o.id);
      if (!again) return o;
      o = again;
    }
    return o;
  }

  private async computeStatus(o: AcmeOrder): Promise<AcmeOrder> {
    const now = this.d.clock.now();
    if ((o.status === 'pending' || o.status === 'ready') && o.expires <= now) {
      return { ...o, status: 'invalid', error: { type: `${ACME_URN}malformed`, detail: 'the order expired before it was finalized' } };
    }
    if (o.status !== 'pending') return o;
    const authzs = (await this.d.store.getAcmeAuthorizations(o.authorizationIds)).map((a) => this.effective(a, now));
    const bad = authzs.find((a) => FINAL_AUTHZ.has(a.status));
    if (bad) {
      const failed = bad.challenges.find((c) => c.status === 'invalid');
      return {
        ...o, status: 'invalid',
        error: { type: `${ACME_URN}unauthorized`, detail: `authorization for ${bad.identifier.value} is ${bad.status}`, ...(failed?.error ? { subproblems: [{ ...failed.error, identifier: bad.identifier }] } : {}) },
      };
    }
    if (authzs.length === o.authorizationIds.length && authzs.every((a) => a.status === 'valid')) return { ...o, status: 'ready' };
    return o;
  }

  /** A pending authorization past its expiry reads as expired. */
  private effective(a: AcmeAuthorization, now: Date): AcmeAuthorization {
    if ((a.status === 'pending' || a.status === 'valid') && a.expires <= now) return { ...a, status: 'expired' };
    return a;
  }

  async listOrders(account: AcmeAccount, id: string, cursor: string | undefined): Promise<{ ids: string[]; next: string | null }> {
    if (account.id !== id) throw new AcmeError('unauthorized', 'only the account itself may list its orders');
    const page = await this.d.store.listAcmeOrders(account.id, { limit: 100, ...(cursor ? { cursor } : {}) });
    return { ids: page.items.filter((o) => o.status !== 'invalid').map((o) => o.id), next: page.nextCursor };
  }

  // ------------------------------------------------------------ authorizations

  async getAuthorization(account: AcmeAccount, id: string): Promise<AcmeAuthorization> {
    const a = await this.d.store.getAcmeAuthorization(id);
    if (!a || a.accountId !== account.id) throw new AcmeError('malformed', `no authorization ${id} for this account`, { status: 404 });
    return this.effective(a, this.d.clock.now());
  }

  async updateAuthorization(account: AcmeAccount, id: string, payload: unknown, req: AcmeRequest): Promise<AcmeAuthorization> {
    const a = await this.getAuthorization(account, id);
    if (payload === null) return a;
    if (!isObject(payload) || payload.status !== 'deactivated') throw new AcmeError('malformed', 'the only update of an authorization is {"status": "deactivated"}');
    if (a.status !== 'pending' && a.status !== 'valid') throw new AcmeError('malformed', `an authorization that is ${a.status} cannot be deactivated`);
    this.requireWritable();
    const next: AcmeAuthorization = { ...a, status: 'deactivated' };
    if (!(await this.d.store.updateAcmeAuthorization(next, a.version))) throw new AcmeError('malformed', 'the authorization changed concurrently; retry', { status: 409 });
    await this.audit(account, req.ip, 'acme.authorization.deactivate', `acme-authz:${a.id}`, 'success', { identifier: a.identifier });
    return { ...next, version: a.version + 1 };
  }

  // ------------------------------------------------------------ challenges

  async challenge(account: AcmeAccount, authzId: string, challengeId: string, payload: unknown, req: AcmeRequest): Promise<{ authz: AcmeAuthorization; challenge: AcmeChallenge }> {
    let a = await this.getAuthorization(account, authzId);
    const find = (x: AcmeAuthorization) => {
      const c = x.challenges.find((ch) => ch.id === challengeId);
      if (!c) throw new AcmeError('malformed', `no challenge ${challengeId} in authorization ${authzId}`, { status: 404 });
      return c;
    };
    let c = find(a);
    if (payload === null) return { authz: a, challenge: c };
    if (!isObject(payload)) throw new AcmeError('malformed', 'a challenge response payload must be a JSON object ({})');
    if (c.status !== 'pending' || a.status !== 'pending') {
      if (c.status === 'pending') throw new AcmeError('malformed', `the authorization is ${a.status}; this challenge can no longer be answered`);
      return { authz: a, challenge: c };
    }
    if (a.processingSince) throw new AcmeError('malformed', 'another challenge of this authorization is being validated');
    this.requireWritable();
    await this.d.limits.check('failedValidationsPerAccount', `${account.id}:${a.identifier.value}`, `failed validations of ${a.identifier.value}`);
    const now = this.d.clock.now();
    const claimed: AcmeAuthorization = {
      ...a, processingSince: now,
      challenges: a.challenges.map((ch) => (ch.id === c.id ? { ...ch, status: 'processing' } : ch)),
    };
    // The claim is flushed with the validation's audit record; lost, the challenge is simply pending again.
    if (!(await this.d.store.updateAcmeAuthorization(claimed, a.version, RELAXED))) {
      a = await this.getAuthorization(account, authzId);
      return { authz: a, challenge: find(a) };
    }
    const run = this.validate({ ...claimed, version: a.version + 1 }, c.id, account, req.ip);
    await Promise.race([run, new Promise((r) => setTimeout(r, SYNC_WAIT_MS).unref())]);
    a = await this.getAuthorization(account, authzId);
    c = find(a);
    return { authz: a, challenge: c };
  }

  /** Runs one validation and records its result (compare-and-set on the claimed version). */
  private validate(a: AcmeAuthorization, challengeId: string, account: AcmeAccount, ip: string): Promise<void> {
    const existing = this.running.get(a.id);
    if (existing) return existing;
    const p = this.validateInner(a, challengeId, account, ip)
      .catch((e) => this.d.log.error({ err: e, authz: a.id }, 'ACME validation bookkeeping failed'))
      .finally(() => this.running.delete(a.id));
    this.running.set(a.id, p);
    return p;
  }

  private async validateInner(a: AcmeAuthorization, challengeId: string, account: AcmeAccount, ip: string): Promise<void> {
    const ch = a.challenges.find((c) => c.id === challengeId)!;
    let error: AcmeError | null = null;
    try {
      await this.d.validator.validate(ch.type, { identifier: a.identifier, token: ch.token, keyAuthorization: `${ch.token}.${account.keyThumbprint}` });
    } catch (e) {
      error = isAcmeError(e) ? e : new AcmeError('serverInternal', 'validation failed unexpectedly');
      if (!isAcmeError(e)) this.d.log.warn({ err: e }, 'validator threw a non-ACME error');
    }
    const now = this.d.clock.now();
    const problem = error ? { type: ACME_URN + error.type, detail: error.message, status: error.status } : null;
    let cur = a;
    for (let attempt = 0; attempt < 5; attempt++) {
      const next: AcmeAuthorization = {
        ...cur, processingSince: null,
        status: error ? 'invalid' : 'valid',
        expires: error ? cur.expires : new Date(now.getTime() + this.d.settings.validAuthorizationHours * HOUR),
        challenges: cur.challenges.map((c) => (c.id === challengeId ? { ...c, status: error ? 'invalid' : 'valid', validated: error ? null : now, error: problem } : c)),
      };
      // Flushed by the audit record written next, before the challenge reply.
      if (await this.d.store.updateAcmeAuthorization(next, cur.version, RELAXED)) break;
      const fresh = await this.d.store.getAcmeAuthorization(a.id);
      if (!fresh || fresh.processingSince === null || fresh.status !== 'pending') return; // someone else finished it
      cur = fresh;
    }
    this.d.onValidation?.(ch.type, error ? 'invalid' : 'valid');
    if (error) await this.d.limits.record([['failedValidationsPerAccount', `${account.id}:${a.identifier.value}`]]);
    await this.audit(account, ip, 'acme.challenge.validate', `acme-authz:${a.id}`, error ? 'failure' : 'success', {
      identifier: a.identifier, type: ch.type, ...(problem ? { error: problem } : {}),
    });
  }

  // ------------------------------------------------------------ finalize

  async finalize(account: AcmeAccount, orderId: string, payload: unknown, req: AcmeRequest): Promise<AcmeOrder> {
    let o = await this.getOrder(account, orderId);
    if (o.status !== 'ready') {
      throw new AcmeError('orderNotReady', o.status === 'pending' ? 'the order is not ready: authorizations are still pending' : `the order is ${o.status}`);
    }
    if (!isObject(payload) || typeof payload.csr !== 'string') throw new AcmeError('malformed', 'the finalize payload must be {"csr": base64url DER}');
    if (!/^[A-Za-z0-9_-]+$/.test(payload.csr)) throw new AcmeError('badCSR', 'csr is not base64url');
    const der = Buffer.from(payload.csr, 'base64url');
    let csr: ParsedCsr;
    try {
      csr = await this.d.issuance.parseCsr(new Uint8Array(der));
    } catch (e) {
      throw new AcmeError('badCSR', isRampartError(e) ? e.message : 'the CSR cannot be parsed');
    }
    this.checkCsrNames(csr, o);
    this.checkCsrKey(csr, account);
    this.requireWritable();
    const claimed: AcmeOrder = { ...o, status: 'processing', csrDer: new Uint8Array(der), processingSince: this.d.clock.now() };
    // Flushed by the certificate insert that follows; lost, the order is simply ready again.
    if (!(await this.d.store.updateAcmeOrder(claimed, o.version, RELAXED))) {
      o = await this.getOrder(account, orderId);
      throw new AcmeError('orderNotReady', `the order is ${o.status}`);
    }
    return this.issue({ ...claimed, version: o.version + 1 }, account, req.ip, csr);
  }

  private checkCsrNames(csr: ParsedCsr, o: AcmeOrder): void {
    const want = new Set(o.identifiers.map((i) => `${i.type}:${i.value}`));
    const got = new Set<string>();
    for (const n of csr.san.dns) got.add(`dns:${n.toLowerCase()}`);
    for (const n of csr.san.ip) got.add(`ip:${canonicalIp(n) ?? n}`);
    if (csr.san.email.length || csr.san.uri.length) throw new AcmeError('badCSR', 'the CSR asks for email or URI names, which ACME orders cannot authorize');
    if (csr.commonName !== undefined) {
      const cn = csr.commonName.toLowerCase();
      const key = canonicalIp(cn) ? `ip:${canonicalIp(cn)}` : `dns:${cn}`;
      if (!want.has(key)) throw new AcmeError('badCSR', `the CSR commonName "${csr.commonName}" is not an identifier of the order`);
      got.add(key);
    }
    const extra = [...got].filter((g) => !want.has(g));
    const missing = [...want].filter((w) => !got.has(w));
    if (extra.length || missing.length) {
      throw new AcmeError('badCSR', `the CSR names must be exactly the order's identifiers${extra.length ? `; not in the order: ${extra.join(', ')}` : ''}${missing.length ? `; missing from the CSR: ${missing.join(', ')}` : ''}`);
    }
  }

  private checkCsrKey(csr: ParsedCsr, account: AcmeAccount): void {
    let accountSpki: Buffer | null = null;
    try { accountSpki = createPublicKey({ key: account.jwk as JWK & Record<string, unknown>, format: 'jwk' }).export({ type: 'spki', format: 'der' }); } catch { accountSpki = null; }
    if (accountSpki && Buffer.from(csr.spki).equals(accountSpki)) throw new AcmeError('badCSR', 'the certificate key must not be the account key');
  }

  /** Issues the certificate of a claimed (processing) order and marks it valid, or invalid on a policy refusal. */
  private async issue(o: AcmeOrder, account: AcmeAccount, ip: string, parsedCsr?: ParsedCsr): Promise<AcmeOrder> {
    const dns = o.identifiers.filter((i) => i.type === 'dns').map((i) => i.value);
    const ipSans = o.identifiers.filter((i) => i.type === 'ip').map((i) => i.value);
    let serial: string;
    try {
      const r = await this.d.issuance.issue(
        { csr: o.csrDer!, profile: this.d.settings.profile, sans: { dns, ip: ipSans }, idempotencyKey: `acme-order:${o.id}`, validatedNamesOnly: true, ...(parsedCsr ? { parsedCsr } : {}) },
        acmeActor(account, ip),
      );
      serial = r.record.serial;
    } catch (e) {
      if (isRampartError(e) && ['policyViolation', 'badCsr', 'unknownProfile', 'malformed'].includes(e.code)) {
        const err = new AcmeError(e.code === 'policyViolation' && (e as RampartError).extra.name ? 'rejectedIdentifier' : 'badCSR', e.message);
        await this.settle(o, { status: 'invalid', error: { type: ACME_URN + err.type, detail: err.message, status: err.status } });
        throw err;
      }
      throw e; // transient (database, fenced, standby): the order stays processing and the sweeper finishes it
    }
    const done = await this.settle(o, { status: 'valid', certificateSerial: serial, error: null });
    const domains = [...new Set(o.identifiers.map((i) => registeredDomain(i.value)))];
    await this.d.limits.record(domains.map((dom): [LimitName, string] => ['certificatesPerRegisteredDomain', dom]));
    return done;
  }

  private async settle(o: AcmeOrder, change: Partial<AcmeOrder>): Promise<AcmeOrder> {
    let cur = o;
    for (let attempt = 0; attempt < 5; attempt++) {
      const next: AcmeOrder = { ...cur, ...change, csrDer: null, processingSince: null };
      // Re-doable: lost in a power cut, the order is "processing" again and the sweeper re-runs the
      // issuance, whose idempotency key (the order id) returns the certificate already stored durably.
      if (await this.d.store.updateAcmeOrder(next, cur.version, RELAXED)) return { ...next, version: cur.version + 1 };
      const fresh = await this.d.store.getAcmeOrder(o.id);
      if (!fresh || fresh.status !== 'processing') return fresh ?? o;
      cur = fresh;
    }
    return cur;
  }

  // ------------------------------------------------------------ recovery

  /**
   * Finishes work a dead node left half-done: validations stuck in
   * processing are run again, and orders stuck in processing are issued again
   * (the order id is the idempotency key, so a certificate that was already
   * stored is found instead of issued twice).
   */
  async sweep(): Promise<{ validations: number; orders: number }> {
    if (!this.d.canWrite()) return { validations: 0, orders: 0 };
    const now = this.d.clock.now().getTime();
    const staleAuthz = await this.d.store.staleAcmeAuthorizations(new Date(now - (this.d.settings.validation.timeoutSeconds * 2 + 15) * 1000), 50);
    let validations = 0;
    for (const a of staleAuthz) {
      if (this.running.has(a.id)) continue;
      const ch = a.challenges.find((c) => c.status === 'processing');
      const account = await this.d.store.getAcmeAccount(a.accountId);
      if (!ch || !account) continue;
      const reclaimed: AcmeAuthorization = { ...a, processingSince: new Date(now) };
      if (!(await this.d.store.updateAcmeAuthorization(reclaimed, a.version, RELAXED))) continue;
      validations++;
      await this.validate({ ...reclaimed, version: a.version + 1 }, ch.id, account, 'sweeper');
    }
    const staleOrders = await this.d.store.staleAcmeOrders(new Date(now - 60_000), 50);
    let orders = 0;
    for (const o of staleOrders) {
      const account = await this.d.store.getAcmeAccount(o.accountId);
      if (!account || !o.csrDer) continue;
      const reclaimed: AcmeOrder = { ...o, processingSince: new Date(now) };
      if (!(await this.d.store.updateAcmeOrder(reclaimed, o.version, RELAXED))) continue;
      orders++;
      await this.issue({ ...reclaimed, version: o.version + 1 }, account, 'sweeper').catch((e) => this.d.log.warn({ err: e, order: o.id }, 'sweeper could not finish order'));
    }
    return { validations, orders };
  }

  private requireWritable(): void {
    if (!this.d.canWrite()) throw new AcmeError('serverInternal', 'this node does not accept writes now (standby); retry on another node', { status: 503, retryAfter: 5 });
  }

  private async audit(account: AcmeAccount, ip: string, action: string, target: string, outcome: 'success' | 'failure' | 'denied', details: Record<string, unknown>): Promise<void> {
    const a = acmeActor(account, ip);
    await this.d.audit.record({ actor: a.id, source: a.source, channel: 'acme', action, target, outcome, details });
  }
}
