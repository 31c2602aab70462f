/**
 * Bearer-token authentication and role checks for the REST API. The
 * permission table is here, in one place.
 */
import type { FastifyRequest } from 'fastify';
import type { TokenService } from '../../auth/tokens.js';
import type { TokenRole } from '../../core/types.js';
import { RampartError } from '../../core/errors.js';
import type { Actor } from '../../core/actor.js';
import type { AuditLog } from '../../audit/audit-log.js';
import { operatorFromClientCert } from '../../auth/operator-certs.js';
import type { Clock } from '../../core/clock.js';
import type { CertificateStore, OperatorStore } from '../../storage/store.js';
import { credentialOf } from '../credentials.js';

export type Permission = 'cert.issue' | 'cert.revoke' | 'cert.read' | 'token.manage' | 'audit.read' | 'crl.generate' | 'status.read' | 'acme.manage';

/** What each role may do. With ROUTE_ACCESS below, the whole permission matrix. */
export const PERMISSIONS: Record<TokenRole, readonly Permission[]> = {
  admin: ['cert.issue', 'cert.revoke', 'cert.read', 'token.manage', 'audit.read', 'crl.generate', 'status.read', 'acme.manage'],
  operator: ['cert.issue', 'cert.revoke', 'cert.read', 'crl.generate', 'status.read'],
  issuer: ['cert.issue', 'cert.read', 'status.read'],
  auditor: ['cert.read', 'audit.read', 'status.read'],
  'acme-admin': ['acme.manage', 'status.read'],
};

/**
 * Every route of the HTTPS listener and what it takes: a permission (bearer
 * token of a role that has it), 'public', or 'acme-jws' (RFC 8555: the
 * request is authenticated by its JWS, not by a token), 'est-mtls' (RFC
 * 7030 re-enrollment: by the TLS client certificate being renewed; EST
 * enrollment takes cert.issue, the token also as a basic-auth password). test/permission-
 * matrix.test.ts checks that this list matches the routes the node serves
 * exactly, and walks every route with every role.
 */
export const ROUTE_ACCESS: Readonly<Record<string, Permission | 'public' | 'acme-jws' | 'est-mtls'>> = {
  'GET /healthz': 'public',
  'GET /readyz': 'public',
  'GET /metrics': 'public',
  'GET /api/v1/status': 'public',
  'GET /api/v1/whoami': 'status.read',
  'POST /api/v1/certificates': 'cert.issue',
  'GET /api/v1/certificates': 'cert.read',
  'GET /api/v1/certificates/export': 'cert.read',
  'GET /api/v1/certificates/{serial}': 'cert.read',
  'POST /api/v1/certificates/{serial}/revoke': 'cert.revoke',
  'POST /api/v1/ssh/certificates': 'cert.issue',
  'GET /api/v1/ssh/certificates': 'cert.read',
  'GET /api/v1/ssh/certificates/{serial}': 'cert.read',
  'POST /api/v1/ssh/certificates/{serial}/revoke': 'cert.revoke',
  'GET /api/v1/ssh/cas': 'status.read',
  'POST /api/v1/tokens': 'token.manage',
  'POST /api/v1/tokens/{id}/rotate': 'token.manage',
  'POST /api/v1/operators': 'token.manage',
  'GET /api/v1/operators': 'token.manage',
  'DELETE /api/v1/operators/{name}': 'token.manage',
  'POST /api/v1/operators/{name}/tokens': 'token.manage',
  'GET /api/v1/issuers': 'status.read',
  'GET /api/v1/audit/verify': 'audit.read',
  'GET /api/v1/audit': 'audit.read',
  'GET /api/v1/drills': 'status.read',
  'GET /api/v1/campaign': 'status.read',
  'GET /api/v1/campaign/items': 'cert.read',
  'POST /api/v1/campaign/items/{serial}/reissue': 'cert.issue',
  'POST /api/v1/campaign/finish': 'cert.revoke',
  'GET /api/v1/backups': 'status.read',
  'GET /api/v1/metrics/history': 'status.read',
  'GET /dashboard': 'public',
  'GET /dashboard/': 'public',
  'GET /dashboard/app.js': 'public',
  'GET /dashboard/app.css': 'public',
  'GET /dashboard/vendor/uPlot.iife.min.js': 'public',
  'GET /dashboard/vendor/uPlot.min.css': 'public',
  'POST /api/v1/crl/generate': 'crl.generate',
  'GET /api/v1/cluster': 'status.read',
  'POST /api/v1/acme/eab': 'acme.manage',
  'GET /api/v1/acme/eab': 'acme.manage',
  'DELETE /api/v1/acme/eab/{kid}': 'acme.manage',
  'GET /acme/directory': 'public',
  'GET /acme/new-nonce': 'public',
  'GET /acme/renewal-info/{certId}': 'public',
  'POST /acme/new-account': 'acme-jws',
  'POST /acme/account/{id}': 'acme-jws',
  'GET /acme/account/{id}': 'acme-jws',
  'POST /acme/account/{id}/orders': 'acme-jws',
  'GET /acme/account/{id}/orders': 'acme-jws',
  'POST /acme/key-change': 'acme-jws',
  'POST /acme/new-order': 'acme-jws',
  'POST /acme/order/{id}': 'acme-jws',
  'GET /acme/order/{id}': 'acme-jws',
  'POST /acme/order/{id}/finalize': 'acme-jws',
  'GET /acme/order/{id}/finalize': 'acme-jws',
  'POST /acme/authz/{id}': 'acme-jws',
  'GET /acme/authz/{id}': 'acme-jws',
  'POST /acme/chall/{authzId}/{challId}': 'acme-jws',
  'GET /acme/chall/{authzId}/{challId}': 'acme-jws',
  'POST /acme/cert/{serial}': 'acme-jws',
  'GET /acme/cert/{serial}': 'acme-jws',
  'POST /acme/revoke-cert': 'acme-jws',
  'GET /.well-known/est/cacerts': 'public',
  'GET /.well-known/est/csrattrs': 'public',
  'POST /.well-known/est/simpleenroll': 'cert.issue',
  'POST /.well-known/est/simplereenroll': 'est-mtls',
  'GET /.well-known/est/{label}/cacerts': 'public',
  'GET /.well-known/est/{label}/csrattrs': 'public',
  'POST /.well-known/est/{label}/simpleenroll': 'cert.issue',
  'POST /.well-known/est/{label}/simplereenroll': 'est-mtls',
};

