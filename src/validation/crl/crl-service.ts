/**
 * CRL generation and publication, partitioned (issue 17). Each issuing CA
 * publishes `crl.shards` shard CRLs, each with a critical Issuing
 * Distribution Point naming its URL (the URL new certificates carry in their
 * CDP), and beside them its complete CRL without one (certificates issued
 * before sharding point there, NSS needs it, an offline root's CRL stays
 * complete). CRL numbers come from the issuer's one database counter, so
 * they strictly increase per shard too, across restarts and nodes.
 *
 * A revocation rebuilds its own shard at once; the complete CRL follows at
 * once too, but at most once every COMPLETE_MIN_INTERVAL_MS per issuer
 * (coalesced), and is marked dirty for the tick in case that run fails. Concurrent triggers for one
 * scope coalesce into one run after the current one. On this thread a build
 * only reads entries in short chunks (yielding between them), signs and
 * saves: the TBSCertList and the CertificateList are encoded by the PKI pool
 * (src/pki/pool) in a worker thread. On start the leader rebuilds every CRL
 * once, so revocations written while no node ran (the CLI, rows written by
 * other tools) are never missing from a CRL that still looks fresh.
 * Scheduled generation covers the CAs whose key is on this node and that are
 * still in service (src/ca/retirement.ts).
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { AsnConvert } from '@peculiar/asn1-schema';
import type { CertificateAuthority } from '../../ca/certificate-authority.js';
import { parseIssuerName } from '../../ca/certificate-authority.js';
import { IssuerRetirement } from '../../ca/retirement.js';
import { refuseCrl } from '../../ca/lint-gate.js';
import type { Clock } from '../../core/clock.js';
import type { CaEvents } from '../../core/events.js';
import type { CertificateRecord, CrlRecord, IssuerRecord } from '../../core/types.js';
import type { RampartMetrics } from '../../metrics/metrics.js';
import { encodeRevokedEntry } from '../../pki/crl-builder.js';
import { PkiPool } from '../../pki/pool/pki-pool.js';
import type { CaUrls } from '../../ca/urls.js';
import type { CertificateStore, CrlRetention, CrlStore } from '../../storage/store.js';
import type { WriteGate } from '../../cluster/cluster.js';
import { readEntryChunks } from './entry-chunks.js';
import { RampartError } from '../../core/errors.js';
import { withDeadline } from '../../core/wait.js';

/** The complete CRL (all of an issuer's revocations) is rebuilt after a revocation at most this often. */
const COMPLETE_MIN_INTERVAL_MS = 5_000;

export interface CrlServiceOptions {
  ca: CertificateAuthority;
  store: CertificateStore & CrlStore;
  clock: Clock;
  events: CaEvents;
  /** Where the CRLs are published: a shard's URL is also its Issuing Distribution Point. */
  urls: CaUrls;
  metrics?: RampartMetrics;
  validityHours: number;
  regenerateEveryMinutes: number;
  /** Shards per issuing CA (crl.shards); default 1. */
  shards?: number;
  /** Stored CRLs kept per scope (crl.keep, crl.keepMegabytes). */
  retention?: CrlRetention;
  /** Worker threads that encode the CRLs (default: none, on this thread). */
  pool?: PkiPool;
  /** Cluster gate: only the leader publishes, with its fencing token. */
  gate?: WriteGate;
  /** How long a CRL request waits for the store before it is answered from memory (default 1500 ms). */
  storeTimeoutMs?: number;
  /** Fault injection for the fencing test: pause between building and saving a CRL. */
  faultPauseBeforeSaveMs?: number;
  onError?: (e: unknown) => void;
}

/** A CRL scope: the issuer's complete CRL (shard null) or one shard. */
type Shard = number | null;
const scopeKey = (issuerId: string, shard: Shard): string => `${issuerId}/${shard ?? '*'}`;

