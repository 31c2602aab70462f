/**
 * The plain-HTTP validation surface besides OCSP (see ocsp-route.ts): CRLs
 * and CA certificates, as src/validation/publication.ts finds them. Relying
 * parties reach these without TLS (RFC 5280, RFC 6960), so nothing here needs
 * authentication and nothing here mutates state.
 */
import type { FastifyInstance } from 'fastify';
import type { PublishedFile, ValidationPublication } from '../../validation/publication.js';
import { problemFor, sendProblem } from '../problem.js';

export interface PublicationRoutesOptions {
  publication: ValidationPublication;
}

export async function publicationRoutes(app: FastifyInstance, o: PublicationRoutesOptions): Promise<void> {
  const send = (reply: import('fastify').FastifyReply, f: PublishedFile) => reply.headers(f.headers).type(f.contentType).send(f.body);

  app.get<{ Params: { file: string } }>('/crl/:file', async (req, reply) => {
    const f = await o.publication.crlFile(req.params.file);
    return f ? send(reply, f) : sendProblem(reply, problemFor('notFound', `no CRL at ${req.url}`));
  });

  app.get<{ Params: { issuer: string; file: string } }>('/crl/:issuer/:file', async (req, reply) => {
    const f = await o.publication.shardCrlFile(req.params.issuer, req.params.file);
    return f ? send(reply, f) : sendProblem(reply, problemFor('notFound', `no CRL at ${req.url}`));
  });

  app.get<{ Params: { file: string } }>('/ca/:file', async (req, reply) => {
    const f = o.publication.caFile(req.params.file);
    return f ? send(reply, f) : sendProblem(reply, problemFor('notFound', `no CA certificate at ${req.url}`));
  });
}
