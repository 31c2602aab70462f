/**
 * The node's two listeners: plain HTTP for what must be plain (OCSP, CRLs,
 * CA certificates, health, metrics) and HTTPS for the REST API (and later
 * ACME and the dashboard), with a certificate the node issued itself.
 * Both are guarded by the node's limits (src/http/limits/: timeouts and
 * connection caps on the servers, rate limits and overload shedding in
 * onRequest hooks), shared by the two listeners.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import { adminRoutes } from './api/admin-routes.js';
import { operatorRoutes } from './api/operator-routes.js';
import { createAuthenticator } from './api/auth.js';
import { certificateRoutes } from './api/certificate-routes.js';
import { parseListen } from '../config/schema.js';
import { RAMPART_VERSION } from '../core/version.js';
import type { ServedNode } from './served-node.js';
import { healthRoutes, type HealthRoutesOptions } from './health-routes.js';
import { livenessOf } from '../integrity/integrity-health.js';
import { installProblemHandler } from './problem.js';
import { installStrictBodyTypes } from './strict-body-types.js';
import { ensureTlsIdentity, type TlsIdentity, type TlsIdentityOptions } from './tls-identity.js';
import { TlsFront } from './tls-front/tls-front.js';
import { normalizeSerial } from '../core/serial.js';
import { publicationRoutes } from './validation/publication-routes.js';
import { sshPublicationRoutes } from './validation/ssh-publication-routes.js';
import { sshRoutes } from './api/ssh-routes.js';
import { ValidationPublication } from '../validation/publication.js';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createOcspHandler } from './validation/ocsp-route.js';
import { createHash } from 'node:crypto';
import { isRampartError } from '../core/errors.js';
import { acmeRoutes } from './acme/acme-routes.js';
import { estRoutes } from './est/est-routes.js';
import { acmeAdminRoutes } from './api/acme-admin-routes.js';
import { dashboardDataRoutes } from './api/dashboard-data-routes.js';
import { campaignRoutes } from './api/campaign-routes.js';
import { dashboardRoutes } from '../dashboard/dashboard-routes.js';
import { ACME_PREFIX } from '../acme/urls.js';
import { createNodeLimits, type NodeLimits } from './limits/node-limits.js';
import { guardOcsp, installApiGuard, installValidationGuard } from './limits/request-guard.js';
import { ThrottledDenialAudit } from '../audit/throttled-denial-audit.js';
import { createListenerServer } from './limits/server-limits.js';
import { countRequests } from './request-outcomes.js';

function common(app: FastifyInstance, node: ServedNode, listener: string): void {
  installProblemHandler(app);
  installStrictBodyTypes(app);
  app.addHook('onError', async (_req, _reply, err) => {
    if (isRampartError(err) && err.code === 'fenced') node.metrics.fencedWrites.inc();
  });
  app.addHook('onResponse', async (req, reply) => {
    node.metrics.httpDuration.observe(
      { listener, route: req.routeOptions.url ?? 'unmatched', method: req.method, code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
}

/** Unknown members are refused, not silently dropped (fastify's default strips them). */
const AJV = { customOptions: { removeAdditional: false as const, coerceTypes: 'array' as const, allErrors: false } };

/**
 * X-Forwarded-For is believed only from the configured load balancers
 * (`http.trustedProxies`, default loopback: HAProxy on this host); the client
 * address is then the rightmost address not in that list. `false` when empty.
 */
function trustProxyOf(node: ServedNode): string[] | false {
  const list = node.config.http.trustedProxies;
  return list.length ? [...list] : false;
}

