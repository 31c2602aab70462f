/** REST routes for administration: tokens, issuers, audit verification, CRL refresh, status. */
import type { FastifyInstance } from 'fastify';
import type { AuditLog } from '../../audit/audit-log.js';
import type { TokenService } from '../../auth/tokens.js';
import type { CertificateAuthority } from '../../ca/certificate-authority.js';
import type { Clock } from '../../core/clock.js';
import type { TokenRole } from '../../core/types.js';
import { toPem } from '../../pki/certificate-builder.js';
import type { Authenticator } from './auth.js';
import { problemSchema } from './certificate-view.js';
import { TOKEN_ROLES } from '../../auth/tokens.js';

export interface AdminRoutesOptions {
  auth: Authenticator;
  tokens: TokenService;
  audit: AuditLog;
  ca: CertificateAuthority;
  clock: Clock;
  /** Regenerates every CRL now; returns what was published. */
  generateCrls: () => Promise<Array<{ issuerId: string; number: string; entries: number }>>;
  status: () => Promise<Record<string, unknown>>;
  cluster: () => Promise<Record<string, unknown>>;
}

const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema, 404: problemSchema, 413: problemSchema };

export async function adminRoutes(app: FastifyInstance, o: AdminRoutesOptions): Promise<void> {
  app.post<{ Body: { name: string; role: TokenRole; expiresInDays?: number } }>('/api/v1/tokens', {
    schema: {
      summary: 'Create an API token (shown once; stored hashed)', tags: ['admin'], security: [{ bearer: [] }],
      body: {
        type: 'object', required: ['name', 'role'], additionalProperties: false,
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 100 },
          role: { type: 'string', enum: [...TOKEN_ROLES] },
          expiresInDays: { type: 'integer', minimum: 1, maximum: 3650 },
        },
      },
      response: { 201: { type: 'object', properties: { id: { type: 'string' }, token: { type: 'string' }, role: { type: 'string' }, expiresAt: { type: ['string', 'null'] } } }, ...errors },
    },
  }, async (req, reply) => {
    const actor = await o.auth.require(req, 'token.manage');
    const exp = req.body.expiresInDays ? new Date(o.clock.now().getTime() + req.body.expiresInDays * 86_400_000) : null;
    const { token, record } = await o.tokens.create(req.body.name, req.body.role, exp);
    await o.audit.record({ actor: actor.id, source: actor.source, channel: 'api', action: 'token.create', target: `token:${record.id}`, outcome: 'success', details: { name: record.name, role: record.role } });
    reply.code(201);
    return { id: record.id, token, role: record.role, expiresAt: record.expiresAt?.toISOString() ?? null };
  });

  app.get('/api/v1/issuers', {
    schema: { summary: 'CA and OCSP signing certificates', tags: ['admin'], security: [{ bearer: [] }] },
  }, async (req) => {
    await o.auth.require(req, 'status.read');
    return {
      items: o.ca.all().map((i) => ({
        id: i.id, kind: i.kind, subject: i.subject, parentId: i.parentId, active: i.active,
        notBefore: i.notBefore.toISOString(), notAfter: i.notAfter.toISOString(), certificatePem: toPem(i.certDer),
      })),
    };
  });

  app.get('/api/v1/audit/verify', {
    schema: { summary: 'Verify the audit hash chain', tags: ['admin'], security: [{ bearer: [] }] },
  }, async (req) => {
    await o.auth.require(req, 'audit.read');
    return o.audit.verify();
  });

  app.post('/api/v1/crl/generate', {
    schema: { summary: 'Regenerate and publish every CRL now', tags: ['admin'], security: [{ bearer: [] }], response: { ...errors } },
  }, async (req) => {
    const actor = await o.auth.require(req, 'crl.generate');
    const crls = await o.generateCrls();
    await o.audit.record({ actor: actor.id, source: actor.source, channel: 'api', action: 'crl.generate', target: 'all', outcome: 'success', details: { crls } });
    return { crls };
  });

  app.get('/api/v1/cluster', {
    schema: { summary: 'Cluster nodes (id, version, roles, addresses, health, last seen) and the leader lease', tags: ['admin'], security: [{ bearer: [] }] },
  }, async (req) => {
    await o.auth.require(req, 'status.read');
    return o.cluster();
  });

  app.get('/api/v1/status', { schema: { summary: 'Node URLs and health', tags: ['admin'] } }, async () => o.status());
}
