/**
 * The ACME web front end (RFC 8555 §7): one route table under /acme on the
 * HTTPS listener. Every POST is a JWS checked by verifyJws, its nonce is used
 * once, and every error is an RFC 8555 problem document with a fresh nonce.
 */
import { isOutOfSpace, OUT_OF_SPACE_DETAIL, OUT_OF_SPACE_RETRY_SECONDS } from '../../core/out-of-space.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isRampartError, type ErrorCode } from '../../core/errors.js';
import type { RampartMetrics } from '../../metrics/metrics.js';
import type { AcmeServer } from '../../acme/acme-server.js';
import { ThrottledDenialAudit } from '../../audit/throttled-denial-audit.js';
import { addressKey } from '../limits/token-bucket.js';
import { verifyJws, type VerifiedRequest } from '../../acme/jws.js';
import { AcmeError, isAcmeError, ACME_URN, type AcmeErrorType } from '../../acme/problems.js';
import { accountView, authzView, challengeView, orderView } from '../../acme/views.js';
import { ACME_PREFIX, accountIdFromUrl, acmeUrls, type AcmeUrls } from '../../acme/urls.js';
import type { AcmeRequest } from '../../acme/context.js';

export interface AcmeRoutesOptions {
  acme: AcmeServer;
  metrics: RampartMetrics;
}

const RAMPART_TO_ACME: Partial<Record<ErrorCode, [AcmeErrorType, number?]>> = {
  malformed: ['malformed'],
  badCsr: ['badCSR'],
  badSignature: ['malformed'],
  policyViolation: ['rejectedIdentifier'],
  unknownProfile: ['serverInternal', 500],
  unauthorized: ['unauthorized'],
  forbidden: ['unauthorized'],
  notFound: ['malformed', 404],
  conflict: ['malformed', 409],
  alreadyRevoked: ['alreadyRevoked'],
  payloadTooLarge: ['malformed', 413],
  rateLimited: ['rateLimited'],
  unavailable: ['serverInternal', 503],
  notWritable: ['serverInternal', 503],
  fenced: ['serverInternal', 503],
};

type Handler = (ctx: { req: FastifyRequest; reply: FastifyReply; v: VerifiedRequest; r: AcmeRequest; params: Record<string, string> }) => Promise<unknown>;