export async function buildValidationApp(node: ServedNode, limits: NodeLimits): Promise<FastifyInstance> {
  const ocsp = guardOcsp(limits, createOcspHandler({
    responder: node.ocsp, clock: node.clock, log: node.log,
    maxAgeSeconds: node.config.ocsp.maxAgeSeconds, maxRequestBytes: node.config.ocsp.maxRequestBytes,
  }));
  // OCSP is answered before the router (see validation/ocsp-route.ts); everything else goes to fastify.
  const serverFactory = (handler: (req: IncomingMessage, res: ServerResponse) => void) =>
    createListenerServer({ listener: 'http', config: limits.config, metrics: limits.metrics }, countRequests(node.metrics, 'http', (req, res) => {
      if (!ocsp(req, res)) handler(req, res);
    }, { observeOcsp: (s) => node.metrics.ocspDuration.observe(s) }));
  const app = Fastify({ logger: false, trustProxy: trustProxyOf(node), serverFactory, ajv: AJV, bodyLimit: 65536 }) as unknown as FastifyInstance;
  common(app, node, 'http');
  installValidationGuard(app, limits);
  await app.register(healthRoutes, healthRouteOptions(node));
  await app.register(publicationRoutes, { publication: new ValidationPublication({ crl: node.crl, ca: node.ca, clock: node.clock, retired: () => node.campaigns.retiredIssuers() }) });
  await app.register(sshPublicationRoutes, { authority: node.sshAuthority, knownHostsPatterns: () => node.config.ssh.knownHostsPatterns });
  return app;
}

export async function buildApiApp(node: ServedNode, tls: TlsIdentity, urls: NodeUrls, limits: NodeLimits, front: TlsFront): Promise<FastifyInstance> {
  const serverFactory = (handler: (req: IncomingMessage, res: ServerResponse) => void) =>
    createListenerServer({ listener: 'https', config: limits.config, metrics: limits.metrics, front }, countRequests(node.metrics, 'https', handler));
  const app = Fastify({
    logger: false, trustProxy: trustProxyOf(node), serverFactory, ajv: AJV, bodyLimit: node.config.api.bodyLimitBytes,
    // With serverFactory the server above is used; the option only makes fastify name its addresses https://.
    ...{ https: { key: tls.keyPem, cert: tls.certPem } },
  }) as unknown as FastifyInstance;
  common(app, node, 'https');
  const denials = new ThrottledDenialAudit({ record: (e) => node.audit.record(e), onError: (e) => node.log.warn({ err: e }, 'could not audit a rate-limit refusal') });
  installApiGuard(app, limits, {
    acmePrefix: node.acme ? ACME_PREFIX : null,
    onLimited: (d) => {
      denials.note({
        action: 'ratelimit.denied', key: `${d.limit} ${d.key}`, source: d.source, channel: d.channel, target: `${d.method} ${d.path}`,
        details: { limit: d.limit, retryAfterSeconds: d.retryAfterSeconds },
      });
    },
  });
  await app.register(swagger, {
    openapi: {
      info: { title: 'Rampart certificate authority API', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, basic: { type: 'http', scheme: 'basic' } } },
    },
  });
  const region = node.region;
  const auth = createAuthenticator({
    tokens: node.tokens, audit: node.audit, clientCerts: { store: node.store, clock: node.clock },
    ...(region ? { regionRefusal: () => (region.writable() ? null : `region ${region.region} does not accept writes now: ${region.status().reason}`) } : {}),
  });
  await app.register(healthRoutes, healthRouteOptions(node));
  await app.register(certificateRoutes, {
    auth, issuance: node.issuance, revocation: node.revocation, store: node.store, ca: node.ca, clock: node.clock,
    pageSizeMax: node.config.api.pageSizeMax,
  });
  await app.register(sshRoutes, { auth, issuance: node.sshIssuance, authority: node.sshAuthority, store: node.store.ssh, clock: node.clock, pageSizeMax: node.config.api.pageSizeMax });
  await app.register(adminRoutes, {
    auth, tokens: node.tokens, audit: node.audit, ca: node.ca, clock: node.clock,
    generateCrls: async () => (await node.crl.generateAll()).map((c) => ({ issuerId: c.issuerId, ...(c.shard === undefined || c.shard === null ? {} : { shard: c.shard }), number: c.number.toString(), entries: c.entries })),
    status: () => nodeStatus(node, urls),
    cluster: async () => clusterView(node),
  });
  await app.register(acmeAdminRoutes, { auth, eab: node.eab, audit: node.audit });
  await app.register(campaignRoutes, { auth, campaigns: node.campaigns });
  await app.register(dashboardDataRoutes, { auth, store: node.store, clock: node.clock, config: node.config, dataDir: node.paths.dataDir, history: node.metricHistory });
  await app.register(dashboardRoutes);
  await app.register(operatorRoutes, { auth, operators: node.operators, tokens: node.tokens, audit: node.audit, clock: node.clock });
  if (node.config.est.enabled) {
    await app.register(estRoutes, {
      auth, issuance: node.issuance, ca: node.ca, store: node.store, audit: node.audit, clock: node.clock,
      settings: node.config.est, profiles: node.config.profiles,
    });
  }
  if (node.acme) await app.register(acmeRoutes, { prefix: ACME_PREFIX, acme: node.acme, metrics: node.metrics });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}

