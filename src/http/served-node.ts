/**
 * What the listeners need from a node: the roles they route to. main/ builds
 * a node that has all of this (RampartNode); the front end depends only on
 * this shape, never on main/.
 */
import type { IntegrityMonitor } from '../integrity/integrity-monitor.js';
import type { DiskRoom } from '../health/disk-check.js';
import type { Logger } from 'pino';
import type { AcmeServer } from '../acme/acme-server.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { OperatorService } from '../auth/operators.js';
import type { TokenService } from '../auth/tokens.js';
import type { CertificateAuthority } from '../ca/certificate-authority.js';
import type { CaUrls } from '../ca/urls.js';
import type { Cluster } from '../cluster/cluster.js';
import type { RampartConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import type { CaEvents } from '../core/events.js';
import type { HealthRegistry } from '../health/health.js';
import type { HealthMonitor } from '../health/health-monitor.js';
import type { KeyBackend } from '../keys/key-backend.js';
import type { MetricHistory } from '../metrics/metric-history.js';
import type { RampartMetrics } from '../metrics/metrics.js';
import type { IssuanceService } from '../ra/issuance.js';
import type { PendingInventory } from '../ra/pending-inventory.js';
import type { RevocationService } from '../ra/revocation.js';
import type { CampaignService } from '../ra/campaign/campaign-service.js';
import type { SshIssuance } from '../ra/ssh-issuance.js';
import type { SshAuthority } from '../ca/ssh/ssh-authority.js';
import type { RegionMonitor } from '../region/region-monitor.js';
import type { Store } from '../storage/store.js';
import type { CrlService } from '../validation/crl/crl-service.js';
import type { OcspResponder } from '../validation/ocsp/ocsp-responder.js';
import type { EabKeys } from '../acme/eab.js';

export interface ServedNode {
  readonly config: RampartConfig;
  readonly paths: { dataDir: string };
  readonly clock: Clock;
  readonly log: Logger;
  readonly secret: Uint8Array;
  readonly store: Store;
  readonly keys: KeyBackend;
  readonly events: CaEvents;
  readonly metrics: RampartMetrics;
  /** The in-memory metric history the dashboard charts read. */
  readonly metricHistory: MetricHistory;
  readonly health: HealthRegistry;
  readonly healthMonitor: HealthMonitor;
  readonly urls: CaUrls;
  readonly audit: AuditLog;
  readonly tokens: TokenService;
  readonly operators: OperatorService;
  readonly ca: CertificateAuthority;
  readonly issuance: IssuanceService;
  readonly revocation: RevocationService;
  readonly campaigns: CampaignService;
  readonly sshAuthority: SshAuthority;
  readonly sshIssuance: SshIssuance;
  readonly pendingInventory: PendingInventory;
  readonly ocsp: OcspResponder;
  readonly crl: CrlService;
  readonly cluster: Cluster;
  readonly region: RegionMonitor | null;
  readonly acme: AcmeServer | null;
  readonly eab: EabKeys;
  readonly integrity: IntegrityMonitor;
  readonly disk: DiskRoom;
  canWrite(): boolean;
}
