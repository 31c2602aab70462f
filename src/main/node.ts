/**
 * Wires one Rampart node together from its configuration: storage, keys, CA,
 * RA, OCSP, CRL, audit, health, metrics. With src/cli the only place that
 * picks implementations and reads the environment.
 */
import pino, { type Logger } from 'pino';
import { AuditLog } from '../audit/audit-log.js';
import { TokenService } from '../auth/tokens.js';
import { OperatorService } from '../auth/operators.js';
import { CertificateAuthority } from '../ca/certificate-authority.js';
import { createHierarchy, type HierarchySpec } from '../ca/hierarchy.js';
import type { CaBundle } from '../ca/ca-bundle.js';
import { applyIntermediateImport, planIntermediateImport, type IntermediateImportPlan } from '../ca/intermediate-import.js';
import { listPendingIntermediates } from '../ca/pending-intermediates.js';
import { IssuerRetirement } from '../ca/retirement.js';
import { caUrls, type CaUrls } from '../ca/urls.js';
import { systemClock, type Clock } from '../core/clock.js';
import { CaEvents } from '../core/events.js';
import type { RampartConfig } from '../config/schema.js';
import { resolvedPaths } from '../config/load.js';
import { CrlService } from '../validation/crl/crl-service.js';
import { HealthRegistry } from '../health/health.js';
import { registerDiskCheck } from '../health/disk-check.js';
import { registerDatabaseCheck } from '../storage/database-check.js';
import { registerKeyBackendCheck } from '../keys/key-backend-check.js';
import { registerCaExpiryCheck } from '../ca/ca-expiry-check.js';
import { registerAuditWriteCheck } from '../audit/audit-write-check.js';
import { registerBackupCheck } from '../backup/backup-check.js';
import { BackupScheduler } from '../backup/backup-schedule.js';
import { backupServiceFor } from './backup-wiring.js';
import { registerDrillCheck } from '../dr/drill-check.js';
import { setUpAuditMonitoring } from '../audit/audit-monitoring.js';
import type { AuditForwarder } from '../audit/forward/audit-forwarder.js';
import type { KeyBackend } from '../keys/key-backend.js';
import { SoftwareKeyBackend } from '../keys/software/software-backend.js';
import { openPkcs11Backend } from '../keys/pkcs11/from-config.js';
import { RampartMetrics } from '../metrics/metrics.js';
import { OcspResponder } from '../validation/ocsp/ocsp-responder.js';
import { IssuanceService } from '../ra/issuance.js';
import { RevocationService } from '../ra/revocation.js';
import type { ProfilePolicy } from '../ra/policy.js';
import { createStore } from '../storage/create-store.js';

import type { Store } from '../storage/store.js';
import type { CertificateRecord } from '../core/types.js';
import { SYSTEM_ACTOR, type Actor } from '../core/actor.js';
import { loadKeySecret } from '../keys/node-secret.js';
import { Cluster, defaultNodeId } from '../cluster/cluster.js';
import { DatabaseKeyStore } from '../keys/software/database-key-store.js';
import { parseListen } from '../config/schema.js';
import type { HealthStatus } from '../health/health.js';
import { RampartError } from '../core/errors.js';
import { AcmeServer } from '../acme/acme-server.js';
import { EabKeys } from '../acme/eab.js';
import { RateLimiter } from '../acme/rate-limits.js';
import { createValidator } from '../acme/validation/create-validator.js';
import type { WriteGate } from '../cluster/cluster.js';
import { RegionMonitor, type PeerStatus, type RegionStatus } from '../region/region-monitor.js';
import { RegionGate } from '../region/region-gate.js';
import { registerRegionCheck } from '../region/region-check.js';
import { registerRegionMetrics } from '../region/region-metrics.js';
import { sqlDatabaseOf } from '../storage/sql-database.js';

export const RAMPART_VERSION = '0.1.0';

