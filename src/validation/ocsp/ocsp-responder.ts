/**
 * The OCSP responder (RFC 6960, RFC 5019 profile), one home for OCSP:
 * requests are parsed by ocsp-request.ts (their bytes remembered with the
 * CertID they name), the
 * status is looked up in the store, and responses are signed and cached by
 * CertID (hash algorithm, issuer, serial). Responses for single certificates
 * without a nonce are pre-signed and cached; a revocation drops the cached
 * entry synchronously, so the very next request sees it. Requests with a
 * nonce (RFC 8954) or several CertIDs get a freshly signed response.
 * Malformed input yields malformedRequest and an unknown issuer
 * unauthorized: never an exception to the HTTP layer. `answer` is the one
 * call the HTTP route makes; a cache hit returns synchronously.
 */
import { createHash } from 'node:crypto';
import type { CertificateAuthority } from '../../ca/certificate-authority.js';
import type { Clock } from '../../core/clock.js';
import { Periodic } from '../../core/periodic.js';
import { withDeadline } from '../../core/wait.js';
import type { CertificateRecord, IssuerRecord } from '../../core/types.js';
import { RampartError } from '../../core/errors.js';
import { keyIdentifier } from '../../pki/certificate-builder.js';
import { certificateSerialHex } from '../../pki/certificate-serial.js';
import { OID } from '../../pki/algorithms.js';
import {
  buildOcspResponse, issuerHashes, OCSP_HASH_OIDS, ocspErrorResponse, OcspMalformedError, type OcspHashName, type ParsedOcspRequest,
} from './ocsp-codec.js';
import { parseHttpRequest, type OcspHttpRequest } from './ocsp-request.js';
import { ocspPreflight } from '../../ca/lint-gate.js';

const OCSP_PREFLIGHT = ocspPreflight();
import type { CertificateStore } from '../../storage/store.js';
import type { RampartMetrics } from '../../metrics/metrics.js';

export type OcspCertStatus = 'good' | 'revoked' | 'unknown';

export interface OcspAnswer {
  body: Uint8Array;
  /** 'successful' or the OCSP error status. */
  responseStatus: 'successful' | 'malformedRequest' | 'unauthorized' | 'internalError' | 'tryLater';
  certStatus?: OcspCertStatus;
  source: 'cache' | 'signed' | 'error';
  /** Set for cacheable answers (single certificate, no nonce): RFC 5019 HTTP caching. */
  cache?: CacheEntry;
}

/** A signed response for one CertID, with its RFC 5019 caching values. */
export interface CacheEntry {
  der: Uint8Array;
  status: OcspCertStatus;
  thisUpdate: Date;
  nextUpdate: Date;
  etag: string;
  /** Pre-rendered HTTP header values. */
  lastModified: string;
  expires: string;
}

interface IssuerKeyInfo {
  issuer: IssuerRecord;
}

export interface OcspResponderOptions {
  ca: CertificateAuthority;
  store: CertificateStore;
  clock: Clock;
  metrics?: RampartMetrics;
  validitySeconds: number;
  refreshBeforeSeconds: number;
  maxCacheEntries?: number;
  /**
   * Longest wait for the store's status of a certificate (default 1500 ms).
   * A node cut off from its database answers within this bound: with the
   * cached response while it is still valid (past its refresh point but
   * before nextUpdate), else with OCSP `tryLater` (RFC 6960 §2.3), instead
   * of holding the relying party until the database comes back.
   */
  lookupTimeoutMs?: number;
}

export class OcspResponder {
  /** Signed responses by CertID: `${issuerId}:${serial}:${hashAlgorithm}`. */
  private readonly cache = new Map<string, CacheEntry>();
  private byHash = new Map<string, IssuerKeyInfo>();
  private readonly maxEntries: number;
  /** Request bytes -> the cache key (CertID resolved to its issuer) they name; rebuilt with the issuer index. */
  private readonly certIdOf = new Map<string, string>();

  constructor(private readonly o: OcspResponderOptions) {
    this.maxEntries = o.maxCacheEntries ?? 200_000;
  }

