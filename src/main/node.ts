/**
 * Wires one Rampart node together from its configuration: storage, keys, CA,
 * RA, OCSP, CRL, audit, health, metrics, cluster, region. Only construction
 * and the start and stop order live here; the work (and its timers) belongs
 * to the roles. With src/cli the only place that picks implementations and
 * reads the environment.
 */
import { CampaignService } from '../ra/campaign/campaign-service.js';
import { CampaignJobs } from '../ra/campaign/campaign-jobs.js';
import { CampaignMetrics } from '../metrics/campaign-metrics.js';
import { PkiPool, defaultWorkerCount } from '../pki/pool/pki-pool.js';
import pino, { type Logger } from 'pino';
import { AuditLog } from '../audit/audit-log.js';
import { TokenService } from '../auth/tokens.js';
import { OperatorService } from '../auth/operators.js';
import { CertificateAuthority } from '../ca/certificate-authority.js';
import { IssuerLifecycle } from '../ca/issuer-lifecycle.js';
import { caUrls, type CaUrls } from '../ca/urls.js';
import { systemClock, type Clock } from '../core/clock.js';
import { CaEvents } from '../core/events.js';
import type { RampartConfig } from '../config/schema.js';
import { resolvedPaths } from '../config/load.js';
import { CrlService } from '../validation/crl/crl-service.js';
import { HealthRegistry } from '../health/health.js';
import { registerDiskCheck, type DiskRoom } from '../health/disk-check.js';
import { registerDatabaseCheck } from '../storage/database-check.js';
import { registerKeyBackendCheck } from '../keys/key-backend-check.js';
import { registerCaExpiryCheck } from '../ca/ca-expiry-check.js';
import { registerAuditWriteCheck } from '../audit/audit-write-check.js';
import { registerBackupCheck } from '../backup/backup-check.js';
import { BackupScheduler } from '../backup/backup-schedule.js';
import { backupServiceFor, tidyServiceFor } from './backup-wiring.js';
import { registerDrillCheck } from '../dr/drill-check.js';
import { scheduleAuditForwarding, setUpAuditMonitoring } from '../audit/audit-monitoring.js';
import type { AuditForwarder } from '../audit/forward/audit-forwarder.js';
import type { KeyBackend } from '../keys/key-backend.js';
import { SoftwareKeyBackend } from '../keys/software/software-backend.js';
import { openPkcs11Backend } from '../keys/pkcs11/from-config.js';
import { MetricHistory } from '../metrics/metric-history.js';
import { RampartMetrics } from '../metrics/metrics.js';
import { OcspResponder } from '../validation/ocsp/ocsp-responder.js';
import { IssuanceService } from '../ra/issuance.js';
import { TidyScheduler } from '../backup/tidy-schedule.js';
import type { TidyService } from '../backup/tidy.js';
import { RevocationService } from '../ra/revocation.js';
import { SshAuthority } from '../ca/ssh/ssh-authority.js';
import { SshIssuance } from '../ra/ssh-issuance.js';
import type { ProfilePolicy } from '../ra/policy.js';
import { createStore } from '../storage/create-store.js';

import type { Store } from '../storage/store.js';
import type { Periodic } from '../core/periodic.js';
import { RAMPART_VERSION } from '../core/version.js';
import { HealthMonitor } from '../health/health-monitor.js';
import { PendingInventory } from '../ra/pending-inventory.js';
import { RevocationFollower } from '../validation/revocation-follower.js';
import { ValidationMirror } from '../validation/mirror/validation-mirror.js';
import { mirrorStoreFor } from '../backup/mirror-bucket.js';
import { loadKeySecret } from '../keys/node-secret.js';
import { Cluster, defaultNodeId } from '../cluster/cluster.js';
import { ClockSkew } from '../cluster/clock-skew.js';
import { DatabaseKeyStore } from '../keys/software/database-key-store.js';
import { parseListen } from '../config/schema.js';
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
import { RegionWitness } from '../region/witness/region-witness.js';
import { registerWitnessCheck, registerWitnessMetrics } from '../region/witness/witness-check.js';
import { registerStandbyLagMetrics } from '../cluster/standby-lag-metrics.js';
import { sqlDatabaseOf } from '../storage/sql-database.js';
import { IntegrityMonitor } from '../integrity/integrity-monitor.js';
import { integrityJob, runIntegrityCheck } from '../integrity/integrity-runner.js';
import { registerIntegrityCheck, registerIntegrityMetrics } from '../integrity/integrity-health.js';
import { summarize } from '../integrity/integrity-report.js';
import { join } from 'node:path';