export interface NodeOpenOptions {
  config: RampartConfig;
  clock?: Clock;
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  /** Create the key-encryption key file when missing (init and first run). */
  createSecret?: boolean;
  /** Start cluster membership (serve); CLI commands only read the cluster state. */
  joinCluster?: boolean;
}

export class RampartNode {
  readonly events = new CaEvents();
  readonly metrics = new RampartMetrics();
  readonly health = new HealthRegistry();
  readonly urls: CaUrls;
  readonly audit: AuditLog;
  readonly tokens: TokenService;
  readonly operators: OperatorService;
  readonly ca: CertificateAuthority;
  readonly issuance: IssuanceService;
  readonly revocation: RevocationService;
  readonly ocsp: OcspResponder;
  readonly crl: CrlService;
  readonly cluster: Cluster;
  /** Multi-region deployments only: this node's region view and decision. */
  readonly region: RegionMonitor | null;
  /** What issuance, revocation and CRL publication ask before writing (cluster leases, and the region). */
  readonly gate: WriteGate;
  /** The ACME server (null when acme.enabled is false). */
  readonly acme: AcmeServer | null;
  readonly eab: EabKeys;
  /** Follows the audit table to the `audit.forward` destinations (ticked on the leader). */
  readonly auditForwarder: AuditForwarder;
  private lastHealth: HealthStatus | 'starting' = 'starting';
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
    env: NodeJS.ProcessEnv,
    region: RegionMonitor | null = null,
  ) {
    this.region = region;
    this.urls = caUrls(config.publicBaseUrl);
    const h = parseListen(config.http.listen)!;
    const t = parseListen(config.https.listen)!;
    const host = (x: string) => (x.includes(':') ? `[${x}]` : x);
    this.cluster = new Cluster({
      store, mode: config.cluster.mode, nodeId: config.cluster.nodeId ?? defaultNodeId(config.http.listen),
      takeoverSeconds: config.cluster.takeoverSeconds, heartbeatSeconds: config.cluster.heartbeatSeconds,
      version: RAMPART_VERSION, roles: ['api', 'ra', 'ca', 'ocsp', 'crl'],
      urls: () => ({ httpUrl: `http://${host(h.host)}:${h.port}`, httpsUrl: `https://${host(t.host)}:${t.port}` }),
      health: () => this.lastHealth,
      onLeadership: (lease, held, st) => {
        this.log.info({ lease, held, epoch: st?.epoch?.toString(), holder: st?.holder }, held ? 'lease acquired' : 'lease lost');
        this.metrics.leader.set(held ? 1 : 0);
        if (held) void this.onLeader().catch((e) => this.log.error({ err: e }, 'leader start-up work failed'));
      },
      onError: (e) => this.log.warn({ err: e }, 'cluster round failed'),
      // On a read-only replica (a region not promoted) leases and the registry leave the database alone.
      enabled: () => !region || region.status().dbRole !== 'replica',
    });
    this.gate = region ? new RegionGate(this.cluster, region) : this.cluster;
    const faultPause = Number(env.RAMPART_FAULT_PAUSE_BEFORE_LEADER_WRITE_MS ?? 0);
    this.audit = new AuditLog({
      store, clock, readOnly: () => region?.isReplica() ?? false,
      offChain: (e) => log.warn({ audit: { ...e, time: e.time.toISOString() } }, `audit (not chained: this region's database is a read-only replica): ${e.action} ${e.outcome}`),
    });
    this.tokens = new TokenService({ store, clock });
    this.operators = new OperatorService({ store, tokens: this.tokens, clock });
    this.ca = new CertificateAuthority({ store, keys, clock, urls: this.urls });
    this.issuance = new IssuanceService({
      ca: this.ca, store, audit: this.audit, clock, events: this.events, profiles: config.profiles as Record<string, ProfilePolicy>, gate: this.gate,
    });
    this.revocation = new RevocationService({ store, audit: this.audit, clock, events: this.events, gate: this.gate });
    this.ocsp = new OcspResponder({
      ca: this.ca, store, clock, metrics: this.metrics, validitySeconds: config.ocsp.validitySeconds, refreshBeforeSeconds: config.ocsp.refreshBeforeSeconds,
    });
    this.crl = new CrlService({
      ca: this.ca, store, clock, events: this.events, urls: this.urls, metrics: this.metrics,
      validityHours: config.crl.validityHours, regenerateEveryMinutes: config.crl.regenerateEveryMinutes,
      onError: (e) => {
        if (e instanceof RampartError && e.code === 'fenced') this.metrics.fencedWrites.inc();
        // A region that is not the active one publishes no CRLs: expected, not an error.
        if (e instanceof RampartError && e.code === 'notWritable') this.log.info({ reason: e.message }, 'CRL not published: this node does not write now');
        else this.log.error({ err: e }, 'CRL generation failed');
      },
      gate: this.gate, faultPauseBeforeSaveMs: Number.isFinite(faultPause) && faultPause > 0 ? faultPause : undefined,
    });
    this.eab = new EabKeys({ store, secret, clock });
    const acmeProfile = (config.profiles as Record<string, ProfilePolicy>)[config.acme.profile];
    if (config.acme.enabled && !acmeProfile) throw new Error(`acme.profile "${config.acme.profile}" is not a configured certificate profile (known: ${Object.keys(config.profiles).join(', ')})`);
    this.acme = config.acme.enabled && acmeProfile ? new AcmeServer({
      store, clock, settings: config.acme, profile: acmeProfile, issuance: this.issuance, revocation: this.revocation, ca: this.ca,
      audit: this.audit, validator: createValidator(config.acme.validation), limits: new RateLimiter(store, clock, config.acme.rateLimits),
      eab: this.eab, log, canWrite: () => this.canWrite(),
      onValidation: (type, outcome) => this.metrics.acmeValidations.inc({ type, outcome }),
    }, secret) : null;
    registerDatabaseCheck({ health: this.health, store });
    registerKeyBackendCheck({ health: this.health, keys });
    registerDiskCheck({ health: this.health, dataDir: this.paths.dataDir, diskFreeMinBytes: config.health.diskFreeMinBytes, diskFreeCriticalBytes: config.health.diskFreeCriticalBytes });
    registerCaExpiryCheck({ health: this.health, store, ca: this.ca, clock, caExpiryWarnDays: config.health.caExpiryWarnDays, caExpiryCriticalDays: config.health.caExpiryCriticalDays });
    registerAuditWriteCheck({ health: this.health, store, readOnlyReplica: () => region?.isReplica() ?? false });
    registerBackupCheck({ health: this.health, store, clock, scheduleMinutes: config.backup.scheduleMinutes, ageWarnMarginMinutes: config.backup.ageWarnMarginMinutes });
    registerDrillCheck({ health: this.health, store, clock, metrics: this.metrics, config });
    this.auditForwarder = setUpAuditMonitoring({
      config: config.audit, dataDir: this.paths.dataDir, store, clock, log, health: this.health, registry: this.metrics.registry,
      context: () => ({ node: this.cluster.nodeId, ca: this.ca.cas().find((c) => c.kind === 'intermediate' && c.active)?.subject ?? null }),
    });
    if (region && config.regions) {
      registerRegionCheck({ health: this.health, region, lagWarnSeconds: config.regions.lagWarnSeconds, lagCriticalSeconds: config.regions.lagCriticalSeconds });
      registerRegionMetrics(this.metrics.registry, region);
    }
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
    const store = createStore(o.config, paths, { env: o.env ?? process.env, applicationName: `rampart ${o.config.cluster.nodeId ?? ''}`.trim(), onRetry: (e) => log.warn({ retry: e }, 'database retry') });
    let region: RegionMonitor | null = null;
    let leader: () => boolean = () => false;
    // Fences seen before the node (and its audit log) exist are recorded once it does.
    const early: Array<[PeerStatus, RegionStatus]> = [];
    let fenced: (by: PeerStatus, s: RegionStatus) => void = (by, s) => { early.push([by, s]); };
    if (o.config.regions) {
      const pool = sqlDatabaseOf(store);
      if (!pool || o.config.cluster.mode === 'single') {
        await store.close();
        throw new Error('regions need database.type postgres and cluster.mode active-active or active-passive');
      }
      const db = o.config.database;
      region = new RegionMonitor({
        config: o.config.regions, pool, peerDefaults: { database: db.database, user: db.user, passwordEnv: db.passwordEnv },
        env: o.env ?? process.env, nodeId: o.config.cluster.nodeId ?? defaultNodeId(o.config.http.listen), isLeader: () => leader(), log,
        onFenced: (by, s) => fenced(by, s),
        onChange: (s, p) => log.warn({ region: s.region, dbRole: s.dbRole, writable: s.writable, fenced: s.fenced, active: s.activeRegion, epoch: s.epoch, was: { dbRole: p.dbRole, writable: p.writable } }, `region: ${s.reason}`),
      });
    }
    try {
      await store.migrate();
      // Before anything else: whether this region's database is a replica decides what the node may write.
      if (region) await region.tick();
    } catch (e) {
      await region?.stop();
      await store.close();
      throw e;
    }
    // One node keeps sealed keys in its data directory; a cluster keeps them in the shared database; an HSM keeps its own.
    let keys: KeyBackend;
    try {
      keys = o.config.keys.backend === 'pkcs11'
        ? await openPkcs11Backend(o.config.keys.pkcs11, { dataDir: paths.dataDir, env: o.env ?? process.env, log })
        : store.kind === 'sqlite'
          ? new SoftwareKeyBackend({ dir: paths.keysDir, secret })
          : new SoftwareKeyBackend({ blobs: new DatabaseKeyStore(store), secret });
    } catch (e) {
      await region?.stop();
      await store.close();
      throw e;
    }
    const node = new RampartNode(o.config, store, keys, secret, clock, log, paths, o.env ?? process.env, region);
    leader = () => node.cluster.isLeader();
    fenced = (by, s) => {
      void node.audit.record({
        actor: 'system', source: node.cluster.nodeId, channel: 'system', action: 'region.fenced', target: `region:${s.region}`, outcome: 'success',
        details: { activeRegion: by.region, epoch: by.epoch, peerTimeline: by.timeline, ownTimeline: s.timeline, reason: s.reason },
      }).catch((e) => log.error({ err: e }, 'could not audit the fence of this region'));
    };
    for (const [by, s] of early.splice(0)) fenced(by, s);
    try {
      await node.ca.load();
      node.ocsp.reloadIssuers();
      await node.catchUpRevocations();
    } catch (e) {
      // Close what was opened (PKCS#11 signing threads still loading the module crashed the
      // process at exit when it left with them running, e.g. after "key not found").
      await node.close().catch((c) => log.warn({ err: c }, 'could not close the node after a failed start'));
      throw e;
    }
    return node;
  }

  hasHierarchy(): boolean {
    return this.ca.cas().some((c) => c.kind === 'intermediate' && c.active);
  }

  noteHealth(s: HealthStatus): void { this.lastHealth = s; }

  /** Whether this node accepts issuance and revocation now (standbys in active-passive mode do not). */
  canWrite(): boolean { return this.gate.canWrite(); }

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
    // Retired intermediates (inactive, nothing unexpired left) get no new OCSP signer.
    const retirement = new IssuerRetirement({ store: this.store, clock: this.clock });
    const renewed = await this.ca.ensureOcspSigners({ algorithm: s.algorithm, validityDays: s.validityDays, renewBeforeDays: s.renewBeforeDays }, (ca) => retirement.inService(ca));
    if (renewed.length) {
      for (const id of renewed) {
        await this.audit.record({ ...actorFields(SYSTEM_ACTOR), action: 'ocsp-signer.issue', target: `issuer:${id}`, outcome: 'success' });
      }
      this.ocsp.reloadIssuers();
      this.events.emit('issuersChanged');
    }
  }

  /**
   * Takes an intermediate CA certificate into service (`rampart ca import`,
   * `rampart ca rotate`): checked by src/ca/intermediate-import.ts, stored as
   * the active issuer, then its OCSP signer is issued and its first CRL
   * published. The previous intermediate stays, inactive, and keeps serving
   * OCSP and CRLs for what it issued. A running single node picks the change
   * up when it restarts; cluster nodes reload issuers every 30 s.
   */
  async importIntermediate(bundle: CaBundle, actor: Actor, action: 'ca.import' | 'ca.rotate' = 'ca.import'): Promise<IntermediateImportPlan> {
    let plan: IntermediateImportPlan;
    try {
      plan = await planIntermediateImport({
        bundle, ca: this.ca, keys: this.keys, pending: await listPendingIntermediates(this.store), latestCrl: (id) => this.store.latestCrl(id), urls: this.urls, now: this.clock.now(),
      });
      await applyIntermediateImport(plan, this.store);
    } catch (e) {
      await this.audit.record({ ...actorFields(actor), action, target: 'issuer:intermediate', outcome: 'failure', details: { error: (e as Error).message } });
      throw e;
    }
    const i = plan.intermediate;
    await this.audit.record({
      ...actorFields(actor), action, target: `issuer:${i.id}`, outcome: 'success',
      details: {
        subject: i.subject, notBefore: i.notBefore.toISOString(), notAfter: i.notAfter.toISOString(), keyRef: i.keyRef, root: plan.root.id,
        rootKey: plan.root.keyBackend, rootCreated: plan.rootIsNew, previous: plan.previous?.id ?? null, rootCrl: plan.rootCrl?.number.toString() ?? null,
      },
    });
    await this.ca.load();
    this.ocsp.reloadIssuers();
    await this.ensureOcspSigners();
    try {
      await this.crl.generate(i.id);
    } catch (e) {
      plan.notes.push(`the first CRL of ${i.id} was not published now (${(e as Error).message}); the CRL schedule publishes it`);
    }
    this.events.emit('issuersChanged');
    return plan;
  }

  /** Background jobs: CRL schedule, OCSP signer renewal, OCSP cache refresh, CA expiry metrics. */
  /** Work the leader does when it gains the lease: renew OCSP signers, publish stale CRLs. */
  private async onLeader(): Promise<void> {
    if (!this.hasHierarchy()) return;
    await this.ensureOcspSigners();
    await this.crl.refreshStale();
  }

  /**
   * First run: creates the dev hierarchy and an admin token. In a cluster only
   * the lease holder does it; the others wait for it to appear. Returns the
   * one-time admin token when this node created it.
   */
  async bootstrap(): Promise<string | null> {
    if (this.hasHierarchy()) return null;
    if (this.region?.isReplica()) {
      throw new Error(`region ${this.region.region}'s database is a replica with no CA hierarchy yet: start the primary region's nodes first (they create it), then this one`);
    }
    const pending = await listPendingIntermediates(this.store);
    if (pending.length) {
      throw new Error(`this data directory is waiting for its intermediate CA (${pending.map((p) => `"${p.subject}" requested ${p.createdAt}`).join(', ')}): `
        + 'sign the request with `rampart root sign` and run `rampart ca import --bundle FILE`; no dev hierarchy is created meanwhile');
    }
    if (this.cluster.mode !== 'single') {
      const deadline = Date.now() + 120_000;
      for (;;) {
        await this.cluster.tick();
        await this.ca.load();
        if (this.hasHierarchy()) { this.ocsp.reloadIssuers(); return null; }
        if (this.cluster.isLeader()) break;
        if (Date.now() > deadline) throw new Error('no CA hierarchy appeared in the shared database: is another node bootstrapping it, or run `rampart init`');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    await this.createHierarchy(this.config.hierarchy, SYSTEM_ACTOR);
    const t = await this.tokens.create('initial-admin', 'admin');
    await this.audit.record({ actor: 'system', source: 'local', channel: 'system', action: 'token.create', target: `token:${t.record.id}`, outcome: 'success', details: { role: 'admin', reason: 'first run' } });
    await this.store.setMeta('bootstrap.done', new Date().toISOString());
    return t.token;
  }

  startJobs(): void {
    this.region?.start();
    this.cluster.start();
    this.crl.start();
    const every = (ms: number, fn: () => Promise<unknown>): void => {
      const t = setInterval(() => { void fn().catch((e) => this.log.error({ err: e }, 'background job failed')); }, ms);
      t.unref();
      this.timers.push(t);
    };
    every(3_600_000, async () => { if (this.cluster.isLeader()) await this.ensureOcspSigners(); });
    // Issuers changed by another process (`rampart ca import|rotate`, another node: new OCSP
    // signers, rotated CAs) are picked up from the database, on a single node too.
    every(30_000, async () => {
      const sig = (): string => this.ca.all().map((i) => `${i.id}:${i.active ? 1 : 0}:${i.keyRef}`).join(',');
      const before = sig();
      await this.ca.load();
      if (sig() !== before) { this.ocsp.reloadIssuers(); this.events.emit('issuersChanged'); }
    });
    every(5_000, async () => { this.lastHealth = (await this.health.run(this.clock.now())).status; });
    every(1_000, () => this.pollRevocations());
    if (this.region) every(1_000, () => this.flushPendingRecords());
    every(60_000, () => this.ocsp.refreshExpiring());
    // Audit forwarding follows the audit table on the leader (or the single node) only.
    every(this.config.audit.forwardEverySeconds * 1000, () => (this.cluster.mode === 'single' || this.cluster.isLeader() ? this.auditForwarder.tick() : this.auditForwarder.standBy()));
    every(60_000, async () => this.updateExpiryMetrics());
    // Backups: the leader (or a single node) writes one when due, then prunes (src/backup/backup-schedule.ts).
    let backups: ReturnType<typeof backupServiceFor> | undefined;
    const backupScheduler = new BackupScheduler({
      store: this.store, clock: this.clock, scheduleMinutes: this.config.backup.scheduleMinutes, metrics: this.metrics, log: this.log,
      service: () => (backups ??= backupServiceFor(this)), isLeader: () => this.cluster.mode === 'single' || this.cluster.isLeader(),
    });
    every(60_000, () => backupScheduler.tick());
    if (this.acme) {
      const acme = this.acme;
      every(10_000, async () => {
        const r = await acme.sweep();
        if (r.validations || r.orders) this.log.info(r, 'ACME sweeper finished work left by another node');
      });
      every(600_000, async () => { if (this.cluster.mode === 'single' || this.cluster.isLeader()) await acme.prune(); });
    }
    this.updateExpiryMetrics();
  }

  private readonly pendingRecords: CertificateRecord[] = [];

  /**
   * A certificate this node signed for itself (its TLS identity) while its
   * region was a read-only replica: stored in the inventory as soon as the
   * region takes writes (checked with the background jobs).
   */
  recordWhenWritable(rec: CertificateRecord): void {
    this.pendingRecords.push(rec);
    this.log.warn({ serial: rec.serial }, 'region is a replica: this certificate is recorded in the inventory when the region is promoted');
  }

  private async flushPendingRecords(): Promise<void> {
    while (this.pendingRecords.length && this.gate.canWrite()) {
      const rec = this.pendingRecords[0]!;
      await this.store.insertCertificate(rec);
      this.pendingRecords.shift();
      this.events.emit('issued', rec);
    }
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
    await this.region?.stop();
    await this.cluster.stop();
    await this.crl.stop();
    await this.auditForwarder.close();
    await this.store.close();
    const closable = this.keys as KeyBackend & { close?: () => void | Promise<void> };
    if (typeof closable.close === 'function') await closable.close();
  }
}

export function actorFields(a: Actor) {
  return { actor: a.id, source: a.source, channel: a.channel };
}
