/**
 * The node's issuers over time: creating the hierarchy, issuing and renewing
 * delegated OCSP signers, taking an imported or rotated intermediate into
 * service, and picking up issuers changed by another process. Every change
 * emits `issuersChanged` (the OCSP responder rebuilds its CertID index on it).
 */
import type { AuditLog } from '../audit/audit-log.js';
import { actorFields, SYSTEM_ACTOR, type Actor } from '../core/actor.js';
import type { Clock } from '../core/clock.js';
import type { CaEvents } from '../core/events.js';
import { Periodic } from '../core/periodic.js';
import type { KeyBackend } from '../keys/key-backend.js';
import type { Store } from '../storage/store.js';
import type { IssuerRecord } from '../core/types.js';
import type { RampartMetrics } from '../metrics/metrics.js';
import type { CaBundle } from './ca-bundle.js';
import type { CertificateAuthority, OcspSignerSpec } from './certificate-authority.js';
import { createHierarchy, type HierarchySpec } from './hierarchy.js';
import { applyIntermediateImport, planIntermediateImport, type IntermediateImportPlan } from './intermediate-import.js';
import { listPendingIntermediates } from './pending-intermediates.js';
import { IssuerRetirement } from './retirement.js';
import type { CaUrls } from './urls.js';

export interface IssuerLifecycleOptions {
  ca: CertificateAuthority;
  keys: KeyBackend;
  store: Store;
  audit: AuditLog;
  clock: Clock;
  urls: CaUrls;
  events: CaEvents;
  metrics: RampartMetrics;
  ocspSigner: OcspSignerSpec;
  /** Publishes the first CRL of a newly imported intermediate (the CRL service). */
  publishCrl: (issuerId: string) => Promise<unknown>;
  /** Whether this node holds the leader lease (or is a single node): the hourly signer renewal runs there. */
  isLeader: () => boolean;
  onError: (e: unknown) => void;
}

export class IssuerLifecycle {
  private readonly jobs: Periodic;

  constructor(private readonly o: IssuerLifecycleOptions) {
    this.jobs = new Periodic(o.onError);
  }

  hasHierarchy(): boolean {
    return this.o.ca.cas().some((c) => c.kind === 'intermediate' && c.active);
  }

  /** Creates the hierarchy (root, intermediate) and the OCSP signers. */
  async createHierarchy(spec: HierarchySpec, actor: Actor): Promise<void> {
    if (this.hasHierarchy()) throw new Error('a CA hierarchy already exists in this data directory');
    const { root, intermediate } = await createHierarchy({ spec, keys: this.o.keys, store: this.o.store, clock: this.o.clock, urls: this.o.urls });
    await this.o.audit.record({
      actor: actor.id, source: actor.source, channel: actor.channel, action: 'hierarchy.create', target: `issuer:${intermediate.id}`,
      outcome: 'success', details: { root: root.id, rootSubject: root.subject, intermediate: intermediate.id, intermediateSubject: intermediate.subject },
    });
    await this.o.ca.load();
    await this.ensureOcspSigners();
  }

  /**
   * `rampart pki rebuild` after a root loss, with the root online: a new root
   * and intermediate (the intermediate becomes the active issuer); the old
   * ones stay, inactive, serving OCSP and CRLs until the campaign ends.
   */
  async createReplacementHierarchy(spec: HierarchySpec, actor: Actor): Promise<{ root: IssuerRecord; intermediate: IssuerRecord }> {
    const created = await createHierarchy({ spec, keys: this.o.keys, store: this.o.store, clock: this.o.clock, urls: this.o.urls });
    await this.o.audit.record({
      ...actorFields(actor), action: 'pki.rebuild', target: `issuer:${created.intermediate.id}`, outcome: 'success',
      details: { root: created.root.id, rootSubject: created.root.subject, intermediate: created.intermediate.id, intermediateSubject: created.intermediate.subject },
    });
    await this.o.ca.load();
    this.o.events.emit('issuersChanged');
    await this.ensureOcspSigners();
    await this.o.publishCrl(created.intermediate.id).catch(() => undefined);
    this.o.events.emit('issuersChanged');
    return created;
  }

