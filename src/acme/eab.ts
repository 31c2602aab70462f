/**
 * External account binding (RFC 8555 §7.3.4): an operator creates a key id
 * and an HS256 MAC key, hands both to the account holder, and newAccount must
 * carry an inner JWS over the account key made with that MAC key. MAC keys
 * are stored sealed with the node secret; each binds one account only.
 */
import { randomBytes } from 'node:crypto';
import { decodeProtectedHeader, flattenedVerify, type JWK } from 'jose';
import { seal, unseal, type SealedBlob } from '../keys/software/key-encryption.js';
import type { Clock } from '../core/clock.js';
import type { AcmeStore } from '../storage/store.js';
import { AcmeError } from './problems.js';
import { jwkThumbprint } from './jws.js';
import type { EabKey } from '../storage/acme-records.js';

const AAD = (kid: string) => `rampart-acme-eab:${kid}`;

export interface CreatedEabKey { kid: string; hmacKey: string; record: EabKey }

export class EabKeys {
  constructor(private readonly o: { store: Pick<AcmeStore, 'insertEabKey' | 'getEabKey' | 'listEabKeys' | 'bindEabKey' | 'revokeEabKey'>; secret: Uint8Array; clock: Clock }) {}

  /** Creates a key; the MAC key (base64url) is returned once and stored only sealed. */
  async create(description: string): Promise<CreatedEabKey> {
    const kid = `eab-${randomBytes(9).toString('base64url')}`;
    const key = randomBytes(32);
    const sealed = Buffer.from(JSON.stringify(await seal(this.o.secret, key, AAD(kid))), 'utf8');
    const record: EabKey = { kid, sealedKey: sealed, description, createdAt: this.o.clock.now(), boundAccountId: null, revokedAt: null };
    await this.o.store.insertEabKey(record);
    return { kid, hmacKey: key.toString('base64url'), record };
  }

  list(): Promise<EabKey[]> { return this.o.store.listEabKeys(); }

  revoke(kid: string): Promise<boolean> { return this.o.store.revokeEabKey(kid, this.o.clock.now()); }

  /**
   * Checks the externalAccountBinding member of a newAccount payload against
   * the outer account key and URL; returns the key id (not yet bound).
   */
  async verify(binding: unknown, accountJwk: JWK, url: string): Promise<string> {
    if (typeof binding !== 'object' || binding === null) throw new AcmeError('malformed', 'externalAccountBinding must be a flattened JWS object');
    const b = binding as Record<string, unknown>;
    if (typeof b.protected !== 'string' || typeof b.payload !== 'string' || typeof b.signature !== 'string') {
      throw new AcmeError('malformed', 'externalAccountBinding needs protected, payload and signature');
    }
    let h: Record<string, unknown>;
    try { h = decodeProtectedHeader({ protected: b.protected, payload: '', signature: '' } as never) as Record<string, unknown>; } catch {
      throw new AcmeError('malformed', 'externalAccountBinding protected header is not base64url JSON');
    }
    if (h.alg !== 'HS256') throw new AcmeError('badSignatureAlgorithm', 'externalAccountBinding must use HS256', { extra: { algorithms: ['HS256'] } });
    if (h.nonce !== undefined) throw new AcmeError('malformed', 'externalAccountBinding must not have a nonce');
    if (h.url !== url) throw new AcmeError('unauthorized', 'externalAccountBinding url must be the newAccount URL');
    if (typeof h.kid !== 'string') throw new AcmeError('malformed', 'externalAccountBinding needs a kid');
    const rec = await this.o.store.getEabKey(h.kid);
    if (!rec || rec.revokedAt) throw new AcmeError('unauthorized', `external account key "${h.kid}" is unknown or revoked`);
    if (rec.boundAccountId) throw new AcmeError('unauthorized', `external account key "${h.kid}" is already bound to an account`);
    let macKey: Buffer;
    try { macKey = await unseal(this.o.secret, JSON.parse(Buffer.from(rec.sealedKey).toString('utf8')) as SealedBlob, AAD(rec.kid)); } catch {
      throw new Error(`cannot unseal external account key ${rec.kid}`);
    }
    let payload: Uint8Array;
    try {
      payload = (await flattenedVerify({ protected: b.protected, payload: b.payload, signature: b.signature }, macKey, { algorithms: ['HS256'] })).payload;
    } catch {
      throw new AcmeError('unauthorized', 'externalAccountBinding signature does not verify with that key');
    } finally {
      macKey.fill(0);
    }
    let inner: JWK;
    try { inner = JSON.parse(Buffer.from(payload).toString('utf8')) as JWK; } catch { throw new AcmeError('malformed', 'externalAccountBinding payload is not a JWK'); }
    let same = false;
    try { same = (await jwkThumbprint(inner)) === (await jwkThumbprint(accountJwk)); } catch { same = false; }
    if (!same) throw new AcmeError('unauthorized', 'externalAccountBinding payload is not the account key');
    return rec.kid;
  }
}