export interface NodeUrls {
  http: string;
  https: string;
  api: string;
  ocsp: string;
  crl: Record<string, string>;
  caCertificates: Record<string, string>;
  caBundle: string;
  openapi: string;
  acmeDirectory: string | null;
  health: string;
  ready: string;
  metrics: string;
}

export function nodeUrls(node: ServedNode): NodeUrls {
  const h = parseListen(node.config.http.listen)!;
  const s = parseListen(node.config.https.listen)!;
  const host = (x: string) => (x.includes(':') ? `[${x}]` : x);
  const http = `http://${host(h.host)}:${h.port}`;
  const tlsName = node.config.https.hostnames[0] ?? node.config.https.ips[0] ?? s.host;
  const https = `https://${host(s.host === '0.0.0.0' ? tlsName : s.host)}:${s.port}`;
  const cas = node.ca.cas();
  return {
    http, https, api: `${https}/api/v1`, ocsp: node.urls.ocsp(),
    crl: Object.fromEntries(cas.map((c) => [c.id, node.urls.crl(c.id)])),
    caCertificates: Object.fromEntries(cas.map((c) => [c.id, node.urls.caCert(c.id)])),
    caBundle: `${node.config.publicBaseUrl}/ca/bundle.pem`,
    openapi: `${https}/openapi.json`, acmeDirectory: node.acme ? `${node.config.acme.baseUrl?.replace(/\/+$/, '') ?? https}${ACME_PREFIX}/directory` : null, health: `${http}/healthz`, ready: `${http}/readyz`, metrics: `${http}/metrics`,
  };
}

export async function clusterView(node: ServedNode): Promise<Record<string, unknown>> {
  const st = await node.cluster.status(node.clock.now());
  return {
    mode: st.mode, self: st.self,
    leader: st.leader ? { holder: st.leader.holder, epoch: st.leader.epoch.toString(), expiresAt: st.leader.expiresAt?.toISOString() ?? null } : null,
    nodes: st.nodes.map((n) => ({ ...n, startedAt: n.startedAt.toISOString(), lastSeen: n.lastSeen.toISOString(), leader: st.leader?.holder === n.id })),
    region: node.region?.status() ?? null,
  };
}

/** /healthz says whether the node issues (and why not); /readyz?write=1 is 503 while it does not. */
function healthRouteOptions(node: ServedNode): HealthRoutesOptions {
  return {
    health: node.health, metrics: node.metrics, canWrite: () => node.canWrite() && node.integrity.issuable() && node.disk.hasRoom(), onReport: (r) => node.healthMonitor.note(r.status),
    liveness: () => livenessOf(node.integrity),
  };
}

export async function nodeStatus(node: ServedNode, urls = nodeUrls(node)): Promise<Record<string, unknown>> {
  const health = await node.health.run(node.clock.now());
  const counts = await node.store.countCertificates();
  const root = node.ca.root();
  return {
    version: RAMPART_VERSION,
    dataDir: node.paths.dataDir,
    database: node.store.kind,
    keyBackend: node.keys.type,
    urls,
    rootFingerprintSha256: root ? fingerprint(root.certDer) : null,
    issuers: node.ca.all().map((i) => ({ id: i.id, kind: i.kind, subject: i.subject, active: i.active, notAfter: i.notAfter.toISOString() })),
    certificates: counts,
    cluster: { mode: node.cluster.mode, nodeId: node.cluster.nodeId, leader: node.cluster.isLeader(), writable: node.canWrite() },
    issuing: node.integrity.issuable(),
    region: node.region?.status() ?? null,
    health,
  };
}