  /** Issues or renews the OCSP signer of every CA still in service. */
  async ensureOcspSigners(): Promise<void> {
    // Retired intermediates (inactive, nothing unexpired left) get no new OCSP signer.
    const retirement = new IssuerRetirement({ store: this.o.store, clock: this.o.clock });
    const renewed = await this.o.ca.ensureOcspSigners(this.o.ocspSigner, (ca) => retirement.inService(ca));
    if (renewed.length) {
      for (const id of renewed) {
        await this.o.audit.record({ ...actorFields(SYSTEM_ACTOR), action: 'ocsp-signer.issue', target: `issuer:${id}`, outcome: 'success' });
      }
      this.o.events.emit('issuersChanged');
    }
  }

  /**
   * Takes an intermediate CA certificate into service (`rampart ca import`,
   * `rampart ca rotate`): checked by intermediate-import.ts, stored as the
   * active issuer, then its OCSP signer is issued and its first CRL
   * published. The previous intermediate stays, inactive, and keeps serving
   * OCSP and CRLs for what it issued. A running node picks the change up
   * from the database within 30 s (watch()).
   */
  async importIntermediate(bundle: CaBundle, actor: Actor, action: 'ca.import' | 'ca.rotate' | 'pki.rebuild' = 'ca.import', opts: { newRoot?: boolean } = {}): Promise<IntermediateImportPlan> {
    let plan: IntermediateImportPlan;
    try {
      plan = await planIntermediateImport({
        bundle, ca: this.o.ca, keys: this.o.keys, pending: await listPendingIntermediates(this.o.store), latestCrl: (id) => this.o.store.latestCrl(id),
        urls: this.o.urls, now: this.o.clock.now(), newRoot: opts.newRoot,
      });
      await applyIntermediateImport(plan, this.o.store);
    } catch (e) {
      await this.o.audit.record({ ...actorFields(actor), action, target: 'issuer:intermediate', outcome: 'failure', details: { error: (e as Error).message } });
      throw e;
    }
    const i = plan.intermediate;
    await this.o.audit.record({
      ...actorFields(actor), action, target: `issuer:${i.id}`, outcome: 'success',
      details: {
        subject: i.subject, notBefore: i.notBefore.toISOString(), notAfter: i.notAfter.toISOString(), keyRef: i.keyRef, root: plan.root.id,
        rootKey: plan.root.keyBackend, rootCreated: plan.rootIsNew, previous: plan.previous?.id ?? null, rootCrl: plan.rootCrl?.number.toString() ?? null,
      },
    });
    await this.o.ca.load();
    this.o.events.emit('issuersChanged');
    await this.ensureOcspSigners();
    try {
      await this.o.publishCrl(i.id);
    } catch (e) {
      plan.notes.push(`the first CRL of ${i.id} was not published now (${(e as Error).message}); the CRL schedule publishes it`);
    }
    this.o.events.emit('issuersChanged');
    return plan;
  }

  /** Reloads the issuers from the database; emits issuersChanged when another process changed them. */
  async reload(): Promise<void> {
    // Order-free: the list in memory (signers appended as issued) and the one loaded from the database may
    // differ in order only, which is no change (and must not flush the OCSP cache).
    const sig = (): string => this.o.ca.all().map((i) => `${i.id}:${i.active ? 1 : 0}:${i.keyRef}`).sort().join(',');
    const before = sig();
    await this.o.ca.load();
    if (sig() !== before) this.o.events.emit('issuersChanged');
  }

  updateExpiryMetrics(): void {
    for (const i of this.o.ca.all()) this.o.metrics.caExpiry.set({ issuer: i.id, kind: i.kind }, i.notAfter.getTime() / 1000);
  }

  /**
   * Background work: hourly OCSP signer renewal on the leader; issuers changed
   * by another process (`rampart ca import|rotate`, another node) picked up
   * every 30 s, on a single node too; CA expiry metrics every minute.
   */
  start(): void {
    this.jobs.every(3_600_000, async () => { if (this.o.isLeader()) await this.ensureOcspSigners(); });
    this.jobs.every(30_000, () => this.reload());
    this.jobs.every(60_000, () => this.updateExpiryMetrics());
    this.updateExpiryMetrics();
  }

  stop(): void {
    this.jobs.stop();
  }
}
