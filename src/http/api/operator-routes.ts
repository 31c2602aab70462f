/** REST routes for operators (provision, list, deprovision, their tokens) and token rotation. */
import type { FastifyInstance } from 'fastify';
import type { AuditLog } from '../../audit/audit-log.js';
import type { OperatorService } from '../../auth/operators.js';
import { TOKEN_ROLES, type TokenService } from '../../auth/tokens.js';
import type { Clock } from '../../core/clock.js';
import type { OperatorRecord, TokenRole } from '../../core/types.js';
import type { Authenticator } from './auth.js';
import { problemSchema } from './certificate-view.js';

export interface OperatorRoutesOptions { auth: Authenticator; operators: OperatorService; tokens: TokenService; audit: AuditLog; clock: Clock }

const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema, 404: problemSchema, 409: problemSchema };
const nameParam = { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$' } } };
const view = (o: OperatorRecord) => ({ id: o.id, name: o.name, role: o.role, createdAt: o.createdAt.toISOString(), disabledAt: o.disabledAt?.toISOString() ?? null });
const operatorSchema = { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' }, role: { type: 'string' }, createdAt: { type: 'string' }, disabledAt: { type: ['string', 'null'] } } };
const tokenSchema = { type: 'object', properties: { id: { type: 'string' }, token: { type: 'string' }, role: { type: 'string' }, expiresAt: { type: ['string', 'null'] }, oldRevokedAt: { type: 'string' } } };

export async function operatorRoutes(app: FastifyInstance, o: OperatorRoutesOptions): Promise<void> {
  const audited = (actor: { id: string; source: string }, action: string, target: string, details: Record<string, unknown> = {}) =>
    o.audit.record({ actor: actor.id, source: actor.source, channel: 'api', action, target, outcome: 'success', details });

  app.post<{ Body: { name: string; role: TokenRole } }>('/api/v1/operators', {
    schema: {
      summary: 'Provision an operator with a role', tags: ['operators'], security: [{ bearer: [] }],
      body: { type: 'object', required: ['name', 'role'], additionalProperties: false, properties: { name: nameParam.properties.name, role: { type: 'string', enum: [...TOKEN_ROLES] } } },
      response: { 201: operatorSchema, ...errors },
    },
  }, async (req, reply) => {
    const actor = await o.auth.require(req, 'token.manage');
    const op = await o.operators.add(req.body.name, req.body.role);
    await audited(actor, 'operator.create', `operator:${op.name}`, { role: op.role });
    reply.code(201);
    return view(op);
  });

  app.get('/api/v1/operators', {
    schema: { summary: 'Operators', tags: ['operators'], security: [{ bearer: [] }], response: { 200: { type: 'object', properties: { operators: { type: 'array', items: operatorSchema } } }, ...errors } },
  }, async (req) => {
    await o.auth.require(req, 'token.manage');
    return { operators: (await o.operators.list()).map(view) };
  });

  app.delete<{ Params: { name: string } }>('/api/v1/operators/:name', {
    schema: { summary: 'Deprovision an operator: its tokens stop working at once', tags: ['operators'], security: [{ bearer: [] }], params: nameParam, response: { ...errors } },
  }, async (req) => {
    const actor = await o.auth.require(req, 'token.manage');
    const r = await o.operators.remove(req.params.name);
    await audited(actor, 'operator.deprovision', `operator:${r.operator.name}`, { revokedTokens: r.revokedTokens });
    return { ...view(r.operator), revokedTokens: r.revokedTokens };
  });

  app.post<{ Params: { name: string }; Body: { expiresInDays?: number } | undefined }>('/api/v1/operators/:name/tokens', {
    schema: {
      summary: "A token for the operator (its role; shown once, stored hashed)", tags: ['operators'], security: [{ bearer: [] }], params: nameParam,
      body: { type: ['object', 'null'], additionalProperties: false, properties: { expiresInDays: { type: 'integer', minimum: 1, maximum: 3650 } } },
      response: { 201: tokenSchema, ...errors },
    },
  }, async (req, reply) => {
    const actor = await o.auth.require(req, 'token.manage');
    const days = req.body?.expiresInDays;
    const { token, record } = await o.operators.issueToken(req.params.name, days ? new Date(o.clock.now().getTime() + days * 86_400_000) : null);
    await audited(actor, 'token.create', `token:${record.id}`, { operator: req.params.name, role: record.role });
    reply.code(201);
    return { id: record.id, token, role: record.role, expiresAt: record.expiresAt?.toISOString() ?? null };
  });

  app.post<{ Params: { id: string }; Body: { graceSeconds?: number } | undefined }>('/api/v1/tokens/:id/rotate', {
    schema: {
      summary: 'Rotate a token: a new one now, the old one stops after graceSeconds', tags: ['admin'], security: [{ bearer: [] }],
      params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[0-9a-f]{12}$' } } },
      body: { type: ['object', 'null'], additionalProperties: false, properties: { graceSeconds: { type: 'integer', minimum: 0, maximum: 604800 } } },
      response: { 201: tokenSchema, ...errors },
    },
  }, async (req, reply) => {
    const actor = await o.auth.require(req, 'token.manage');
    const r = await o.tokens.rotate(req.params.id, req.body?.graceSeconds ?? 0);
    await audited(actor, 'token.rotate', `token:${req.params.id}`, { newToken: r.record.id, oldRevokedAt: r.oldRevokedAt.toISOString() });
    reply.code(201);
    return { id: r.record.id, token: r.token, role: r.record.role, expiresAt: r.record.expiresAt?.toISOString() ?? null, oldRevokedAt: r.oldRevokedAt.toISOString() };
  });
}