  /** Rebuilds the CertID -> issuer index (after load or a change of issuers). */
  reloadIssuers(): void {
    const m = new Map<string, IssuerKeyInfo>();
    for (const issuer of this.o.ca.cas()) {
      for (const [alg, oid] of [['sha1', OID.sha1], ['sha256', OID.sha256]] as const) {
        const h = issuerHashes(issuer.certDer, alg);
        m.set(`${oid}:${h.nameHash.toString('hex')}:${h.keyHash.toString('hex')}`, { issuer });
      }
    }
    this.byHash = m;
    this.certIdOf.clear();
    this.clearCache();
  }

  /** Drops the cached response of one certificate (called synchronously on revocation). */
  invalidate(issuerId: string, serial: string): void {
    this.drop(`${issuerId}:${serial}:${OID.sha1}`);
    this.drop(`${issuerId}:${serial}:${OID.sha256}`);
  }

  private drop(key: string): void {
    this.cache.delete(key);
  }

  private clearCache(): void {
    this.cache.clear();
  }

  cacheSize(): number { return this.cache.size; }

  private jobs: Periodic | null = null;

  /** Re-signs cached answers close to their nextUpdate, every minute. */
  start(onError: (e: unknown) => void): void {
    (this.jobs ??= new Periodic(onError)).every(60_000, () => this.refreshExpiring());
  }

  stop(): void {
    this.jobs?.stop();
  }

  /** Signs and caches the response for one certificate ahead of any request. */
  async presign(issuerId: string, serial: string): Promise<void> {
    const issuer = this.o.ca.get(issuerId);
    if (!issuer) return;
    const h = issuerHashes(issuer.certDer, 'sha1');
    await this.signSingle(issuer, { hashAlgorithm: OID.sha1, issuerNameHash: h.nameHash, issuerKeyHash: h.keyHash, serialHex: serial }, true);
  }

  /**
   * The signed, cacheable answer for one certificate and CertID hash (from the
   * cache while fresh): what a static copy of validation publishes. Null for
   * an issuer this node does not answer for.
   */
  async responseFor(issuerId: string, serial: string, hash: OcspHashName, opts: { fresh?: boolean } = {}): Promise<CacheEntry | null> {
    const issuer = this.o.ca.get(issuerId);
    if (!issuer) return null;
    const h = issuerHashes(issuer.certDer, hash);
    return this.signSingle(issuer, { hashAlgorithm: OCSP_HASH_OIDS[hash], issuerNameHash: h.nameHash, issuerKeyHash: h.keyHash, serialHex: serial }, opts.fresh ?? false);
  }

  /** Re-signs cached entries that are within refreshBeforeSeconds of their nextUpdate. */
  async refreshExpiring(limit = 10_000): Promise<number> {
    const edge = this.o.clock.now().getTime() + this.o.refreshBeforeSeconds * 1000;
    let n = 0;
    for (const [key, e] of [...this.cache]) {
      if (n >= limit) break;
      if (e.nextUpdate.getTime() > edge) continue;
      const [issuerId, serial] = key.split(':') as [string, string, string];
      this.drop(key);
      await this.presign(issuerId, serial);
      n++;
    }
    return n;
  }

  /**
   * Answers one request. A fresh cached response for a single CertID without
   * a nonce is returned synchronously (no parsing after the first time these
   * bytes were seen, no store query, no signature); everything else resolves
   * after the status lookup and signing.
   */
  answer(req: OcspHttpRequest): OcspAnswer | Promise<OcspAnswer> {
    // Hot path: these request bytes were seen and name one CertID of a known issuer.
    const known = this.certIdOf.get(req.key);
    if (known) {
      const hit = this.fresh(this.cache.get(known));
      if (hit) return this.answered(hit.der, hit.status, 'cache', hit);
    }
    const parsed = parseHttpRequest(req);
    if (!parsed.ok) return this.error('malformedRequest');
    const r = parsed.request;
    if (r.requests.length === 1 && !r.nonce) {
      const id = r.requests[0]!;
      const info = this.byHash.get(`${id.hashAlgorithm}:${id.issuerNameHash.toString('hex')}:${id.issuerKeyHash.toString('hex')}`);
      if (!info) return this.error('unauthorized');
      const key = cacheKey(info.issuer.id, id);
      if (this.certIdOf.size >= this.maxEntries) this.certIdOf.delete(this.certIdOf.keys().next().value!);
      this.certIdOf.set(req.key, key);
      const hit = this.fresh(this.cache.get(key));
      if (hit) return this.answered(hit.der, hit.status, 'cache', hit);
    }
    return this.respondParsed(r).catch((e) => {
      if (e instanceof OcspMalformedError) return this.error('malformedRequest');
      if (e instanceof RampartError && e.code === 'unavailable') return this.cannotAnswer(r);
      throw e;
    });
  }

