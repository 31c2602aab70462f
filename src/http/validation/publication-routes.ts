/**
 * The plain-HTTP validation surface besides OCSP (see ocsp-handler.ts): CRLs
 * and CA certificates. Relying parties reach these without TLS (RFC 5280, RFC 6960),
 * so nothing here needs authentication and nothing here mutates state.
 */
import type { FastifyInstance } from 'fastify';
import type { CertificateAuthority } from '../../ca/certificate-authority.js';
import type { Clock } from '../../core/clock.js';
import type { CrlService } from '../../validation/crl/crl-service.js';
import { toPem } from '../../pki/certificate-builder.js';
import { problemFor, sendProblem } from '../problem.js';

export interface ValidationRoutesOptions {
  crl: CrlService;
  ca: CertificateAuthority;
  clock: Clock;
}

export async function validationRoutes(app: FastifyInstance, o: ValidationRoutesOptions): Promise<void> {
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