export function fingerprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex').toUpperCase().replace(/(..)(?=.)/g, '$1:');
}

export interface RunningServers {
  http: FastifyInstance;
  https: FastifyInstance;
  urls: NodeUrls;
  tls: TlsIdentity;
  close(): Promise<void>;
}

export async function startServers(node: ServedNode): Promise<RunningServers> {
  const tlsOptions: TlsIdentityOptions = {
    dir: join(node.paths.dataDir, 'tls'), secret: node.secret, ca: node.ca, clock: node.clock,
    hostnames: node.config.https.hostnames, ips: node.config.https.ips,
    // Revoked (a finished re-issuance campaign revokes the old hierarchy): replaced from the active CA. During a campaign it
    // stays on the old hierarchy on purpose: clients that do not trust the new root yet must still reach the ACME server.
    replace: async (serial) => (await node.store.getCertificate(normalizeSerial(serial) ?? serial).catch(() => null))?.status === 'revoked',
    record: async (rec) => {
      if (node.region?.isReplica()) {
        // A replica region cannot write: the node's TLS certificate goes into the inventory once the region is promoted.
        node.pendingInventory.add(rec);
        return;
      }
      await node.store.insertCertificate(rec);
      node.events.emit('issued', rec);
    },
  };
  const tls = await ensureTlsIdentity(tlsOptions);
  const urls = nodeUrls(node);
  const limits = createNodeLimits(node.config.limits, node.metrics.registry);
  const h = parseListen(node.config.http.listen)!;
  const s = parseListen(node.config.https.listen)!;
  const front = new TlsFront({
    host: s.host, port: s.port, identity: tls,
    handshakeTimeoutMs: limits.config.https.handshakeTimeoutMs, maxConnections: limits.config.https.maxConnections,
    onDrop: () => limits.metrics.connectionsDropped.inc({ listener: 'https' }),
    onRestart: (err) => node.log.error({ err }, 'the HTTPS listener\'s TLS thread stopped; starting it again'),
  });
  const http = await buildValidationApp(node, limits);
  const https = await buildApiApp(node, tls, urls, limits, front);
  try {
    await http.listen({ host: h.host, port: h.port });
    try {
      await https.listen({ path: front.path });
      await front.start();
    } catch (e) {
      await Promise.allSettled([front.stop(), https.close(), http.close()]);
      throw e;
    }
  } catch (e) {
    limits.close();
    throw e;
  }
  const renewal = keepTlsIdentity(node, front, tls, tlsOptions);
  return {
    http, https, urls, tls,
    async close() {
      renewal.stop();
      await front.close();
      await Promise.allSettled([http.close(), https.close()]);
      await front.stop();
      limits.close();
    },
  };
}

/**
 * The node's own certificate is checked again every hour and whenever the
 * issuers change (a rotation, `pki rebuild` by another process): renewed
 * before it expires (until now only a restart renewed it) or once revoked,
 * and swapped into the running HTTPS server with the current roots for client
 * certificates (new connections get it; `tls` is updated in place).
 */
function keepTlsIdentity(node: ServedNode, front: TlsFront, tls: TlsIdentity, o: TlsIdentityOptions): { stop(): void } {
  let running = false;
  const check = async (): Promise<void> => {
    if (running) return;
    running = true;
    try {
      const next = await ensureTlsIdentity(o);
      if (next.serial === tls.serial && next.caPem === tls.caPem) return;
      front.setIdentity(next);
      Object.assign(tls, next);
      node.log.info({ serial: next.serial, notAfter: next.notAfter }, 'the node\'s TLS certificate was renewed');
    } catch (e) {
      node.log.warn({ err: e }, 'checking the node\'s TLS certificate failed (tried again within the hour)');
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => { void check(); }, 3_600_000);
  timer.unref();
  const onIssuers = (): void => { void check(); };
  node.events.on('issuersChanged', onIssuers);
  return { stop: () => { clearInterval(timer); node.events.off('issuersChanged', onIssuers); } };
}
