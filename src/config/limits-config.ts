/**
 * Configuration of the node's abuse and overload protection (`limits` in the
 * config file; env e.g. RAMPART_LIMITS__API__PER_IP__RATE_PER_SECOND=50).
 *
 * How the defaults were chosen:
 * - Rate limits are fairness limits, not capacity limits: the overload
 *   governor (in-flight caps and event-loop delay) is what protects a node's
 *   capacity. One well-behaved client must be able to use a whole node, so the
 *   per-address and per-token buckets sit above one node's measured issuance
 *   rate (about 150 certificates/s on the 2-core reference host,
 *   bench/results/README.md). Private-CA clients are also often many machines
 *   behind one NAT address or one automation token (cert-manager, a fleet
 *   agent), which rules out single-digit limits per address. Lower them where
 *   clients are known to be small.
 * - The tight limit is on failed authentications per address: every 401 costs
 *   a token lookup and a durable audit entry, so a token-guessing flood is
 *   what hurts; it is refused early once an address has failed 30 times at
 *   more than 1 per second.
 * - ACME gets its own per-address bucket, higher: a client sends about 12
 *   requests per order (a fresh nonce before each), about 630 requests/s at
 *   50 orders/s. ACME's business limits (per account, per registered domain)
 *   stay in `acme.rateLimits`, counted cluster-wide in the database.
 * - Issuance in flight: 64 per node (signing and two durable transactions
 *   each; more only queues in the database pool); reads 256; validation 4096.
 *   Event-loop delay beyond 200 ms sheds issuance and API requests; validation
 *   only beyond 1 s: OCSP and CRLs are what relying parties need to keep
 *   working, and are cheap (pre-signed, cached). Only while at least 8
 *   requests are in progress, so that a slow start-up or a busy host does not
 *   refuse the odd request of an otherwise idle node.
 * - Header timeout 10 s (as HAProxy's `timeout http-request`), TLS handshake
 *   10 s, request 30 s (API) / 15 s (validation), keep-alive 5 s, timeouts
 *   checked every second (node's default, 30 s, lets them run late by as much).
 */
import { z } from 'zod';

const int = (min: number, max: number) => z.number().int().min(min).max(max);

const bucket = (rate: number, burst: number, what: string) => z.strictObject({
  ratePerSecond: z.number().min(0).max(1_000_000).default(rate)
    .describe(`Sustained ${what} per second (tokens added to the bucket per second); 0 turns this limit off.`),
  burst: int(1, 10_000_000).default(burst)
    .describe('Bucket size: how many may come at once after a quiet period.'),
}).prefault({});

const listenerLimits = (d: { requestTimeoutMs: number; maxConnections: number }, which: string) => z.strictObject({
  maxConnections: int(1, 1_000_000).default(d.maxConnections)
    .describe(`Most open connections on the ${which} listener; further connections are closed at once (server.maxConnections).`),
  headersTimeoutMs: int(100, 600_000).default(10_000)
    .describe('Time a client has to send the complete request headers (slow-header attacks; also an idle new connection); answered 408 and closed.'),
  requestTimeoutMs: int(100, 3_600_000).default(d.requestTimeoutMs)
    .describe('Time a client has to send the complete request, body included; answered 408 and closed.'),
  connectionTimeoutMs: int(0, 3_600_000).default(30_000)
    .describe('A socket with no activity for this long is closed (server.setTimeout); 0 = never.'),
  keepAliveTimeoutMs: int(0, 600_000).default(5_000)
    .describe('How long an idle keep-alive connection stays open after a response; 0 = close after every response.'),
  maxRequestsPerSocket: int(0, 100_000_000).default(10_000)
    .describe('Requests served on one keep-alive connection before it is closed (spreads clients over nodes behind a load balancer); 0 = no limit.'),
  handshakeTimeoutMs: int(100, 600_000).default(10_000)
    .describe('Time a client has to complete the TLS handshake (HTTPS listener only; ignored on plain HTTP).'),
}).superRefine((v, ctx) => {
  if (v.headersTimeoutMs > v.requestTimeoutMs) {
    ctx.addIssue({ code: 'custom', path: ['headersTimeoutMs'], input: v.headersTimeoutMs,
      message: `must not exceed requestTimeoutMs (${v.requestTimeoutMs}): the headers are part of the request` });
  }
}).prefault({});

