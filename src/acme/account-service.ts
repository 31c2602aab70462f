/** ACME accounts (RFC 8555 §7.3): creation, lookup, update, deactivation, key rollover. */
import type { JWK } from 'jose';
import { isRampartError } from '../core/errors.js';
import { acmeActor, newId, type AcmeDeps, type AcmeRequest } from './context.js';
import { jwkThumbprint, verifyJws } from './jws.js';
import { AcmeError } from './problems.js';
import type { AcmeAccount } from '../storage/acme-records.js';
import { accountIdFromUrl } from './urls.js';

export interface AccountResult { account: AcmeAccount; created: boolean }

const MAX_CONTACTS = 10;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** mailto: contacts only, one address each, no header fields (RFC 8555 §7.3). */
export function parseContacts(v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new AcmeError('malformed', 'contact must be an array of URLs');
  if (v.length > MAX_CONTACTS) throw new AcmeError('invalidContact', `at most ${MAX_CONTACTS} contacts`);
  return v.map((c) => {
    if (typeof c !== 'string') throw new AcmeError('malformed', 'each contact must be a string');
    if (!c.startsWith('mailto:')) throw new AcmeError('unsupportedContact', `only mailto: contacts are supported, not "${c.slice(0, 40)}"`);
    const addr = c.slice(7);
    if (addr.includes('?')) throw new AcmeError('invalidContact', 'mailto: contacts must not have header fields (?...)');
    if (addr.includes(',')) throw new AcmeError('invalidContact', 'one address per mailto: contact');
    if (!/^[^@\s<>()]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$/.test(addr) || addr.length > 254) throw new AcmeError('invalidContact', `"${addr.slice(0, 60)}" is not an email address`);
    return c;
  });
}

export class AccountService {
  constructor(private readonly d: AcmeDeps) {}

  async lookupByKid(urlsAccount: (kid: string) => string | null, kid: string): Promise<AcmeAccount | null> {
    const id = urlsAccount(kid);
    return id ? this.d.store.getAcmeAccount(id) : null;
  }

  async newAccount(jwk: JWK, thumbprint: string, payload: unknown, req: AcmeRequest): Promise<AccountResult> {
    if (!isObject(payload)) throw new AcmeError('malformed', 'the newAccount payload must be a JSON object');
    const existing = await this.d.store.findAcmeAccountByThumbprint(thumbprint);
    if (existing) {
      if (existing.status !== 'valid') throw new AcmeError('unauthorized', `the account for this key is ${existing.status}`);
      return { account: existing, created: false };
    }
    if (payload.onlyReturnExisting === true) throw new AcmeError('accountDoesNotExist', 'no account exists for this key');
    const contact = parseContacts(payload.contact);
    if (this.d.settings.termsOfService && payload.termsOfServiceAgreed !== true) {
      throw new AcmeError('userActionRequired', `you must agree to the terms of service at ${this.d.settings.termsOfService}`, { extra: { instance: this.d.settings.termsOfService } });
    }
    let eabKid: string | null = null;
    if (payload.externalAccountBinding !== undefined) {
      eabKid = await this.d.eab.verify(payload.externalAccountBinding, jwk, req.urls.newAccount);
    } else if (this.d.settings.externalAccountRequired) {
      throw new AcmeError('externalAccountRequired', 'this server requires external account binding: ask an operator for a key id and MAC key');
    }
    this.requireWritable();
    await this.d.limits.check('newAccountsPerIp', req.ip, 'new accounts from this address');
    const account: AcmeAccount = {
      id: newId(), keyThumbprint: thumbprint, jwk: jwk as Record<string, unknown>, status: 'valid', contact, eabKid,
      createdFromIp: req.ip, createdAt: this.d.clock.now(), version: 1,
    };
    if (eabKid && !(await this.d.store.bindEabKey(eabKid, account.id))) {
      throw new AcmeError('unauthorized', `external account key "${eabKid}" is already bound to an account`);
    }
    try {
      await this.d.store.insertAcmeAccount(account);
    } catch (e) {
      if (isRampartError(e) && e.code === 'conflict') {
        const raced = await this.d.store.findAcmeAccountByThumbprint(thumbprint);
        if (raced) return { account: raced, created: false };
      }
      throw e;
    }
    await this.d.limits.record([['newAccountsPerIp', req.ip]]);
    await this.audit(account, req, 'acme.account.create', 'success', { contact, eabKid, thumbprint });
    return { account, created: true };
  }