export async function acmeRoutes(app: FastifyInstance, o: AcmeRoutesOptions): Promise<void> {
  const { acme } = o;
  const settings = acme.deps.settings;
  // Failed request authentication (bad JWS, unknown account, bad nonce) is a denied attempt:
  // audited once per problem type and address a minute (a client can repeat it at will).
  const denials = new ThrottledDenialAudit({
    record: (e) => acme.deps.audit.record(e),
    onError: (e) => acme.deps.log.warn({ err: e }, 'could not audit a refused ACME request'),
  });

  const urlsFor = (req: FastifyRequest): AcmeUrls => acmeUrls(settings.baseUrl ?? `${req.protocol}://${req.host}`);
  const origin = (req: FastifyRequest): string => (settings.baseUrl ?? `${req.protocol}://${req.host}`).replace(/\/+$/, '');

  app.addContentTypeParser('application/jose+json', { parseAs: 'string', bodyLimit: settings.maxPayloadBytes }, (_req, body, done) => {
    try { done(null, JSON.parse(body as string)); } catch { done(new AcmeError('malformed', 'the request body is not JSON'), undefined); }
  });

  app.addHook('onSend', async (req, reply, payload) => {
    reply.header('Replay-Nonce', acme.nonces.issue());
    // Add to the Link header: the routes set rel="up" (challenges) and rel="next" (order lists).
    const index = `<${urlsFor(req).directory}>;rel="index"`;
    const links = reply.getHeader('link');
    reply.header('Link', links === undefined ? index : [...[links].flat().map(String), index]);
    reply.header('Cache-Control', 'no-store');
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    o.metrics.acmeRequests.inc({ route: req.routeOptions.url ?? 'unmatched', code: String(reply.statusCode) });
  });
  if (acme.deps.limits.enabled('requestsPerIp')) {
    app.addHook('onRequest', async (req) => {
      await acme.deps.limits.check('requestsPerIp', req.ip, 'ACME requests from this address');
      await acme.deps.limits.record([['requestsPerIp', req.ip]]);
    });
  }

  app.setErrorHandler((err, req, reply) => {
    let e: AcmeError;
    if (isAcmeError(err)) e = err;
    else if (isRampartError(err)) {
      const [type, status] = RAMPART_TO_ACME[err.code] ?? ['serverInternal', 500];
      e = new AcmeError(type, err.message, status ? { status } : {});
    } else {
      const fe = err as { code?: string; statusCode?: number; message?: string };
      if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') e = new AcmeError('malformed', `the request body is larger than ${settings.maxPayloadBytes} bytes`, { status: 413 });
      else if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') e = new AcmeError('malformed', 'ACME requests must have Content-Type application/jose+json', { status: 415 });
      else if (err instanceof SyntaxError || fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY') e = new AcmeError('malformed', 'the request body is not valid JSON');
      else if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) e = new AcmeError('malformed', fe.message ?? 'bad request', { status: fe.statusCode });
      else if (isOutOfSpace(err)) {
        acme.deps.log.error({ err, url: req.url }, 'ACME write refused: storage out of space');
        e = new AcmeError('serverInternal', OUT_OF_SPACE_DETAIL, { status: 503, retryAfter: OUT_OF_SPACE_RETRY_SECONDS });
      } else {
        req.log.error({ err }, 'ACME request failed');
        acme.deps.log.error({ err, url: req.url }, 'ACME request failed');
        e = new AcmeError('serverInternal', 'internal error; see the node log');
      }
    }
    o.metrics.acmeProblems.inc({ type: e.type });
    if (e.options.retryAfter) reply.header('Retry-After', String(e.options.retryAfter));
    const body = e.toProblem();
    const location = (body as { location?: unknown }).location;
    if (typeof location === 'string') reply.header('Location', location);
    return reply.code(e.status).type('application/problem+json').send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    o.metrics.acmeProblems.inc({ type: 'malformed' });
    return reply.code(404).type('application/problem+json').send(new AcmeError('malformed', `no ACME resource at ${req.method} ${req.url.split('?')[0]}`, { status: 404 }).toProblem());
  });

  const lookupAccount = (urls: AcmeUrls) => async (kid: string) => {
    const id = accountIdFromUrl(urls, kid);
    return id ? acme.deps.store.getAcmeAccount(id) : null;
  };

  const post = (path: string, keyMode: 'jwk' | 'kid' | 'either', handler: Handler): void => {
    app.post(path, async (req, reply) => {
      const ct = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (ct !== 'application/jose+json') throw new AcmeError('malformed', 'ACME requests must have Content-Type application/jose+json', { status: 415 });
      const urls = urlsFor(req);
      const url = `${origin(req)}${req.url}`;
      let v: VerifiedRequest;
      try {
        v = await verifyJws(req.body, { url, keyMode, lookupAccount: lookupAccount(urls) });
        await acme.nonces.consume(v.header.nonce);
      } catch (e) {
        if (isAcmeError(e)) {
          denials.note({
            action: 'acme.auth', key: `${e.type} ${addressKey(req.ip)}`, source: req.ip, channel: 'acme', target: `POST ${req.url.split('?')[0]}`,
            details: { type: e.type, detail: e.message },
          });
        }
        throw e;
      }
      return handler({ req, reply, v, r: { urls, ip: req.ip }, params: req.params as Record<string, string> });
    });
    // Resources are fetched with POST-as-GET; a plain GET gets a clear answer instead of a 404.
    if (path !== '/new-account' && path !== '/new-order' && path !== '/revoke-cert' && path !== '/key-change') {
      app.get(path, async () => { throw new AcmeError('malformed', 'use POST-as-GET (RFC 8555 §6.3) to fetch this resource', { status: 405 }); });
    }
  };

  const needAccount = (v: VerifiedRequest) => {
    if (!v.account) throw new AcmeError('malformed', 'this request must be signed by an account (kid)');
    return v.account;
  };

  // ------------------------------------------------------------ directory and nonces

  app.get('/directory', async (req) => {
    const u = urlsFor(req);
    return {
      newNonce: u.newNonce, newAccount: u.newAccount, newOrder: u.newOrder, revokeCert: u.revokeCert, keyChange: u.keyChange,
      ...(settings.ari.enabled ? { renewalInfo: u.renewalInfo } : {}),
      meta: {
        ...(settings.termsOfService ? { termsOfService: settings.termsOfService } : {}),
        ...(settings.website ? { website: settings.website } : {}),
        ...(settings.caaIdentities.length ? { caaIdentities: settings.caaIdentities } : {}),
        externalAccountRequired: settings.externalAccountRequired,
      },
    };
  });
  // An explicit zero length keeps the connection reusable for clients (Node's http client treats a
  // length-less HEAD answer as unreusable and opens a new TLS connection for the next request).
  app.route({ method: 'HEAD', url: '/new-nonce', handler: async (_req, reply) => reply.code(200).header('content-length', '0').send() });
  app.get('/new-nonce', { exposeHeadRoute: false }, async (_req, reply) => reply.code(204).send());

  // ------------------------------------------------------------ accounts

  post('/new-account', 'jwk', async ({ reply, v, r }) => {
    const { account, created } = await acme.accounts.newAccount(v.jwk, v.thumbprint, v.payload, r);
    return reply.code(created ? 201 : 200).header('Location', r.urls.account(account.id)).send(accountView(account, r.urls));
  });
  post('/account/:id', 'kid', async ({ reply, v, r, params }) => {
    const a = await acme.accounts.update(needAccount(v), params.id!, v.payload, r);
    return reply.header('Location', r.urls.account(a.id)).send(accountView(a, r.urls));
  });
  post('/account/:id/orders', 'kid', async ({ req, reply, v, r, params }) => {
    const cursor = (req.query as { cursor?: string }).cursor;
    const page = await acme.orders.listOrders(needAccount(v), params.id!, cursor);
    if (page.next) reply.header('Link', `<${r.urls.accountOrders(params.id!)}?cursor=${encodeURIComponent(page.next)}>;rel="next"`);
    return { orders: page.ids.map((id) => r.urls.order(id)) };
  });
  post('/key-change', 'kid', async ({ reply, v, r }) => {
    const a = await acme.accounts.keyChange(needAccount(v), v.payload, r);
    return reply.header('Location', r.urls.account(a.id)).send(accountView(a, r.urls));
  });

  // ------------------------------------------------------------ orders, authorizations, challenges

  post('/new-order', 'kid', async ({ reply, v, r }) => {
    const order = await acme.orders.newOrder(needAccount(v), v.payload, r);
    return reply.code(201).header('Location', r.urls.order(order.id)).send(orderView(order, r.urls));
  });
  post('/order/:id', 'kid', async ({ reply, v, r, params }) => {
    if (v.payload !== null) throw new AcmeError('malformed', 'an order is fetched with POST-as-GET (empty payload)');
    const order = await acme.orders.getOrder(needAccount(v), params.id!);
    if (order.status === 'processing') reply.header('Retry-After', String(settings.retryAfterSeconds));
    return reply.header('Location', r.urls.order(order.id)).send(orderView(order, r.urls));
  });
  post('/order/:id/finalize', 'kid', async ({ reply, v, r, params }) => {
    const order = await acme.orders.finalize(needAccount(v), params.id!, v.payload, r);
    if (order.status === 'processing') reply.header('Retry-After', String(settings.retryAfterSeconds));
    return reply.header('Location', r.urls.order(order.id)).send(orderView(order, r.urls));
  });
  post('/authz/:id', 'kid', async ({ reply, v, r, params }) => {
    const a = await acme.orders.updateAuthorization(needAccount(v), params.id!, v.payload, r);
    if (a.status === 'pending' && a.processingSince) reply.header('Retry-After', String(settings.retryAfterSeconds));
    return reply.send(authzView(a, r.urls));
  });
  post('/chall/:authzId/:challId', 'kid', async ({ reply, v, r, params }) => {
    const { authz, challenge } = await acme.orders.challenge(needAccount(v), params.authzId!, params.challId!, v.payload, r);
    if (challenge.status === 'processing' || challenge.status === 'pending') reply.header('Retry-After', String(settings.retryAfterSeconds));
    reply.header('Link', `<${r.urls.authz(authz.id)}>;rel="up"`);
    return reply.send(challengeView(challenge, authz.id, r.urls));
  });

  // ------------------------------------------------------------ certificates

  post('/cert/:serial', 'kid', async ({ reply, v, params }) => {
    if (v.payload !== null) throw new AcmeError('malformed', 'a certificate is fetched with POST-as-GET (empty payload)');
    const chain = await acme.certificates.download(needAccount(v), params.serial!);
    return reply.type('application/pem-certificate-chain').send(chain);
  });
  post('/revoke-cert', 'either', async ({ reply, v, r }) => {
    await acme.certificates.revoke(v.account, v.jwk, v.payload, r);
    return reply.code(200).send();
  });
  if (settings.ari.enabled) {
    app.get('/renewal-info/:certId', async (req, reply) => {
      const { body, retryAfter } = await acme.certificates.renewalInfo((req.params as { certId: string }).certId);
      return reply.header('Retry-After', String(retryAfter)).send(body);
    });
  }
}

export { ACME_PREFIX, ACME_URN };
