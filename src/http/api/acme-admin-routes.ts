/** REST routes for ACME administration: external account binding keys. */
import type { FastifyInstance } from 'fastify';
import type { AuditLog } from '../../audit/audit-log.js';
import type { EabKeys } from '../../acme/eab.js';
import { RampartError } from '../../core/errors.js';
import type { Authenticator } from './auth.js';
import { problemSchema } from './certificate-view.js';

const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema, 404: problemSchema };

export async function acmeAdminRoutes(app: FastifyInstance, o: { auth: Authenticator; eab: EabKeys; audit: AuditLog }): Promise<void> {
  app.post<{ Body: { description?: string } }>('/api/v1/acme/eab', {
    schema: {
      summary: 'Create an ACME external account binding key (MAC key shown once; stored sealed)', tags: ['acme'], security: [{ bearer: [] }],
      body: { type: 'object', additionalProperties: false, properties: { description: { type: 'string', maxLength: 200 } } },
      response: { 201: { type: 'object', properties: { kid: { type: 'string' }, hmacKey: { type: 'string' }, description: { type: 'string' } } }, ...errors },
    },
  }, async (req, reply) => {
    const actor = await o.auth.require(req, 'acme.manage');
    const description = req.body?.description ?? '';
    const k = await o.eab.create(description);
    await o.audit.record({ actor: actor.id, source: actor.source, channel: 'api', action: 'acme.eab.create', target: `eab:${k.kid}`, outcome: 'success', details: { description } });
    reply.code(201);
    return { kid: k.kid, hmacKey: k.hmacKey, description };
  });

  app.get('/api/v1/acme/eab', { schema: { summary: 'List ACME external account binding keys', tags: ['acme'], security: [{ bearer: [] }] } }, async (req) => {
    await o.auth.require(req, 'acme.manage');
    return {
      items: (await o.eab.list()).map((k) => ({ kid: k.kid, description: k.description, createdAt: k.createdAt.toISOString(), boundAccountId: k.boundAccountId, revokedAt: k.revokedAt?.toISOString() ?? null })),
    };
  });

  app.delete<{ Params: { kid: string } }>('/api/v1/acme/eab/:kid', {
    schema: {
      summary: 'Revoke an ACME external account binding key', tags: ['acme'], security: [{ bearer: [] }],
      params: { type: 'object', properties: { kid: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } } }, response: { ...errors },
    },
  }, async (req) => {
    const actor = await o.auth.require(req, 'acme.manage');
    const ok = await o.eab.revoke(req.params.kid);
    await o.audit.record({ actor: actor.id, source: actor.source, channel: 'api', action: 'acme.eab.revoke', target: `eab:${req.params.kid}`, outcome: ok ? 'success' : 'failure' });
    if (!ok) throw new RampartError('notFound', `no unrevoked EAB key ${req.params.kid}`);
    return { kid: req.params.kid, revoked: true };
  });
}