export interface RequireOptions {
  /**
   * EST (RFC 7030): the token may also come as the password of HTTP basic
   * auth, the TLS client certificate is not an operator login (it is the
   * device's own), and denials are audited on channel 'est'.
   */
  est?: boolean;
}

export interface Authenticator {
  require(req: FastifyRequest, perm: Permission, opts?: RequireOptions): Promise<Actor>;
}

/**
 * Administrative writes refused while the node's region does not take writes
 * (a replica region, or a fenced one): a token, operator or EAB key created
 * in a fenced region would vanish when its database is rewound at failback.
 * Issuance and revocation are refused by their own region fence.
 */
const REGION_FENCED_WRITES: ReadonlySet<Permission> = new Set(['token.manage', 'acme.manage', 'crl.generate']);

export interface AuthenticatorOptions {
  tokens: TokenService;
  audit: AuditLog;
  clientCerts?: { store: CertificateStore & OperatorStore; clock: Clock };
  /** Why this node's region refuses writes now, or null when it takes them (no regions: omit). */
  regionRefusal?: () => string | null;
}

export function createAuthenticator(o: AuthenticatorOptions): Authenticator {
  const checkRegion = (req: FastifyRequest, perm: Permission): void => {
    if (!o.regionRefusal || req.method === 'GET' || req.method === 'HEAD' || !REGION_FENCED_WRITES.has(perm)) return;
    const why = o.regionRefusal();
    if (why) throw new RampartError('notWritable', why);
  };
  const inner = createTokenAuthenticator(o);
  return {
    async require(req, perm, opts) {
      const actor = await inner.require(req, perm, opts);
      checkRegion(req, perm);
      return actor;
    },
  };
}

function createTokenAuthenticator(o: AuthenticatorOptions): Authenticator {
  return {
    async require(req, perm, opts) {
      const h = req.headers.authorization;
      const source = req.ip;
      const channel = opts?.est ? 'est' : 'api';
      const token = credentialOf(h, opts?.est ? ['bearer', 'basic'] : ['bearer']);
      if (token === null && o.clientCerts && !opts?.est) {
        // Mutual TLS: an operator's short-lived client certificate instead of a bearer token.
        let op;
        try {
          op = await operatorFromClientCert(req.raw.socket, o.clientCerts.store, o.clientCerts.clock.now());
        } catch (e) {
          await o.audit.record({ actor: 'anonymous', source, channel: 'api-mtls', action: 'auth.client-cert', target: perm, outcome: 'denied', details: { reason: (e as Error).message } });
          throw e;
        }
        if (op) {
          const actor: Actor = { id: `operator:${op.name}`, role: op.role, source, channel: 'api-mtls' };
          if (!PERMISSIONS[op.role].includes(perm)) {
            await o.audit.record({ actor: actor.id, source, channel: 'api-mtls', action: 'auth.permission', target: perm, outcome: 'denied', details: { role: op.role } });
            throw new RampartError('forbidden', `role "${op.role}" may not ${perm}`);
          }
          return actor;
        }
      }
      if (token === null) {
        await o.audit.record({ actor: 'anonymous', source, channel, action: 'auth.token', target: perm, outcome: 'denied', details: { reason: typeof h === 'string' ? 'malformed Authorization header' : 'no credentials' } });
        throw new RampartError('unauthorized', opts?.est
          ? 'an API token is required, as the password of HTTP basic auth (or Authorization: Bearer <token>)'
          : 'a bearer API token is required (Authorization: Bearer <token>)');
      }
      const rec = await o.tokens.authenticate(token);
      if (!rec) {
        await o.audit.record({ actor: 'anonymous', source, channel, action: 'auth.token', target: perm, outcome: 'denied', details: { reason: 'invalid, expired or revoked token' } });
        throw new RampartError('unauthorized', 'the API token is invalid, expired or revoked');
      }
      const actor: Actor = { id: `token:${rec.id}`, role: rec.role, source, channel };
      if (!PERMISSIONS[rec.role].includes(perm)) {
        await o.audit.record({ actor: actor.id, source, channel, action: 'auth.permission', target: perm, outcome: 'denied', details: { role: rec.role } });
        throw new RampartError('forbidden', `role "${rec.role}" may not ${perm}`);
      }
      return actor;
    },
  };
}