export const limitsSchema = z.strictObject({
  api: z.strictObject({
    perIp: bucket(200, 400, 'REST API requests from one client address (an IPv6 /64 counts as one address)'),
    perToken: bucket(200, 400, 'REST API requests made with one API token, from any address'),
    authFailuresPerIp: bucket(1, 30, 'failed authentications (401) from one client address; once used up, the address gets 429 before its token is looked up'),
    acmePerIp: bucket(1000, 2000, 'ACME requests from one client address (ACME per-account limits are in acme.rateLimits)'),
    maxTrackedKeys: int(1000, 10_000_000).default(100_000)
      .describe('Most addresses (or tokens) each limiter keeps a bucket for; beyond it the least recently seen are forgotten, so a flood of source addresses cannot exhaust memory (about 100 bytes per bucket).'),
  }).prefault({}).describe('Rate limits on the HTTPS listener (REST API and ACME), per node, answered 429 with Retry-After. /healthz, /readyz and /metrics are never limited.'),
  overload: z.strictObject({
    maxInFlight: z.strictObject({
      issuance: int(1, 100_000).default(64)
        .describe('State-changing requests on the HTTPS listener being processed at once (POST/PUT/PATCH/DELETE: issuance, revocation, token and CRL operations, every ACME POST); beyond it 503.'),
      api: int(1, 100_000).default(256).describe('Read requests (GET/HEAD) on the HTTPS listener being processed at once; beyond it 503.'),
      validation: int(1, 1_000_000).default(4096).describe('OCSP, CRL and CA certificate requests on the HTTP listener being processed at once; beyond it 503.'),
    }).prefault({}).describe('In-flight caps per request class.'),
    eventLoopDelay: z.strictObject({
      shedApiMs: int(1, 60_000).default(200)
        .describe('Mean event-loop delay (ms, over the last sample window) beyond which issuance and API requests are shed with 503.'),
      shedValidationMs: int(1, 600_000).default(1000)
        .describe('Mean event-loop delay beyond which validation (OCSP, CRLs) is shed too; keep it well above shedApiMs so validation keeps priority.'),
      sampleMs: int(50, 60_000).default(500).describe('Length of the sample window (the delay is re-read this often).'),
      minInFlight: int(0, 1_000_000).default(8)
        .describe('The delay sheds only while at least this many requests (all classes) are in progress: a loop slowed by start-up, a CRL being signed or another process on the host is not relieved by refusing a few requests.'),
    }).superRefine((v, ctx) => {
      if (v.shedValidationMs < v.shedApiMs) {
        ctx.addIssue({ code: 'custom', path: ['shedValidationMs'], input: v.shedValidationMs,
          message: `must be at least shedApiMs (${v.shedApiMs}): validation is shed last` });
      }
    }).prefault({}).describe('Event-loop delay (perf_hooks.monitorEventLoopDelay) as the overload signal.'),
    retryAfterSeconds: int(1, 3600).default(1)
      .describe('Retry-After on 503 overload answers; a random extra of up to the same again spreads the retries.'),
  }).prefault({}).describe('Overload shedding: 503 with Retry-After instead of queueing without bound. Health routes are never shed.'),
  http: listenerLimits({ requestTimeoutMs: 15_000, maxConnections: 4096 }, 'HTTP (validation)')
    .describe('Connection and timeout limits of the plain-HTTP listener (OCSP, CRLs, CA certificates, health).'),
  https: listenerLimits({ requestTimeoutMs: 30_000, maxConnections: 1024 }, 'HTTPS (API)')
    .describe('Connection and timeout limits of the HTTPS listener (REST API, ACME).'),
  timeoutCheckIntervalMs: int(100, 60_000).default(1000)
    .describe('How often header and request timeouts are enforced (node:http connectionsCheckingInterval).'),
}).describe('Abuse and overload protection on every node (src/http/limits/).');

export type LimitsConfig = z.output<typeof limitsSchema>;
export type ListenerLimits = LimitsConfig['http'];
export type BucketLimit = LimitsConfig['api']['perIp'];
