/**
 * CRL generation and publication. CRL numbers come from a database counter,
 * so they strictly increase across restarts (and, later, across nodes).
 * Generation streams the revoked entries from storage. A revocation triggers
 * regeneration at once; concurrent triggers for one issuer coalesce into one
 * run after the current one. Scheduled generation covers the CAs whose key is
 * on this node and that are still in service (src/ca/retirement.ts): a retired
 * intermediate keeps its last CRL, an offline root's CRL is imported.
 */
import type { CertificateAuthority } from '../../ca/certificate-authority.js';
import { parseIssuerName } from '../../ca/certificate-authority.js';
import { IssuerRetirement } from '../../ca/retirement.js';
import { crlPreflight } from '../../ca/lint-gate.js';
import type { Clock } from '../../core/clock.js';
import type { CaEvents } from '../../core/events.js';
import type { CrlRecord, IssuerRecord } from '../../core/types.js';
import type { RampartMetrics } from '../../metrics/metrics.js';
import { buildCrl } from '../../pki/crl-builder.js';
import type { CaUrls } from '../../ca/urls.js';
import type { CertificateStore, CrlStore } from '../../storage/store.js';
import type { WriteGate } from '../../cluster/cluster.js';

export interface CrlServiceOptions {
  ca: CertificateAuthority;
  store: CertificateStore & CrlStore;
  clock: Clock;
  events: CaEvents;
  /** Where the CRLs are published (not written into them: they carry no Issuing Distribution Point). */
  urls: CaUrls;
  metrics?: RampartMetrics;
  validityHours: number;
  regenerateEveryMinutes: number;
  /** Cluster gate: only the leader publishes, with its fencing token. */
  gate?: WriteGate;
  /** Fault injection for the fencing test: pause between building and saving a CRL. */
  faultPauseBeforeSaveMs?: number;
  onError?: (e: unknown) => void;
}

export class CrlService {
  private readonly latest = new Map<string, CrlRecord>();
  private readonly running = new Map<string, Promise<CrlRecord | null>>();
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly retirement: IssuerRetirement;

  constructor(private readonly o: CrlServiceOptions) {
    this.retirement = new IssuerRetirement({ store: o.store, clock: o.clock });
  }

  /** CA issuers whose key this node can reach and that are not retired. */
  private async signingCas(): Promise<IssuerRecord[]> {
    const out: IssuerRecord[] = [];
    for (const ca of this.o.ca.cas()) if (await this.o.ca.hasKey(ca) && await this.retirement.inService(ca)) out.push(ca);
    return out;
  }

  async generate(issuerId: string): Promise<CrlRecord> {
    const issuer = this.o.ca.get(issuerId);
    if (!issuer || issuer.kind === 'ocsp-signer') throw new Error(`no CA issuer ${issuerId}`);
    const fence = this.o.gate?.leaderFence();
    const t0 = performance.now();
    const signer = await this.o.ca.signerFor(issuer);
    const number = await this.o.store.nextCrlNumber(issuer.id);
    const now = this.o.clock.now();
    const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + this.o.validityHours * 3_600_000);
    const { der, count } = await buildCrl({
      signer, issuerName: parseIssuerName(issuer), issuerSpki: signer.spki, crlNumber: number, thisUpdate, nextUpdate,
      // A complete CRL without an Issuing Distribution Point (its scope: every
      // certificate of this issuer, the issuer itself for a root): the one
      // encoding OpenSSL, GnuTLS and NSS all accept (docs/DESIGN.md, "Revocation, OCSP and CRLs").
      revoked: this.o.store.iterateRevoked(issuer.id, now),
      preflight: crlPreflight(issuer.certDer),
    });
    const rec: CrlRecord = { issuerId: issuer.id, number, thisUpdate, nextUpdate, der, entries: count };
    if (this.o.faultPauseBeforeSaveMs) await new Promise((r) => setTimeout(r, this.o.faultPauseBeforeSaveMs));
    await this.o.store.saveCrl(rec, fence);
    this.latest.set(issuer.id, rec);
    const m = this.o.metrics;
    if (m) {
      m.crlGeneration.observe({ issuer: issuer.id }, (performance.now() - t0) / 1000);
      m.crlNumber.set({ issuer: issuer.id }, Number(number));
      m.crlEntries.set({ issuer: issuer.id }, count);
      m.crlNextUpdate.set({ issuer: issuer.id }, nextUpdate.getTime() / 1000);
    }
    this.o.events.emit('crl', rec);
    return rec;
  }

  async generateAll(): Promise<CrlRecord[]> {
    const out: CrlRecord[] = [];
    for (const ca of await this.signingCas()) out.push(await this.generate(ca.id));
    return out;
  }

  /** Coalescing trigger: at most one run in flight and one queued per issuer. */
  trigger(issuerId: string): Promise<CrlRecord | null> {
    if (this.o.gate && !this.o.gate.isLeader()) return Promise.resolve(null);
    const cur = this.running.get(issuerId);
    if (cur) {
      this.pending.add(issuerId);
      return cur.then(() => this.running.get(issuerId) ?? null);
    }
    const run = (async (): Promise<CrlRecord | null> => {
      try {
        return await this.generate(issuerId);
      } catch (e) {
        this.o.onError?.(e);
        return null;
      } finally {
        this.running.delete(issuerId);
        if (this.pending.delete(issuerId)) void this.trigger(issuerId);
      }
    })();
    this.running.set(issuerId, run);
    return run;
  }

  /** Waits until no generation is running or queued (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.all([...this.running.values()]);
  }

  /** The latest published CRL of an issuer (memory first, then storage). */
  async current(issuerId: string): Promise<CrlRecord | null> {
    const mem = this.latest.get(issuerId);
    const stored = await this.o.store.latestCrl(issuerId);
    if (stored && (!mem || stored.number > mem.number)) this.latest.set(issuerId, stored);
    return this.latest.get(issuerId) ?? null;
  }

  /** Regenerates CRLs that are missing or past half their validity. */
  async refreshStale(): Promise<void> {
    if (this.o.gate && !this.o.gate.isLeader()) return;
    const now = this.o.clock.now().getTime();
    for (const ca of await this.signingCas()) {
      const cur = await this.current(ca.id);
      const half = cur ? cur.thisUpdate.getTime() + (cur.nextUpdate.getTime() - cur.thisUpdate.getTime()) / 2 : 0;
      const due = cur ? cur.thisUpdate.getTime() + this.o.regenerateEveryMinutes * 60_000 : 0;
      if (!cur || now >= half || now >= due) await this.trigger(ca.id);
    }
  }

  start(): void {
    this.o.events.on('revoked', (rec) => { void this.trigger(rec.issuerId); });
    const tick = (): void => { void this.refreshStale().catch((e) => this.o.onError?.(e)); };
    this.timer = setInterval(tick, Math.min(this.o.regenerateEveryMinutes * 60_000, 60_000));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.idle();
  }
}
