/**
 * The plain-HTTP validation surface: OCSP (GET and POST), CRLs, CA
 * certificates. Relying parties reach these without TLS (RFC 5280, RFC 6960),
 * so nothing here needs authentication and nothing here mutates state.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { CertificateAuthority } from '../ca/certificate-authority.js';
import type { Clock } from '../core/clock.js';
import type { CrlService } from '../crl/crl-service.js';
import type { OcspAnswer, OcspResponder } from '../ocsp/responder.js';
import { toPem } from '../pki/certificate-builder.js';
import { ocspErrorResponse } from '../pki/ocsp-codec.js';
import { problemFor, sendProblem } from './problem.js';

export interface ValidationRoutesOptions {
  ocsp: OcspResponder;
  crl: CrlService;
  ca: CertificateAuthority;
  clock: Clock;
  maxAgeSeconds: number;
  maxRequestBytes: number;
}

function sendOcsp(reply: FastifyReply, a: OcspAnswer, o: ValidationRoutesOptions, ifNoneMatch?: string): FastifyReply {
  reply.type('application/ocsp-response');
  if (a.cache) {
    const now = o.clock.now().getTime();
    const maxAge = Math.max(0, Math.min(o.maxAgeSeconds, Math.floor((a.cache.nextUpdate.getTime() - now) / 1000)));
    reply.headers({
      'cache-control': `max-age=${maxAge}, public, no-transform, must-revalidate`,
      'last-modified': a.cache.thisUpdate.toUTCString(),
      expires: a.cache.nextUpdate.toUTCString(),
      etag: a.cache.etag,
    });
    if (ifNoneMatch && ifNoneMatch === a.cache.etag) return reply.code(304).send();
  } else {
    reply.header('cache-control', 'no-cache, no-store');
  }
  return reply.code(200).send(Buffer.from(a.body));
}

/** Decodes the GET form: base64 (URL-encoded or not, '/' and '//' allowed inside) after /ocsp/. */
export function decodeOcspGetPath(rawUrl: string): Uint8Array | null {
  const path = rawUrl.split('?')[0]!;
  const i = path.indexOf('/ocsp/');
  if (i < 0) return null;
  let b64 = path.slice(i + '/ocsp/'.length);
  try {
    b64 = decodeURIComponent(b64);
  } catch {
    return null;
  }
  b64 = b64.replace(/\s/g, '+'); // a '+' turned into a space by a form decoder
  if (!b64 || !/^[A-Za-z0-9+/=_-]+$/.test(b64)) return null;
  const der = Buffer.from(b64.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return der.length ? new Uint8Array(der) : null;
}

export async function validationRoutes(app: FastifyInstance, o: ValidationRoutesOptions): Promise<void> {
  const malformed = Buffer.from(ocspErrorResponse('malformedRequest'));
  // OCSP bodies are DER whatever the client labels them.
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: o.maxRequestBytes }, (_req, body, done) => done(null, body));

  app.post('/ocsp', { bodyLimit: o.maxRequestBytes }, async (req, reply) => {
    const body = req.body;
    if (!Buffer.isBuffer(body) || body.length === 0) return reply.code(200).type('application/ocsp-response').send(malformed);
    return sendOcsp(reply, await o.ocsp.respond(new Uint8Array(body)), o);
  });

  const get = async (req: { url: string; headers: Record<string, unknown> }, reply: FastifyReply) => {
    const der = req.url.length > o.maxRequestBytes * 2 ? null : decodeOcspGetPath(req.url);
    if (!der) return reply.code(200).type('application/ocsp-response').send(malformed);
    const inm = typeof req.headers['if-none-match'] === 'string' ? req.headers['if-none-match'] : undefined;
    return sendOcsp(reply, await o.ocsp.respond(der), o, inm);
  };
  app.get('/ocsp/*', get);
  app.get('/ocsp', async (_req, reply) => reply.code(200).type('application/ocsp-response').send(malformed));

  app.get<{ Params: { file: string } }>('/crl/:file', async (req, reply) => {
    const m = /^([a-z0-9-]+)\.(crl|pem)$/.exec(req.params.file);
    const crl = m ? await o.crl.current(m[1]!) : null;
    if (!m || !crl) return sendProblem(reply, problemFor('notFound', `no CRL at ${req.url}`));
    const maxAge = Math.max(0, Math.min(3600, Math.floor((crl.nextUpdate.getTime() - o.clock.now().getTime()) / 1000)));
    reply.headers({ 'cache-control': `max-age=${maxAge}, public, no-transform`, 'last-modified': crl.thisUpdate.toUTCString(), expires: crl.nextUpdate.toUTCString(), etag: `"${m[1]}-${crl.number}"` });
    if (m[2] === 'pem') return reply.type('application/x-pem-file').send(toPem(crl.der, 'X509 CRL'));
    return reply.type('application/pkix-crl').send(Buffer.from(crl.der));
  });

  app.get<{ Params: { file: string } }>('/ca/:file', async (req, reply) => {
    if (req.params.file === 'bundle.pem') {
      return reply.type('application/x-pem-file').send(o.ca.cas().map((c) => toPem(c.certDer)).join(''));
    }
    const m = /^([a-z0-9-]+)\.(crt|pem)$/.exec(req.params.file);
    const issuer = m ? o.ca.get(m[1]!) : undefined;
    if (!m || !issuer) return sendProblem(reply, problemFor('notFound', `no CA certificate at ${req.url}`));
    reply.header('cache-control', 'max-age=86400, public');
    if (m[2] === 'pem') return reply.type('application/x-pem-file').send(toPem(issuer.certDer));
    return reply.type('application/pkix-cert').send(Buffer.from(issuer.certDer));
  });
}
