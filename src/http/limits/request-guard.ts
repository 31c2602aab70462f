/**
 * Applies the node's limits to requests: fastify onRequest hooks for both
 * listeners and a gate in front of the raw OCSP handler.
 *
 * HTTPS listener (REST API and ACME), in this order, before the body is read:
 * 1. /healthz, /readyz and /metrics pass untouched (HAProxy's checks must
 *    never see a 429 or 503 caused by load).
 * 2. Overload governor: class 'issuance' for state-changing methods, 'api'
 *    for GET/HEAD/OPTIONS; shed: 503 `unavailable` with Retry-After. First,
 *    so that a shed request costs no rate-limit token.
 * 3. Rate limits, 429 `rateLimited` with Retry-After and the limit's name:
 *    REST: failed authentications from the address (checked, not taken:
 *    they are taken when a 401 goes out), requests from the address,
 *    requests with the bearer token; ACME: requests from the address (ACME's
 *    per-account limits stay in the ACME code).
 * ACME requests get ACME problem documents (rateLimited; serverInternal with
 * status 503), through the ACME error handler, which adds Retry-After and
 * the Replay-Nonce every ACME response carries. Refusals go to `onLimited`
 * (the node audits them, throttled: src/audit/throttled-denial-audit.ts).
 *
 * HTTP listener: only the governor's 'validation' class (high in-flight cap,
 * high event-loop bound), no rate limits: OCSP and CRLs are cheap, cached,
 * often fetched by many relying parties behind one address, and must keep
 * working when issuance is shed. OCSP is answered before the router, so its
 * gate is a plain function; a shed OCSP request gets 503 with Retry-After and
 * an OCSP `tryLater` response as the body (RFC 6960 §2.3), never cached.
 *
 * The client address is fastify's request.ip: X-Forwarded-For is believed
 * only from `http.trustedProxies` (default loopback; see servers.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AcmeError } from '../../acme/problems.js';
import { ocspErrorResponse } from '../../validation/ocsp/ocsp-codec.js';
import { problemFor, sendProblem } from '../problem.js';
import type { NodeLimits } from './node-limits.js';
import type { RequestClass, ShedReason } from './overload-governor.js';
import { addressKey, tokenKey, type TakeResult } from './token-bucket.js';

const HEALTH_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const pathOf = (url: string): string => {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
};

const shedDetail = (cls: RequestClass, reason: ShedReason, retryAfter: number): string =>
  `this node is overloaded (${reason === 'in_flight' ? `too many ${cls} requests in progress` : 'event loop delayed'}) and sheds ${cls} requests; retry after ${retryAfter} s`;

type LimitName = 'perIp' | 'perToken' | 'authFailuresPerIp' | 'acmePerIp';

/** A request refused by a rate limit (429). */
export interface LimitDenial {
  limit: LimitName;
  /** What the limit counted: an address (or /64) or a token digest. */
  key: string;
  source: string;
  channel: 'api' | 'acme';
  path: string;
  method: string;
  retryAfterSeconds: number;
}
const METRIC_KEY: Record<LimitName, string> = { perIp: 'ip', perToken: 'token', authFailuresPerIp: 'auth_failures', acmePerIp: 'acme_ip' };
const LIMITED_DETAIL: Record<LimitName, string> = {
  perIp: 'too many requests from this address',
  perToken: 'too many requests with this API token',
  authFailuresPerIp: 'too many failed authentications from this address',
  acmePerIp: 'too many ACME requests from this address',
};