  /** The store did not answer in time, or the responder's key cannot sign now: a cached response still inside its validity, else tryLater. */
  private cannotAnswer(r: ParsedOcspRequest): OcspAnswer {
    const id = r.requests.length === 1 && !r.nonce ? r.requests[0]! : undefined;
    const info = id && this.byHash.get(`${id.hashAlgorithm}:${id.issuerNameHash.toString('hex')}:${id.issuerKeyHash.toString('hex')}`);
    const e = id && info ? this.cache.get(cacheKey(info.issuer.id, id)) : undefined;
    if (e && e.nextUpdate.getTime() > this.o.clock.now().getTime()) return this.answered(e.der, e.status, 'cache');
    return this.error('tryLater');
  }

  private fresh(e: CacheEntry | undefined): CacheEntry | undefined {
    return e && e.nextUpdate.getTime() - this.o.clock.now().getTime() > this.o.refreshBeforeSeconds * 1000 ? e : undefined;
  }

  private async respondParsed(req: ParsedOcspRequest): Promise<OcspAnswer> {
    const targets = req.requests.map((r) => ({ r, info: this.byHash.get(`${r.hashAlgorithm}:${r.issuerNameHash.toString('hex')}:${r.issuerKeyHash.toString('hex')}`) }));
    if (targets.some((t) => !t.info)) return this.error('unauthorized');
    const issuers = new Set(targets.map((t) => t.info!.issuer.id));
    if (issuers.size !== 1) return this.error('unauthorized'); // one responder certificate per response
    const issuer = targets[0]!.info!.issuer;
    if (targets.length === 1 && !req.nonce) {
      const entry = await this.signSingle(issuer, targets[0]!.r, false);
      if (!entry) return this.error('unauthorized');
      return this.answered(entry.der, entry.status, entry.fromCache ? 'cache' : 'signed', entry.cacheable ? entry : undefined);
    }
    // Several certificates or a nonce: a fresh response.
    const now = this.o.clock.now();
    const responses = [];
    for (const t of targets) responses.push(await this.statusOf(issuer, t.r.serialHex, now, t.r));
    const signed = await this.sign(issuer, responses, now, req.nonce);
    if (!signed) return this.error('unauthorized');
    return this.answered(signed, targets.length === 1 ? responses[0]!.statusName : undefined, 'signed');
  }

  private answered(body: Uint8Array, certStatus: OcspCertStatus | undefined, source: OcspAnswer['source'], cache?: CacheEntry): OcspAnswer {
    this.o.metrics?.ocspResponses.inc({ status: certStatus ?? 'multiple', source });
    return cache ? { body, responseStatus: 'successful', certStatus, cache, source } : { body, responseStatus: 'successful', certStatus, source };
  }

  private error(status: 'malformedRequest' | 'unauthorized' | 'internalError' | 'tryLater'): OcspAnswer {
    this.o.metrics?.ocspResponses.inc({ status, source: 'error' });
    return { body: ocspErrorResponse(status), responseStatus: status, source: 'error' };
  }