export { RAMPART_VERSION };

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
  /** The dashboard charts' history of this node's metrics (sampled only under `rampart serve`). */
  readonly metricHistory: MetricHistory;
  readonly health = new HealthRegistry();
  readonly urls: CaUrls;
  readonly audit: AuditLog;
  readonly tokens: TokenService;
  readonly operators: OperatorService;
  readonly ca: CertificateAuthority;
  /** Worker threads for CSR parsing and certificate encoding and linting. */
  readonly pkiPool: PkiPool;
  readonly crlPool: PkiPool;
  readonly issuance: IssuanceService;
  readonly revocation: RevocationService;
  /** Re-issuance campaigns after `rampart pki rebuild` (ra/campaign). */
  readonly campaigns: CampaignService;
  private campaignJobs: CampaignJobs | null = null;
  /** SSH CAs (keys in the key backend) and their KRLs; SSH certificate issuance and revocation. */
  readonly sshAuthority: SshAuthority;
  readonly sshIssuance: SshIssuance;
  readonly ocsp: OcspResponder;
  readonly crl: CrlService;
  readonly cluster: Cluster;
  /** Multi-region deployments only: this node's region view and decision. */
  readonly region: RegionMonitor | null;
  /** Witness mode (regions.witness): this node's hold on its region's leadership lease in etcd. */
  readonly witness: RegionWitness | null;
  /** What issuance, revocation and CRL publication ask before writing (cluster leases, and the region). */
  readonly gate: WriteGate;
  /** The ACME server (null when acme.enabled is false). */
  readonly acme: AcmeServer | null;
  readonly eab: EabKeys;
  /** Follows the audit table to the `audit.forward` destinations (ticked on the leader). */
  readonly auditForwarder: AuditForwarder;
  /** Hierarchy, OCSP signers, intermediate import and rotation, issuers changed elsewhere. */
  readonly issuers: IssuerLifecycle;
  /** Keeps OCSP and CRLs in step with revocations made here and elsewhere. */
  readonly revocationFollower: RevocationFollower;
  /** The node's last known health (advertised in the cluster registry). */
  readonly healthMonitor: HealthMonitor;
  /** The node's own certificates signed while its region could not write. */
  readonly pendingInventory: PendingInventory;
  readonly backups: BackupScheduler;
  /** Scheduled corruption detection; while it finds corruption, issuance is refused (503). */
  readonly integrity: IntegrityMonitor;
  /** Free space in the data directory: below health.diskFreeCriticalBytes the node is not ready for writes. */
  readonly disk: DiskRoom;
  /** The static copy of validation (mirror.directory and/or mirror.s3), null when not configured. */
  readonly mirror: ValidationMirror | null;
  /** Scheduled tidy (leader only); `tidy()` gives the service for `rampart tidy run`. */
  readonly tidySchedule: TidyScheduler;
  private tidyService?: TidyService;
  private auditForwarding: Periodic | null = null;

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
    witness: RegionWitness | null = null,
    /** The node clock against the database clock (measured by the lease rounds); `clock` is its signing clock. */
    readonly skew: ClockSkew = new ClockSkew(),
  ) {
    this.region = region;
    this.witness = witness;
    this.urls = caUrls(config.publicBaseUrl);
    this.metricHistory = new MetricHistory({
      registry: this.metrics.registry, sampleSeconds: config.dashboard.historySampleSeconds, points: config.dashboard.historyPoints,
      availability: { validation: config.tiers.validation?.availability ?? null, issuance: config.tiers.issuance?.availability ?? null },
      onError: (e) => log.warn({ err: e }, 'metric history sample failed'),
    });
    const h = parseListen(config.http.listen)!;
    const t = parseListen(config.https.listen)!;
    const host = (x: string) => (x.includes(':') ? `[${x}]` : x);
    this.cluster = new Cluster({
      store, mode: config.cluster.mode, nodeId: config.cluster.nodeId ?? defaultNodeId(config.http.listen),
      takeoverSeconds: config.cluster.takeoverSeconds, heartbeatSeconds: config.cluster.heartbeatSeconds,
      version: RAMPART_VERSION, roles: ['api', 'ra', 'ca', 'ocsp', 'crl'],
      urls: () => ({ httpUrl: `http://${host(h.host)}:${h.port}`, httpsUrl: `https://${host(t.host)}:${t.port}` }),
      health: () => this.healthMonitor.last(),
      onLeadership: (lease, held, st) => {
        this.log.info({ lease, held, epoch: st?.epoch?.toString(), holder: st?.holder }, held ? 'lease acquired' : 'lease lost');
        this.metrics.leader.set(held ? 1 : 0);
        if (held) void this.onLeader().catch((e) => this.log.error({ err: e }, 'leader start-up work failed'));
      },
      onError: (e) => this.log.warn({ err: e }, 'cluster round failed'),
      skew,
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
    this.integrity = new IntegrityMonitor({
      run: () => runIntegrityCheck(integrityJob(config, paths.dbPath, env)),
      enabled: config.integrity.enabled, everyMs: config.integrity.everySeconds * 1000, firstMs: config.integrity.firstCheckSeconds * 1000,
      stateFile: join(paths.dataDir, 'integrity-state.json'),
      onChange: (r) => {
        const corrupt = r.status === 'corrupt';
        if (corrupt) log.error({ integrity: r }, `database corruption found: ${summarize(r)}; issuance stopped on this node`);
        else log.warn({ integrity: r }, 'the integrity check passes again: issuance resumes on this node');
        void this.audit.record({
          actor: 'system', source: this.cluster.nodeId, channel: 'system', action: corrupt ? 'integrity.corruption' : 'integrity.clean', target: `database:${store.kind}`,
          outcome: corrupt ? 'failure' : 'success', details: { at: r.at, summary: summarize(r), damaged: r.findings.filter((f) => f.status === 'corrupt').map((f) => f.check) },
        }).catch((e) => log.error({ err: e }, 'could not audit the integrity verdict'));
      },
      onError: (e) => log.error({ err: e }, 'integrity check failed to run'),
    });
    this.pkiPool = new PkiPool(config.api.workerThreads ?? defaultWorkerCount(), (e) => log.error({ err: e }, 'a PKI worker thread failed; replaced'));
    // CRLs are encoded by a thread of their own at a lower CPU priority: at 1M revoked a shard is 3 MB and the complete
    // CRL 47 MB, and their encoding gives way to OCSP and issuance (the CRL is published a little later under load).
    this.crlPool = new PkiPool(1, (e) => log.error({ err: e }, 'the CRL worker thread failed; replaced'), { background: true });
    this.ca = new CertificateAuthority({ store, keys, clock, urls: this.urls, pool: this.pkiPool, crlShards: config.crl.shards });
    this.issuance = new IssuanceService({
      ca: this.ca, store, audit: this.audit, clock, events: this.events, profiles: config.profiles as Record<string, ProfilePolicy>, gate: this.gate,
      pool: this.pkiPool, integrity: this.integrity, observe: (stage, ms) => this.metrics.issuanceStage.observe({ stage }, ms / 1000),
    });
    this.revocation = new RevocationService({ store, audit: this.audit, clock, events: this.events, gate: this.gate });
    this.campaigns = new CampaignService({ store, issuance: this.issuance, revocation: this.revocation, audit: this.audit, clock, cas: () => this.ca.all() });
    this.sshAuthority = new SshAuthority({ store: store.ssh, keys, audit: this.audit, clock });
    this.sshIssuance = new SshIssuance({
      authority: this.sshAuthority, store: store.ssh, audit: this.audit, clock, profiles: config.ssh.profiles, gate: this.gate,
      onError: (e) => log.error({ err: e }, 'SSH KRL publication failed (rebuilt when next fetched)'),
    });
    this.ocsp = new OcspResponder({
      ca: this.ca, store, clock, metrics: this.metrics, validitySeconds: config.ocsp.validitySeconds, refreshBeforeSeconds: config.ocsp.refreshBeforeSeconds,
    });
    this.crl = new CrlService({
      ca: this.ca, store, clock, events: this.events, urls: this.urls, metrics: this.metrics,
      validityHours: config.crl.validityHours, regenerateEveryMinutes: config.crl.regenerateEveryMinutes,
      shards: config.crl.shards, retention: { count: config.crl.keep, bytes: config.crl.keepMegabytes * 1024 * 1024 }, pool: this.crlPool,
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
      eab: this.eab, log, canWrite: () => this.canWrite(), renewNow: (rec) => this.campaigns.renewNow(rec, this.ca.active().id),
      onValidation: (type, outcome) => this.metrics.acmeValidations.inc({ type, outcome }),
    }, secret) : null;
    registerDatabaseCheck({ health: this.health, store });
    registerKeyBackendCheck({ health: this.health, keys });
    this.disk = registerDiskCheck({ health: this.health, dataDir: this.paths.dataDir, diskFreeMinBytes: config.health.diskFreeMinBytes, diskFreeCriticalBytes: config.health.diskFreeCriticalBytes });
    skew.register(this.health, this.metrics.registry, config.health.clockSkewWarnSeconds);
    registerCaExpiryCheck({ health: this.health, store, ca: this.ca, clock, caExpiryWarnDays: config.health.caExpiryWarnDays, caExpiryCriticalDays: config.health.caExpiryCriticalDays });
    registerAuditWriteCheck({ health: this.health, store, readOnlyReplica: () => region?.isReplica() ?? false });
    registerBackupCheck({ health: this.health, store, clock, scheduleMinutes: config.backup.scheduleMinutes, ageWarnMarginMinutes: config.backup.ageWarnMarginMinutes });
    registerDrillCheck({ health: this.health, store, clock, metrics: this.metrics, config });
    registerIntegrityCheck(this.health, this.integrity);
    registerIntegrityMetrics(this.metrics.registry, this.integrity);
    this.auditForwarder = setUpAuditMonitoring({
      config: config.audit, dataDir: this.paths.dataDir, store, clock, log, health: this.health, registry: this.metrics.registry,
      context: () => ({ node: this.cluster.nodeId, ca: this.ca.cas().find((c) => c.kind === 'intermediate' && c.active)?.subject ?? null }),
    });
    if (region && config.regions) {
      registerRegionCheck({ health: this.health, region, lagWarnSeconds: config.regions.lagWarnSeconds, lagCriticalSeconds: config.regions.lagCriticalSeconds });
      registerRegionMetrics(this.metrics.registry, region);
      if (witness) {
        registerWitnessCheck(this.health, witness, region);
        registerWitnessMetrics(this.metrics.registry, witness);
      }
    } else {
      const db = sqlDatabaseOf(store);
      if (db) registerStandbyLagMetrics(this.metrics.registry, db, log);
    }
    this.revocationFollower = new RevocationFollower({ store, ocsp: this.ocsp, crl: this.crl, events: this.events, metrics: this.metrics, log });
    const leaderWork = (): boolean => this.cluster.mode === 'single' || this.cluster.isLeader();
    this.issuers = new IssuerLifecycle({
      ca: this.ca, keys, store, audit: this.audit, clock, urls: this.urls, events: this.events, metrics: this.metrics,
      ocspSigner: config.hierarchy.ocspSigner, publishCrl: (id) => this.crl.generate(id), isLeader: () => this.cluster.isLeader(),
      onError: (e) => log.error({ err: e }, 'background job failed'),
    });
    const mirrorTarget = mirrorStoreFor(config, this.paths.mirrorDir, env);
    this.mirror = mirrorTarget ? new ValidationMirror({
      target: mirrorTarget, hashes: config.mirror.hashes, everySeconds: config.mirror.everySeconds,
      refreshBeforeSeconds: config.ocsp.refreshBeforeSeconds, ca: this.ca, ocsp: this.ocsp, crl: this.crl, store, events: this.events, clock,
      isLeader: leaderWork, log, retired: () => this.campaigns.retiredIssuers(),
    }) : null;
    this.healthMonitor = new HealthMonitor(this.health, clock, (e) => log.error({ err: e }, 'background job failed'));
    this.pendingInventory = new PendingInventory({ store, gate: this.gate, events: this.events, log });
    // Backups: the leader (or a single node) writes one when due, then prunes (src/backup/backup-schedule.ts).
    let backups: ReturnType<typeof backupServiceFor> | undefined;
    this.backups = new BackupScheduler({
      store, clock, scheduleMinutes: config.backup.scheduleMinutes, metrics: this.metrics, log,
      service: () => (backups ??= backupServiceFor(this)), isLeader: leaderWork,
    });
    // Tidy: the leader (or a single node) archives long-expired certificates when due (src/backup/tidy-schedule.ts).
    this.tidySchedule = new TidyScheduler({
      store, clock, scheduleMinutes: config.tidy.scheduleMinutes, enabled: config.tidy.archiveExpiredAfterDays > 0, isLeader: leaderWork, log,
      service: () => (this.tidyService ??= tidyServiceFor(this, () => this.gate.leaderFence())),
    });
  }

  /** The tidy service for an operator's run: fenced like revocation (writeFence), not only on the leader. */
  tidy(): TidyService {
    return tidyServiceFor(this, () => this.gate.writeFence());
  }

  static async open(o: NodeOpenOptions): Promise<RampartNode> {
    // What the node signs and records is dated by the lower of its clock and the database's (src/cluster/clock-skew.ts).
    const skew = new ClockSkew();
    const clock = skew.signingClock(o.clock ?? systemClock);
    const log = o.logger ?? pino({ level: o.config.log.level });
    const paths = resolvedPaths(o.config);
    const { secret } = loadKeySecret({
      passphraseEnv: o.config.keys.passphraseEnv, keyFile: paths.keyFile, env: o.env ?? process.env, create: o.createSecret ?? false,
    });
    const store = createStore(o.config, paths, {
      env: o.env ?? process.env, applicationName: `rampart ${o.config.cluster.nodeId ?? ''}`.trim(), onRetry: (e) => log.warn({ retry: e }, 'database retry'),
      watchMonitor: true, onMonitor: (e) => (e.primary ? log.warn({ primary: e.primary }, 'pg_auto_failover monitor names another primary: new connections go there first')
        : log.debug({ err: e.error }, 'pg_auto_failover monitor not reachable')),
    });
    let region: RegionMonitor | null = null;
    let witness: RegionWitness | null = null;
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
      const w = o.config.regions.witness;
      if (w) {
        witness = new RegionWitness({
          config: w, region: o.config.regions.self, shouldLead: () => region?.shouldLead() ?? false, shouldRelease: () => region?.fencedByFailover() ?? false,
          epoch: () => region?.status().epoch ?? null,
          log: log.child({ component: 'witness' }),
        });
      }
      region = new RegionMonitor({
        ...(witness ? { witness } : {}),
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
      if (witness) await witness.tick();
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
    const node = new RampartNode(o.config, store, keys, secret, clock, log, paths, o.env ?? process.env, region, witness, skew);
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
      await node.revocationFollower.catchUp();
    } catch (e) {
      // Close what was opened (PKCS#11 signing threads still loading the module crashed the
      // process at exit when it left with them running, e.g. after "key not found").
      await node.close().catch((c) => log.warn({ err: c }, 'could not close the node after a failed start'));
      throw e;
    }
    return node;
  }

  hasHierarchy(): boolean {
    return this.issuers.hasHierarchy();
  }

  /** Whether this node accepts issuance and revocation now (standbys in active-passive mode do not). */
  canWrite(): boolean { return this.gate.canWrite(); }

  /** Starts every role's background work (`rampart serve`; CLI commands do not). */
  startJobs(): void {
    const leaderWork = (): boolean => this.cluster.mode === 'single' || this.cluster.isLeader();
    this.store.offloadCheckpoints?.();
    this.region?.start();
    this.witness?.start();
    this.cluster.start();
    this.crl.start();
    this.issuers.start();
    this.healthMonitor.start();
    this.revocationFollower.start();
    if (this.region) this.pendingInventory.start();
    this.ocsp.start((e) => this.log.error({ err: e }, 'background job failed'));
    this.auditForwarding = scheduleAuditForwarding(this.auditForwarder, { everySeconds: this.config.audit.forwardEverySeconds, isLeader: leaderWork, log: this.log });
    this.backups.start();
    this.metricHistory.start();
    this.mirror?.start();
    this.tidySchedule.start();
    this.integrity.start();
    this.acme?.start(leaderWork);
    this.campaignJobs = new CampaignJobs({
      campaigns: this.campaigns, events: this.events, metrics: new CampaignMetrics(this.metrics.registry), isLeader: leaderWork,
      onError: (e) => this.log.error({ err: e }, 're-issuance campaign job failed'),
    });
    this.campaignJobs.start();
  }

  /** Work the leader does when it gains the lease: renew OCSP signers, publish stale CRLs. */
  private async onLeader(): Promise<void> {
    if (!this.hasHierarchy()) return;
    await this.issuers.ensureOcspSigners();
    await this.crl.refreshStale();
  }

  async close(): Promise<void> {
    this.metricHistory.stop();
    this.acme?.stop();
    this.campaignJobs?.stop();
    this.backups.stop();
    this.integrity.stop();
    await this.mirror?.stop();
    this.tidySchedule.stop();
    this.auditForwarding?.stop();
    this.ocsp.stop();
    this.pendingInventory.stop();
    this.revocationFollower.stop();
    this.healthMonitor.stop();
    this.issuers.stop();
    await this.witness?.stop();
    await this.region?.stop();
    await this.cluster.stop();
    await this.crl.stop();
    await this.auditForwarder.close();
    await this.pkiPool.close();
    await this.crlPool.close();
    await this.store.close();
    const closable = this.keys as KeyBackend & { close?: () => void | Promise<void> };
    if (typeof closable.close === 'function') await closable.close();
  }
}