export class CrlService {
  private readonly latest = new Map<string, CrlRecord>();
  private readonly running = new Map<string, Promise<CrlRecord | null>>();
  private readonly pending = new Set<string>();
  /** Issuers whose complete CRL misses a revocation (rebuilt by the next tick). */
  private readonly dirty = new Set<string>();
  private rebuiltAll = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly retirement: IssuerRetirement;
  private readonly pool: PkiPool;

  constructor(private readonly o: CrlServiceOptions) {
    this.retirement = new IssuerRetirement({ store: o.store, clock: o.clock });
    this.pool = o.pool ?? new PkiPool(0);
  }

  get shards(): number { return this.o.shards ?? 1; }

  /** CA issuers whose key this node can reach and that are not retired. */
  private async signingCas(): Promise<IssuerRecord[]> {
    const out: IssuerRecord[] = [];
    for (const ca of this.o.ca.cas()) if (await this.o.ca.hasKey(ca) && await this.retirement.inService(ca)) out.push(ca);
    return out;
  }

  /** Every scope of an issuer: the complete CRL first, then each shard. */
  private scopes(): Shard[] {
    return [null, ...Array.from({ length: this.shards }, (_, i) => i)];
  }

  /** Builds, signs and saves one CRL: the complete CRL of an issuer, or one shard's. */
  async generate(issuerId: string, shard: Shard = null): Promise<CrlRecord> {
    const issuer = this.o.ca.get(issuerId);
    if (!issuer || issuer.kind === 'ocsp-signer') throw new Error(`no CA issuer ${issuerId}`);
    if (shard !== null && !(Number.isInteger(shard) && shard >= 0)) throw new Error(`invalid CRL shard ${String(shard)}`);
    const fence = this.o.gate?.leaderFence();
    const t0 = performance.now();
    const signer = await this.o.ca.signerFor(issuer);
    const number = await this.o.store.nextCrlNumber(issuer.id);
    const now = this.o.clock.now();
    const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + this.o.validityHours * 3_600_000);
    const read = await readEntryChunks(this.o.store.revokedChunks(issuer.id, now, shard ?? undefined), encodeRevokedEntry, yieldToEventLoop);
    const built = await this.pool.crlTbs({
      header: {
        algorithm: signer.algorithm, issuerNameDer: new Uint8Array(AsnConvert.serialize(parseIssuerName(issuer))), issuerSpki: signer.spki,
        crlNumber: number, thisUpdate, nextUpdate,
        // A shard names its own URL (RFC 5280 5.2.5); the complete CRL has no IDP: its scope is everything the issuer signed.
        ...(shard === null ? {} : { idpUrl: this.o.urls.crlShard(issuer.id, shard) }),
      },
      chunks: read.chunks, count: read.count, previewCount: read.firstChunkCount, issuerCertDer: issuer.certDer,
    });
    refuseCrl(built.errors);
    const signature = await signer.sign(built.tbsDer);
    const der = await this.pool.crlAssemble({ tbsDer: built.tbsDer, algorithm: signer.algorithm, signature });
    const rec: CrlRecord = { issuerId: issuer.id, number, thisUpdate, nextUpdate, der, entries: built.count, ...(shard === null ? {} : { shard }) };
    // (Complete CRLs only: the fencing test needs one paused leader write, not one per shard.)
    if (this.o.faultPauseBeforeSaveMs && shard === null) await new Promise((r) => setTimeout(r, this.o.faultPauseBeforeSaveMs));
    await this.o.store.saveCrl(rec, fence, this.o.retention);
    this.latest.set(scopeKey(issuer.id, shard), rec);
    if (shard === null) this.dirty.delete(issuer.id);
    const m = this.o.metrics;
    if (m) {
      m.crlGeneration.observe({ issuer: issuer.id }, (performance.now() - t0) / 1000);
      if (shard === null) {
        m.crlNumber.set({ issuer: issuer.id }, Number(number));
        m.crlEntries.set({ issuer: issuer.id }, built.count);
        m.crlNextUpdate.set({ issuer: issuer.id }, nextUpdate.getTime() / 1000);
      }
    }
    this.o.events.emit('crl', rec);
    return rec;
  }

  /** The shard CRLs of one issuer, one after the other. */
  async generateShards(issuerId: string): Promise<CrlRecord[]> {
    const out: CrlRecord[] = [];
    for (let shard = 0; shard < this.shards; shard++) out.push(await this.generate(issuerId, shard));
    return out;
  }

  /** Every CRL of every signing CA: the complete CRLs first, then the shards. */
  async generateAll(): Promise<CrlRecord[]> {
    const cas = await this.signingCas();
    const out: CrlRecord[] = [];
    for (const ca of cas) out.push(await this.generate(ca.id));
    for (const ca of cas) out.push(...await this.generateShards(ca.id));
    return out;
  }

  /**
   * After a revocation: its shard's CRL at once; the complete CRL at the next
   * tick (`complete`: at once too, for a process that has no ticks, the CLI).
   * A certificate without a shard (issued before sharding) is only in the
   * complete CRL, which is then rebuilt at once.
   */
  async afterRevocation(rec: Pick<CertificateRecord, 'issuerId' | 'crlShard'>, o: { complete?: boolean } = {}): Promise<CrlRecord | null> {
    const shard = rec.crlShard ?? null;
    if (shard === null) return this.trigger(rec.issuerId, null);
    this.dirty.add(rec.issuerId);
    const built = await this.trigger(rec.issuerId, shard);
    if (o.complete) await this.trigger(rec.issuerId, null);
    else this.soonComplete(rec.issuerId);
    return built;
  }

  private readonly completeAt = new Map<string, number>();
  private readonly completeTimers = new Map<string, NodeJS.Timeout>();

  /**
   * The complete CRL after a revocation: at once when none was built in the
   * last COMPLETE_MIN_INTERVAL_MS, else once that interval is over (one timer
   * per issuer): NSS relying parties and certificates from before sharding
   * see a revocation within seconds, and a storm of revocations rebuilds the
   * (large) complete CRL at most once per interval.
   */
  private soonComplete(issuerId: string): void {
    if (this.completeTimers.has(issuerId) || this.stopped) return;
    const wait = Math.max(0, (this.completeAt.get(issuerId) ?? 0) + COMPLETE_MIN_INTERVAL_MS - Date.now());
    const t = setTimeout(() => {
      this.completeTimers.delete(issuerId);
      this.completeAt.set(issuerId, Date.now());
      void this.trigger(issuerId, null);
    }, wait);
    t.unref();
    this.completeTimers.set(issuerId, t);
  }

  /** Coalescing trigger: at most one run in flight and one queued per scope. */
  trigger(issuerId: string, shard: Shard = null): Promise<CrlRecord | null> {
    if (this.stopped || (this.o.gate && !this.o.gate.isLeader())) return Promise.resolve(null);
    const key = scopeKey(issuerId, shard);
    const cur = this.running.get(key);
    if (cur) {
      this.pending.add(key);
      return cur.then(() => this.running.get(key) ?? null);
    }
    const run = (async (): Promise<CrlRecord | null> => {
      try {
        return await this.generate(issuerId, shard);
      } catch (e) {
        this.o.onError?.(e);
        return null;
      } finally {
        this.running.delete(key);
        if (this.pending.delete(key)) void this.trigger(issuerId, shard);
      }
    })();
    this.running.set(key, run);
    return run;
  }

  /** Waits until no generation is running or queued (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.all([...this.running.values()]);
  }

  /**
   * The latest published CRL of a scope (memory first, then storage): the
   * complete CRL without `shard`. With a CRL in memory, a store that does not
   * say within storeTimeoutMs whether a newer one exists (a database that
   * hangs), or fails, leaves the one in memory as the answer; so does a newer
   * one whose bytes take longer than 10 × storeTimeoutMs to read. With none in
   * memory the request waits for the store (there is nothing else to give).
   */
  async current(issuerId: string, shard: Shard = null): Promise<CrlRecord | null> {
    const key = scopeKey(issuerId, shard);
    const mem = this.latest.get(key);
    const s = shard ?? undefined;
    if (!mem) {
      const stored = await this.o.store.latestCrl(issuerId, s);
      if (stored && (this.latest.get(key)?.number ?? -1n) < stored.number) this.latest.set(key, stored);
      return this.latest.get(key) ?? null;
    }
    try {
      // A CRL can be tens of MB: read its bytes only when another node or process saved a newer one.
      const n = await this.fromStore(this.o.store.latestCrlNumber(issuerId, s));
      if (n === null || n <= mem.number) return mem;
      const stored = await this.fromStore(this.o.store.latestCrl(issuerId, s), 10);
      if (stored && stored.number > (this.latest.get(key)?.number ?? -1n)) this.latest.set(key, stored);
    } catch {
      // Not logged per request: the database health check reports a store that hangs or fails.
    }
    return this.latest.get(key) ?? mem;
  }

  /**
   * Regenerates CRLs that are missing, past half their validity or due, and
   * complete CRLs that miss a revocation; the first run as leader rebuilds
   * every CRL (revocations written while no node ran).
   */
  async refreshStale(): Promise<void> {
    if (this.o.gate && !this.o.gate.isLeader()) return;
    const first = !this.rebuiltAll;
    this.rebuiltAll = true;
    const now = this.o.clock.now().getTime();
    for (const ca of await this.signingCas()) {
      for (const shard of this.scopes()) {
        // Whether a scope is due needs its newest CRL's times, not its bytes (at 1M revoked the complete CRL is 47 MB
        // and the shards 3 MB each: reading them all held a start ~0.4 s at 10M). The bytes load on the first request.
        const cur = await this.newestMeta(ca.id, shard);
        const half = cur ? cur.thisUpdate.getTime() + (cur.nextUpdate.getTime() - cur.thisUpdate.getTime()) / 2 : 0;
        const due = cur ? cur.thisUpdate.getTime() + this.o.regenerateEveryMinutes * 60_000 : 0;
        const missing = shard === null && this.dirty.has(ca.id);
        if (!cur || now >= half || now >= due || missing) await this.trigger(ca.id, shard);
      }
    }
    // In the background, so that a node with many revocations is ready as fast as an empty one.
    if (first) void this.rebuildEverything().catch((e) => this.o.onError?.(e));
  }

  /** The newest CRL of a scope that this node has or the store holds, without its bytes. */
  private async newestMeta(issuerId: string, shard: Shard): Promise<Omit<CrlRecord, 'der'> | null> {
    const mem = this.latest.get(scopeKey(issuerId, shard));
    const read = this.o.store.latestCrlMeta(issuerId, shard ?? undefined);
    if (!mem) return read;
    // With one in memory, a store that hangs or fails leaves that one as the answer (as current() does).
    const stored = await this.fromStore(read).catch(() => null);
    return stored && stored.number > mem.number ? stored : mem;
  }

  /** A store read that must answer within `factor` × storeTimeoutMs (else RampartError 'unavailable'): callers with a CRL in memory keep it. */
  private fromStore<T>(read: Promise<T>, factor = 1): Promise<T> {
    const ms = factor * (this.o.storeTimeoutMs ?? 1500);
    return withDeadline(read, ms, () => new RampartError('unavailable', `no CRL from the store within ${ms} ms`));
  }

  /** Every scope of every signing CA, once (each trigger coalesces with a run already under way). */
  private async rebuildEverything(): Promise<void> {
    for (const ca of await this.signingCas()) for (const shard of this.scopes()) if (!this.stopped) await this.trigger(ca.id, shard);
  }

  start(): void {
    this.o.events.on('revoked', (rec) => { void this.afterRevocation(rec); });
    const tick = (): void => { void this.refreshStale().catch((e) => this.o.onError?.(e)); };
    this.timer = setInterval(tick, Math.min(this.o.regenerateEveryMinutes * 60_000, 60_000));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (const t of this.completeTimers.values()) clearTimeout(t);
    this.completeTimers.clear();
    await this.idle();
  }
}