  /** The store's record, or RampartError 'unavailable' after lookupTimeoutMs (the query itself is left to finish). */
  private lookup(serialHex: string): Promise<CertificateRecord | null> {
    const ms = this.o.lookupTimeoutMs ?? 1500;
    // A store that fails the read (a damaged page, a lost connection) is 'unavailable' too: tryLater, never a 500.
    const read = Promise.resolve().then(() => this.o.store.getCertificate(serialHex)).catch((e: unknown) => {
      throw e instanceof RampartError && e.code === 'unavailable' ? e : new RampartError('unavailable', `the store could not read the certificate status: ${(e as Error).message}`);
    });
    return withDeadline(read, ms, () => {
      this.o.metrics?.ocspStoreTimeouts.inc();
      return new RampartError('unavailable', `no certificate status from the store within ${ms} ms`);
    });
  }

  private async statusOf(issuer: IssuerRecord, serialHex: string, now: Date, certId: CertIdLike) {
    const rec = await this.lookup(serialHex);
    // Also answer for CA certificates this issuer signed (an intermediate's status from the root).
    const caChild = rec ? undefined : this.o.ca.all().find((i) => i.parentId === issuer.id && i.kind !== 'ocsp-signer' && serialOf(i) === serialHex);
    const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + this.o.validitySeconds * 1000);
    let status: { type: 'good' } | { type: 'revoked'; revokedAt: Date; reason?: number } | { type: 'unknown' };
    if (rec && rec.issuerId === issuer.id) {
      status = rec.status === 'revoked' ? { type: 'revoked', revokedAt: rec.revokedAt!, reason: rec.revocationReason ?? undefined } : { type: 'good' };
    } else if (caChild) {
      status = { type: 'good' };
    } else {
      status = { type: 'unknown' };
    }
    return { certId, status, thisUpdate, nextUpdate, statusName: status.type as OcspCertStatus, known: Boolean((rec && rec.issuerId === issuer.id) || caChild) };
  }

  private async sign(issuer: IssuerRecord, responses: Array<Awaited<ReturnType<OcspResponder['statusOf']>>>, now: Date, nonce?: Buffer): Promise<Uint8Array | null> {
    const responder = this.o.ca.ocspSignerOf(issuer.id);
    if (!responder) return null;
    const signer = await this.o.ca.signerFor(responder);
    return buildOcspResponse({
      signer, responderCertDer: responder.certDer, responderKeyHash: keyIdentifier(signer.spki), producedAt: now,
      responses: responses.map((r) => ({ certId: r.certId, status: r.status, thisUpdate: r.thisUpdate, nextUpdate: r.nextUpdate })),
      nonce, preflight: OCSP_PREFLIGHT,
    });
  }

  private async signSingle(issuer: IssuerRecord, certId: CertIdLike, force: boolean): Promise<(CacheEntry & { fromCache: boolean; cacheable: boolean }) | null> {
    const key = cacheKey(issuer.id, certId);
    const now = this.o.clock.now();
    const hit = force ? undefined : this.fresh(this.cache.get(key));
    if (hit) return { ...hit, fromCache: true, cacheable: true };
    const r = await this.statusOf(issuer, certId.serialHex, now, certId);
    const der = await this.sign(issuer, [r], now);
    if (!der) return null;
    const entry: CacheEntry = {
      der, status: r.statusName, thisUpdate: r.thisUpdate, nextUpdate: r.nextUpdate, etag: `"${createHash('sha1').update(der).digest('hex')}"`,
      lastModified: r.thisUpdate.toUTCString(), expires: r.nextUpdate.toUTCString(),
    };
    // Only certificates we know are cached: made-up serials must not fill the cache.
    if (r.known) {
      if (this.cache.size >= this.maxEntries) this.drop(this.cache.keys().next().value!);
      this.cache.delete(key);
      this.cache.set(key, entry);
    }
    return { ...entry, fromCache: false, cacheable: r.known };
  }
}

const cacheKey = (issuerId: string, id: { serialHex: string; hashAlgorithm: string }): string => `${issuerId}:${id.serialHex}:${id.hashAlgorithm}`;

interface CertIdLike { hashAlgorithm: string; issuerNameHash: Buffer; issuerKeyHash: Buffer; serialHex: string }


const serialOf = (i: IssuerRecord): string => certificateSerialHex(i.certDer);