/** Hooks for the HTTPS listener (REST API under /api, ACME under acmePrefix when ACME is served). */
export function installApiGuard(app: FastifyInstance, limits: NodeLimits, o: { acmePrefix: string | null; onLimited?: (d: LimitDenial) => void }): void {
  const { governor, metrics, perIp, perToken, authFailures, acmePerIp } = limits;
  const isAcme = (path: string): boolean => o.acmePrefix !== null && (path === o.acmePrefix || path.startsWith(`${o.acmePrefix}/`));

  const refuse = (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void, acme: boolean, status: 429 | 503, detail: string, retryAfter: number, limit?: LimitName): void => {
    if (acme) {
      done(status === 429
        ? new AcmeError('rateLimited', detail, { retryAfter })
        : new AcmeError('serverInternal', detail, { status: 503, retryAfter }));
      return;
    }
    const p = problemFor(status === 429 ? 'rateLimited' : 'unavailable', detail, limit ? { limit } : {});
    sendProblem(reply, { ...p, instance: pathOf(req.url) }, { 'retry-after': String(retryAfter), 'cache-control': 'no-store' });
  };

  app.addHook('onRequest', (req, reply, done) => {
    const path = pathOf(req.url);
    if (HEALTH_PATHS.has(path)) { done(); return; }
    const acme = isAcme(path);
    const cls: RequestClass = READ_METHODS.has(req.method) ? 'api' : 'issuance';
    const shed = governor.tryEnter(cls);
    if (shed !== null) {
      metrics.shed.inc({ class: cls, reason: shed });
      const after = governor.retryAfter();
      refuse(req, reply, done, acme, 503, shedDetail(cls, shed, after), after);
      return;
    }
    const ip = addressKey(req.ip);
    let limit: LimitName | null = null;
    let r: TakeResult = { ok: true };
    if (acme) {
      r = acmePerIp.take(ip);
      if (!r.ok) limit = 'acmePerIp';
    } else {
      r = authFailures.peek(ip);
      if (!r.ok) limit = 'authFailuresPerIp';
      if (r.ok) { r = perIp.take(ip); if (!r.ok) limit = 'perIp'; }
      const tk = r.ok ? tokenKey(req.headers.authorization) : null;
      if (tk !== null) { r = perToken.take(tk); if (!r.ok) limit = 'perToken'; }
    }
    if (!r.ok && limit) {
      governor.release[cls]();
      metrics.rateLimited.inc({ listener: 'https', key: METRIC_KEY[limit] });
      o.onLimited?.({
        limit, key: limit === 'perToken' ? `token-digest:${tokenKey(req.headers.authorization)}` : ip, source: req.ip,
        channel: acme ? 'acme' : 'api', path, method: req.method, retryAfterSeconds: r.retryAfterSeconds,
      });
      refuse(req, reply, done, acme, 429, `${LIMITED_DETAIL[limit]}; retry after ${r.retryAfterSeconds} s`, r.retryAfterSeconds, limit);
      return;
    }
    reply.raw.once('close', governor.release[cls]);
    done();
  });

  if (authFailures.enabled) {
    app.addHook('onResponse', (req, reply, done) => {
      if (reply.statusCode === 401 && !isAcme(pathOf(req.url))) authFailures.take(addressKey(req.ip));
      done();
    });
  }
}

/** Hook for the fastify routes of the HTTP listener (CRLs, CA certificates; health passes). */
export function installValidationGuard(app: FastifyInstance, limits: NodeLimits): void {
  const { governor, metrics } = limits;
  app.addHook('onRequest', (req, reply, done) => {
    if (HEALTH_PATHS.has(pathOf(req.url))) { done(); return; }
    const shed = governor.tryEnter('validation');
    if (shed !== null) {
      metrics.shed.inc({ class: 'validation', reason: shed });
      const after = governor.retryAfter();
      sendProblem(reply, { ...problemFor('unavailable', shedDetail('validation', shed, after)), instance: pathOf(req.url) },
        { 'retry-after': String(after), 'cache-control': 'no-store' });
      return;
    }
    reply.raw.once('close', governor.release.validation);
    done();
  });
}

type RawHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * Wraps the raw OCSP handler (returns true when it took the request) with
 * the validation class of the governor.
 */
export function guardOcsp(limits: NodeLimits, ocsp: RawHandler): RawHandler {
  const { governor, metrics } = limits;
  const tryLater = Buffer.from(ocspErrorResponse('tryLater'));
  return (req, res) => {
    const url = req.url ?? '';
    if (!(url === '/ocsp' || url.startsWith('/ocsp/') || url.startsWith('/ocsp?'))) return false;
    const shed = governor.tryEnter('validation');
    if (shed !== null) {
      metrics.shed.inc({ class: 'validation', reason: shed });
      res.writeHead(503, {
        'content-type': 'application/ocsp-response', 'content-length': tryLater.length,
        'retry-after': String(governor.retryAfter()), 'cache-control': 'no-store',
      }).end(tryLater);
      return true;
    }
    let taken = true;
    try {
      taken = ocsp(req, res);
    } finally {
      // A cached answer is written before the handler returns: out of flight now, with no
      // 'close' listener to add and remove per request (the hottest path of the node).
      if (res.writableEnded) governor.release.validation();
      else res.once('close', governor.release.validation);
    }
    return taken;
  };
}