  /** POST to the account URL: fetch (POST-as-GET), update contact, or deactivate. */
  async update(account: AcmeAccount, id: string, payload: unknown, req: AcmeRequest): Promise<AcmeAccount> {
    if (account.id !== id) throw new AcmeError('unauthorized', 'requests to an account URL must be signed by that account');
    if (payload === null) return account;
    if (!isObject(payload)) throw new AcmeError('malformed', 'the account update payload must be a JSON object');
    const next: AcmeAccount = { ...account };
    let action = '';
    if (payload.status !== undefined) {
      if (payload.status !== 'deactivated') throw new AcmeError('malformed', 'the only status a client may set is "deactivated"');
      next.status = 'deactivated';
      action = 'acme.account.deactivate';
    }
    if (payload.contact !== undefined) {
      next.contact = parseContacts(payload.contact);
      action ||= 'acme.account.update';
    }
    if (!action) return account;
    this.requireWritable();
    if (!(await this.d.store.updateAcmeAccount(next, account.version))) {
      throw new AcmeError('malformed', 'the account changed concurrently; retry the request', { status: 409 });
    }
    await this.audit(next, req, action, 'success', { status: next.status, contact: next.contact });
    return { ...next, version: account.version + 1 };
  }

  /** keyChange (RFC 8555 §7.3.5): the outer JWS is signed by the old key, the inner by the new one. */
  async keyChange(account: AcmeAccount, payload: unknown, req: AcmeRequest): Promise<AcmeAccount> {
    const inner = await verifyJws(payload, {
      url: req.urls.keyChange, keyMode: 'jwk', inner: true, lookupAccount: async () => null,
    }).catch((e: unknown) => {
      if (e instanceof AcmeError && e.type === 'unauthorized') throw new AcmeError('malformed', `inner JWS: ${e.message}`);
      throw e;
    });
    if (!isObject(inner.payload)) throw new AcmeError('malformed', 'the inner keyChange payload must be {account, oldKey}');
    if (inner.payload.account !== req.urls.account(account.id) || accountIdFromUrl(req.urls, String(inner.payload.account)) !== account.id) {
      throw new AcmeError('malformed', 'the inner keyChange payload names another account');
    }
    let oldThumb: string;
    try { oldThumb = await jwkThumbprint(inner.payload.oldKey as JWK); } catch { throw new AcmeError('malformed', 'oldKey is not a JWK'); }
    if (oldThumb !== account.keyThumbprint) throw new AcmeError('malformed', 'oldKey is not the current account key');
    if (inner.thumbprint === account.keyThumbprint) throw new AcmeError('malformed', 'the new key is the current key');
    const other = await this.d.store.findAcmeAccountByThumbprint(inner.thumbprint);
    if (other) throw new AcmeError('malformed', 'the new key already belongs to an account', { status: 409, extra: { location: req.urls.account(other.id) } });
    this.requireWritable();
    const next: AcmeAccount = { ...account, jwk: inner.jwk as Record<string, unknown>, keyThumbprint: inner.thumbprint };
    try {
      if (!(await this.d.store.updateAcmeAccount(next, account.version))) throw new AcmeError('malformed', 'the account changed concurrently; retry', { status: 409 });
    } catch (e) {
      if (isRampartError(e) && e.code === 'conflict') throw new AcmeError('malformed', 'the new key already belongs to an account', { status: 409 });
      throw e;
    }
    await this.audit(next, req, 'acme.account.key-change', 'success', { oldThumbprint: account.keyThumbprint, newThumbprint: inner.thumbprint });
    return { ...next, version: account.version + 1 };
  }

  private requireWritable(): void {
    if (!this.d.canWrite()) throw new AcmeError('serverInternal', 'this node does not accept writes now (standby); retry on another node', { status: 503, retryAfter: 5 });
  }

  private async audit(account: AcmeAccount, req: AcmeRequest, action: string, outcome: 'success' | 'failure' | 'denied', details: Record<string, unknown>): Promise<void> {
    const a = acmeActor(account, req.ip);
    await this.d.audit.record({ actor: a.id, source: a.source, channel: 'acme', action, target: `acme-account:${account.id}`, outcome, details });
  }
}
