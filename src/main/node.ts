/**
 * Wires one Rampart node together from its configuration: storage, keys, CA,
 * RA, OCSP, CRL, audit, health, metrics. With src/cli the only place that
 * picks implementations and reads the environment.
 */
import pino, { type Logger } from 'pino';
import { AuditLog } from '../audit/audit-log.js';
import { TokenService } from '../auth/tokens.js';
import { CertificateAuthority } from '../ca/certificate-authority.js';
import { createHierarchy, type HierarchySpec } from '../ca/hierarchy.js';
import { caUrls, type CaUrls } from '../ca/urls.js';
import { systemClock, type Clock } from '../core/clock.js';
import { CaEvents } from '../core/events.js';
import type { RampartConfig } from '../config/schema.js';
import { resolvedPaths } from '../config/load.js';
import { CrlService } from '../crl/crl-service.js';
import { HealthRegistry } from '../health/health.js';
import { registerNodeChecks } from '../health/node-checks.js';
import type { KeyBackend } from '../keys/key-backend.js';
import { SoftwareKeyBackend } from '../keys/software/software-backend.js';
import { RampartMetrics } from '../metrics/metrics.js';
import { OcspResponder } from '../ocsp/responder.js';
import { IssuanceService } from '../ra/issuance.js';
import { RevocationService } from '../ra/revocation.js';
import type { ProfilePolicy } from '../ra/policy.js';
import { SqliteStore } from '../storage/sqlite/sqlite-store.js';
import type { Store } from '../storage/store.js';
import { SYSTEM_ACTOR, type Actor } from '../ra/actor.js';
import { loadKeySecret } from './key-secret.js';

export interface NodeOpenOptions {
  config: RampartConfig;
  clock?: Clock;
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  /** Create the key-encryption key file when missing (init and first run). */
  createSecret?: boolean;
}

export class RampartNode {
  readonly events = new CaEvents();
  readonly metrics = new RampartMetrics();
  readonly health = new HealthRegistry();
  readonly urls: CaUrls;
  readonly audit: AuditLog;
  readonly tokens: TokenService;
  readonly ca: CertificateAuthority;
  readonly issuance: IssuanceService;
  readonly revocation: RevocationService;
  readonly ocsp: OcspResponder;
  readonly crl: CrlService;
  private timers: NodeJS.Timeout[] = [];
  private revocationSeq = 0;
  private readonly handledLocally = new Set<string>();

  private constructor(
    readonly config: RampartConfig,
    readonly store: Store,
    readonly keys: KeyBackend,
    readonly secret: Uint8Array,
    readonly clock: Clock,
    readonly log: Logger,
    readonly paths: ReturnType<typeof resolvedPaths>,
  ) {
    this.urls = caUrls(config.publicBaseUrl);
    this.audit = new AuditLog({ store, clock });
    this.tokens = new TokenService({ store, clock });
    this.ca = new CertificateAuthority({ store, keys, clock, urls: this.urls });
    this.issuance = new IssuanceService({
      ca: this.ca, store, audit: this.audit, clock, events: this.events, profiles: config.profiles as Record<string, ProfilePolicy>,
    });
    this.revocation = new RevocationService({ store, audit: this.audit, clock, events: this.events });
    this.ocsp = new OcspResponder({
      ca: this.ca, store, clock, metrics: this.metrics, validitySeconds: config.ocsp.validitySeconds, refreshBeforeSeconds: config.ocsp.refreshBeforeSeconds,
    });
    this.crl = new CrlService({
      ca: this.ca, store, clock, events: this.events, urls: this.urls, metrics: this.metrics,
      validityHours: config.crl.validityHours, regenerateEveryMinutes: config.crl.regenerateEveryMinutes,
      onError: (e) => this.log.error({ err: e }, 'CRL generation failed'),
    });
    registerNodeChecks({
      health: this.health, store, keys, ca: this.ca, clock, dataDir: this.paths.dataDir,
      diskFreeMinBytes: config.health.diskFreeMinBytes, diskFreeCriticalBytes: config.health.diskFreeCriticalBytes,
      caExpiryWarnDays: config.health.caExpiryWarnDays, caExpiryCriticalDays: config.health.caExpiryCriticalDays,
    });
    // Revocation: drop the cached OCSP answer synchronously, then re-sign it.
    this.events.on('revoked', (rec) => {
      this.ocsp.invalidate(rec.issuerId, rec.serial);
      this.handledLocally.add(rec.serial);
      this.metrics.revoked.inc({ reason: String(rec.revocationReason ?? 0) });
      void this.ocsp.presign(rec.issuerId, rec.serial).catch((e) => this.log.warn({ err: e }, 'OCSP pre-sign failed'));
    });
    this.events.on('issued', (rec) => {
      this.metrics.issued.inc({ profile: rec.profile });
      void this.ocsp.presign(rec.issuerId, rec.serial).catch((e) => this.log.warn({ err: e }, 'OCSP pre-sign failed'));
    });
  }

