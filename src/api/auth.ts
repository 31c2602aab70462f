/**
 * Bearer-token authentication and role checks for the REST API. The
 * permission table is here, in one place.
 */
import type { FastifyRequest } from 'fastify';
import type { TokenService } from '../auth/tokens.js';
import type { TokenRole } from '../core/types.js';
import { RampartError } from '../errors/codes.js';
import type { Actor } from '../ra/actor.js';
import type { AuditLog } from '../audit/audit-log.js';

export type Permission = 'cert.issue' | 'cert.revoke' | 'cert.read' | 'token.manage' | 'audit.read' | 'crl.generate' | 'status.read' | 'acme.manage';

export const PERMISSIONS: Record<TokenRole, readonly Permission[]> = {
  admin: ['cert.issue', 'cert.revoke', 'cert.read', 'token.manage', 'audit.read', 'crl.generate', 'status.read', 'acme.manage'],
  operator: ['cert.issue', 'cert.revoke', 'cert.read', 'crl.generate', 'status.read'],
  issuer: ['cert.issue', 'cert.read', 'status.read'],
  auditor: ['cert.read', 'audit.read', 'status.read'],
};

export interface Authenticator {
  require(req: FastifyRequest, perm: Permission): Promise<Actor>;
}

export function createAuthenticator(o: { tokens: TokenService; audit: AuditLog }): Authenticator {
  return {
    async require(req, perm) {
      const h = req.headers.authorization;
      const source = req.ip;
      const m = typeof h === 'string' ? /^Bearer\s+(\S+)$/i.exec(h) : null;
      if (!m) {
        throw new RampartError('unauthorized', 'a bearer API token is required (Authorization: Bearer <token>)');
      }
      const rec = await o.tokens.authenticate(m[1]!);
      if (!rec) {
        await o.audit.record({ actor: 'anonymous', source, channel: 'api', action: 'auth.token', target: perm, outcome: 'denied', details: { reason: 'invalid, expired or revoked token' } });
        throw new RampartError('unauthorized', 'the API token is invalid, expired or revoked');
      }
      const actor: Actor = { id: `token:${rec.id}`, role: rec.role, source, channel: 'api' };
      if (!PERMISSIONS[rec.role].includes(perm)) {
        await o.audit.record({ actor: actor.id, source, channel: 'api', action: 'auth.permission', target: perm, outcome: 'denied', details: { role: rec.role } });
        throw new RampartError('forbidden', `role "${rec.role}" may not ${perm}`);
      }
      return actor;
    },
  };
}
