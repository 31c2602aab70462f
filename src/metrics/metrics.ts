/** Prometheus metrics for one node. One registry per node: no global singletons. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { HotCounter } from './hot-counter.js';

export class RampartMetrics {
  readonly registry = new Registry();
  readonly issued = new Counter({ name: 'rampart_certificates_issued_total', help: 'Certificates issued', labelNames: ['profile'], registers: [this.registry] });
  readonly issueFailures = new Counter({ name: 'rampart_issuance_failures_total', help: 'Issuance requests refused or failed', labelNames: ['code'], registers: [this.registry] });
  readonly revoked = new Counter({ name: 'rampart_certificates_revoked_total', help: 'Certificates revoked', labelNames: ['reason'], registers: [this.registry] });
  readonly revocationsFollowed = new Counter({ name: 'rampart_revocations_followed_total', help: 'Revocations made by other processes (the CLI, other nodes) since this node started, picked up from the database: cached OCSP answers dropped, CRL shards rebuilt', registers: [this.registry] });
  readonly ocspResponses = new HotCounter({ name: 'rampart_ocsp_responses_total', help: 'OCSP responses sent', labelNames: ['status', 'source'], registers: [this.registry] });
  readonly ocspStoreTimeouts = new Counter({ name: 'rampart_ocsp_store_timeouts_total', help: 'OCSP requests whose certificate status the store did not give in time (answered from a still-valid cached response or with tryLater)', registers: [this.registry] });
  readonly crlGeneration = new Histogram({ name: 'rampart_crl_generation_seconds', help: 'Time to generate and sign a CRL', labelNames: ['issuer'], buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30], registers: [this.registry] });
  readonly crlNumber = new Gauge({ name: 'rampart_crl_number', help: 'Current CRL number', labelNames: ['issuer'], registers: [this.registry] });
  readonly crlEntries = new Gauge({ name: 'rampart_crl_entries', help: 'Entries in the current CRL', labelNames: ['issuer'], registers: [this.registry] });
  readonly crlNextUpdate = new Gauge({ name: 'rampart_crl_next_update_timestamp_seconds', help: 'nextUpdate of the current CRL', labelNames: ['issuer'], registers: [this.registry] });
  readonly caExpiry = new Gauge({ name: 'rampart_ca_certificate_expiry_timestamp_seconds', help: 'notAfter of each CA and OCSP signing certificate', labelNames: ['issuer', 'kind'], registers: [this.registry] });
  readonly leader = new Gauge({ name: 'rampart_cluster_leader', help: '1 when this node holds the leader (or active) lease', registers: [this.registry] });
  readonly fencedWrites = new Counter({ name: 'rampart_fenced_writes_total', help: 'Leader-only or active-only writes refused because the lease moved', registers: [this.registry] });
  readonly health = new Gauge({ name: 'rampart_health_status', help: 'Node health: 2 healthy, 1 degraded, 0 unhealthy', registers: [this.registry] });
  readonly healthCheck = new Gauge({ name: 'rampart_health_check_ok', help: 'Per-check health: 1 pass, 0.5 warn, 0 fail', labelNames: ['check'], registers: [this.registry] });
  readonly acmeRequests = new Counter({ name: 'rampart_acme_requests_total', help: 'ACME requests answered by this node', labelNames: ['route', 'code'], registers: [this.registry] });
  readonly acmeProblems = new Counter({ name: 'rampart_acme_problems_total', help: 'ACME problem documents sent, by type', labelNames: ['type'], registers: [this.registry] });
  readonly acmeValidations = new Counter({ name: 'rampart_acme_validations_total', help: 'ACME challenge validations', labelNames: ['type', 'outcome'], registers: [this.registry] });
  readonly backupLastSuccess = new Gauge({ name: 'rampart_backup_last_success_timestamp_seconds', help: 'When the last backup written to every target finished', registers: [this.registry] });
  readonly backupDuration = new Gauge({ name: 'rampart_backup_duration_seconds', help: 'Duration of the last successful backup', registers: [this.registry] });
  readonly tidyArchived = new Counter({ name: 'rampart_tidy_archived_total', help: 'Expired certificates archived and removed by tidy (this process)', registers: [this.registry] });
  readonly tidyLastRun = new Gauge({ name: 'rampart_tidy_last_run_timestamp_seconds', help: 'When the last tidy run (not a dry run) finished', registers: [this.registry] });
  readonly tidyLastArchived = new Gauge({ name: 'rampart_tidy_last_run_archived', help: 'Certificates archived by the last tidy run', registers: [this.registry] });
  readonly backupSize = new Gauge({ name: 'rampart_backup_size_bytes', help: 'Encrypted size of the last successful backup (one target)', registers: [this.registry] });
  readonly drillLastSuccess = new Gauge({ name: 'rampart_drill_last_success_timestamp_seconds', help: 'When each DR drill scenario last passed (from the database; see rampart drill history)', labelNames: ['scenario'], registers: [this.registry] });
  readonly drillRto = new Gauge({ name: 'rampart_drill_rto_seconds', help: 'Recovery time measured by the last run of each DR drill scenario', labelNames: ['scenario'], registers: [this.registry] });
  readonly unhandledErrors = new Counter({ name: 'rampart_unhandled_errors_total', help: 'Errors no code handled: kind rejection (logged, the node keeps running), postgres-js (postgres.js wrote to a closed connection: pools replaced, the node keeps running), exception (the node stops)', labelNames: ['kind'], registers: [this.registry] });
  readonly issuanceStage = new Histogram({
    name: 'rampart_issuance_stage_seconds', help: 'Time of each step of an issuance: parse (CSR, signature check), policy, encode (TBS), lint (preview), sign, commit (durable)',
    labelNames: ['stage'], buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5], registers: [this.registry],
  });
  readonly ocspDuration = new Histogram({
    name: 'rampart_ocsp_request_duration_seconds', help: 'Time to answer an OCSP request (read, look up, write), answered ahead of the router',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1], registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'rampart_http_request_duration_seconds', help: 'HTTP request duration', labelNames: ['listener', 'route', 'method', 'code'],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [this.registry],
  });

  /** Service-level indicators (SLOs in deploy/prometheus/rampart-slo-rules.yml); counted by src/http/request-outcomes.ts. */
  readonly requests = new HotCounter({
    name: 'rampart_requests_total', help: 'Requests answered, by class (validation, issuance: state-changing API/ACME, api: reads), route (ocsp, publication, acme, rest) and outcome (ok, client_error: 4xx, server_error: 5xx, the SLO\'s bad events); health and metrics endpoints are not counted',
    labelNames: ['class', 'route', 'outcome'], registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: 'rampart_request_duration_seconds', help: 'Time from a request\'s arrival to its last byte written, by class and route (as rampart_requests_total)', labelNames: ['class', 'route'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'rampart_process_' });
  }
}