  static async open(o: NodeOpenOptions): Promise<RampartNode> {
    const clock = o.clock ?? systemClock;
    const log = o.logger ?? pino({ level: o.config.log.level });
    const paths = resolvedPaths(o.config);
    const { secret } = loadKeySecret({
      passphraseEnv: o.config.keys.passphraseEnv, keyFile: paths.keyFile, env: o.env ?? process.env, create: o.createSecret ?? false,
    });
    const store = new SqliteStore({ path: paths.dbPath });
    await store.migrate();
    const keys = new SoftwareKeyBackend({ dir: paths.keysDir, secret });
    const node = new RampartNode(o.config, store, keys, secret, clock, log, paths);
    await node.ca.load();
    node.ocsp.reloadIssuers();
    await node.catchUpRevocations();
    return node;
  }

  hasHierarchy(): boolean {
    return this.ca.cas().some((c) => c.kind === 'intermediate' && c.active);
  }

  /** Creates the hierarchy (root, intermediate) and the OCSP signers. */
  async createHierarchy(spec: HierarchySpec, actor: Actor): Promise<void> {
    if (this.hasHierarchy()) throw new Error('a CA hierarchy already exists in this data directory');
    const { root, intermediate } = await createHierarchy({ spec, keys: this.keys, store: this.store, clock: this.clock, urls: this.urls });
    await this.audit.record({
      actor: actor.id, source: actor.source, channel: actor.channel, action: 'hierarchy.create', target: `issuer:${intermediate.id}`,
      outcome: 'success', details: { root: root.id, rootSubject: root.subject, intermediate: intermediate.id, intermediateSubject: intermediate.subject },
    });
    await this.ca.load();
    await this.ensureOcspSigners();
  }

  async ensureOcspSigners(): Promise<void> {
    const s = this.config.hierarchy.ocspSigner;
    const renewed = await this.ca.ensureOcspSigners({ algorithm: s.algorithm, validityDays: s.validityDays, renewBeforeDays: s.renewBeforeDays });
    if (renewed.length) {
      for (const id of renewed) {
        await this.audit.record({ ...actorFields(SYSTEM_ACTOR), action: 'ocsp-signer.issue', target: `issuer:${id}`, outcome: 'success' });
      }
      this.ocsp.reloadIssuers();
      this.events.emit('issuersChanged');
    }
  }

  /** Background jobs: CRL schedule, OCSP signer renewal, OCSP cache refresh, CA expiry metrics. */
  startJobs(): void {
    this.crl.start();
    const every = (ms: number, fn: () => Promise<unknown>): void => {
      const t = setInterval(() => { void fn().catch((e) => this.log.error({ err: e }, 'background job failed')); }, ms);
      t.unref();
      this.timers.push(t);
    };
    every(3_600_000, () => this.ensureOcspSigners());
    every(1_000, () => this.pollRevocations());
    every(60_000, () => this.ocsp.refreshExpiring());
    every(60_000, async () => this.updateExpiryMetrics());
    this.updateExpiryMetrics();
  }

  /** Skips revocation events recorded before this node started. */
  async catchUpRevocations(): Promise<void> {
    for (;;) {
      const batch = await this.store.revocationsSince(this.revocationSeq, 10_000);
      if (!batch.length) return;
      this.revocationSeq = batch[batch.length - 1]!.seq;
    }
  }

  /**
   * Picks up revocations made by other processes (the CLI, other nodes):
   * drops their cached OCSP answers and refreshes the CRL.
   */
  async pollRevocations(): Promise<number> {
    const batch = await this.store.revocationsSince(this.revocationSeq, 1000);
    const issuers = new Set<string>();
    for (const ev of batch) {
      this.revocationSeq = ev.seq;
      if (this.handledLocally.delete(ev.serial)) continue;
      this.ocsp.invalidate(ev.issuerId, ev.serial);
      issuers.add(ev.issuerId);
    }
    for (const id of issuers) void this.crl.trigger(id);
    return batch.length;
  }

  updateExpiryMetrics(): void {
    for (const i of this.ca.all()) this.metrics.caExpiry.set({ issuer: i.id, kind: i.kind }, i.notAfter.getTime() / 1000);
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.crl.stop();
    await this.store.close();
  }
}

export function actorFields(a: Actor) {
  return { actor: a.id, source: a.source, channel: a.channel };
}
