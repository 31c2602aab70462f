/**
 * EST (RFC 7030) on the HTTPS listener, under /.well-known/est/ and
 * /.well-known/est/<label>/ (each label issues under its profile):
 *
 * - GET cacerts: the root and the active issuing chain, certs-only CMS;
 * - GET csrattrs: what the profile wants in a CSR (base64 DER CsrAttrs);
 * - POST simpleenroll: a base64 PKCS#10 (application/pkcs10), authenticated
 *   by an API token with cert.issue as the basic-auth password;
 * - POST simplereenroll: the same, authenticated by the certificate being
 *   renewed as the TLS client certificate (src/auth/est-identity.ts); the
 *   CSR keeps its subject and subjectAltNames, the profile stays.
 *
 * Issuance goes through IssuanceService like the REST API (policy, lint,
 * durable commit with its audit entry, OCSP pre-signing); the node's limits
 * (rate limits per address and token, overload shedding) apply as to every
 * HTTPS request. Every refusal is a 4xx problem document and stores nothing
 * but its audit entry.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditLog } from '../../audit/audit-log.js';
import { checkSameIdentity, peerCertificateDer, renewableCertificate } from '../../auth/est-identity.js';
import type { CertificateAuthority } from '../../ca/certificate-authority.js';
import { estDefaultProfile, type EstConfig } from '../../config/est-config.js';
import type { CertificateProfile } from '../../config/schema.js';
import type { Actor } from '../../core/actor.js';
import type { Clock } from '../../core/clock.js';
import { RampartError, isRampartError } from '../../core/errors.js';
import { certsOnly } from '../../pki/certs-only.js';
import { csrAttrsDer } from '../../pki/csr-attrs.js';
import { MAX_CSR_BYTES, type ParsedCsr } from '../../pki/csr.js';
import type { IssuanceService } from '../../ra/issuance.js';
import type { CertificateStore } from '../../storage/store.js';
import type { Authenticator } from '../api/auth.js';

export const EST_PREFIX = '/.well-known/est';

export interface EstRoutesOptions {
  auth: Authenticator;
  issuance: IssuanceService;
  ca: CertificateAuthority;
  store: CertificateStore;
  audit: AuditLog;
  clock: Clock;
  settings: EstConfig;
  profiles: Record<string, CertificateProfile>;
}

const CERTS_ONLY = 'application/pkcs7-mime; smime-type=certs-only';
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** Base64 in lines of 64 characters (RFC 2045 allows at most 76). */
function base64Body(der: Uint8Array): string {
  return `${Buffer.from(der).toString('base64').replace(/.{64}(?=.)/g, '$&\n')}\n`;
}

function sendBase64(reply: FastifyReply, type: string, der: Uint8Array): FastifyReply {
  return reply.code(200).header('content-transfer-encoding', 'base64').header('cache-control', 'no-store').type(type).send(base64Body(der));
}

/** The DER of a base64 PKCS#10 body (RFC 7030 4.2.1); 400 naming what is wrong, 415 for another media type. */
export function csrFromBody(contentType: string | undefined, body: unknown): Uint8Array {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/pkcs10') {
    throw new RampartError('unsupportedMediaType', `EST enrollment takes Content-Type application/pkcs10 (a base64 PKCS#10 request), not "${type || 'none'}"`);
  }
  const text = typeof body === 'string' ? body.replace(/\s+/g, '') : '';
  if (!text) throw new RampartError('badCsr', 'the body is empty: send the PKCS#10 request as base64 DER');
  if (text.startsWith('-----')) throw new RampartError('badCsr', 'the body is PEM: EST takes the base64 of the DER request without the BEGIN/END lines');
  if (!BASE64_RE.test(text) || text.length % 4 !== 0) throw new RampartError('badCsr', 'the body is not valid base64 (RFC 4648)');
  const der = new Uint8Array(Buffer.from(text, 'base64'));
  if (der.length === 0 || der.length > MAX_CSR_BYTES) throw new RampartError('badCsr', `the request must be 1..${MAX_CSR_BYTES} bytes of DER`);
  return der;
}

export async function estRoutes(app: FastifyInstance, o: EstRoutesOptions): Promise<void> {
  // Every body is taken as text here, whatever its type: the handler checks the type after authentication.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  const profileOf = (label: string | undefined): string => {
    if (label === undefined) {
      const p = estDefaultProfile(o.settings, o.profiles);
      if (!p) throw new RampartError('notFound', `no EST profile without a label: set est.profile (labels: ${Object.keys(o.settings.labels).join(', ') || 'none'})`);
      return p;
    }
    const p = Object.prototype.hasOwnProperty.call(o.settings.labels, label) ? o.settings.labels[label] : undefined;
    if (!p) throw new RampartError('notFound', `no EST label "${label}" (configured: ${Object.keys(o.settings.labels).join(', ') || 'none'})`);
    return p;
  };
  const tags = ['est'];
  const labelParams = { type: 'object', properties: { label: { type: 'string', minLength: 1, maxLength: 63 } } } as const;
  const routes = (path: string, withLabel: boolean): void => {
    const params = withLabel ? { params: labelParams } : {};
    type Req = FastifyRequest<{ Params: { label?: string }; Body: unknown }>;

    app.get(`${path}/cacerts`, { schema: { summary: 'EST: the CA certificates (certs-only CMS, base64)', tags, ...params } }, async (req: Req, reply) => {
      profileOf(req.params.label);
      const active = o.ca.active();
      const roots = o.ca.cas().filter((c) => c.kind === 'root').map((c) => c.certDer);
      return sendBase64(reply, CERTS_ONLY, certsOnly([...o.ca.chain(active.id), ...roots]));
    });

    app.get(`${path}/csrattrs`, { schema: { summary: 'EST: CSR attributes the profile wants (base64 DER CsrAttrs)', tags, ...params } }, async (req: Req, reply) => {
      const p = o.profiles[profileOf(req.params.label)]!;
      return sendBase64(reply, 'application/csrattrs', csrAttrsDer({
        ecdsaCurves: p.keyTypes.ecdsa.allowed ? p.keyTypes.ecdsa.curves : null, rsa: p.keyTypes.rsa.allowed,
      }));
    });

    app.post(`${path}/simpleenroll`, {
      schema: { summary: 'EST: enroll with an API token (HTTP basic auth password) and a base64 PKCS#10', tags, security: [{ basic: [] }], ...params },
    }, async (req: Req, reply) => {
      let actor: Actor;
      try {
        actor = await o.auth.require(req, 'cert.issue', { est: true });
      } catch (e) {
        if (isRampartError(e) && e.code === 'unauthorized') reply.header('www-authenticate', 'Basic realm="rampart-est"');
        throw e;
      }
      const profile = profileOf(req.params.label);
      const der = csrFromBody(req.headers['content-type'], req.body);
      const r = await o.issuance.issue({ csr: der, profile, auditDetails: { est: 'simpleenroll' } }, actor);
      return sendBase64(reply, CERTS_ONLY, certsOnly([r.record.der]));
    });

    if (!o.settings.reenroll) return;
    app.post(`${path}/simplereenroll`, {
      schema: { summary: 'EST: renew the certificate presented as the TLS client certificate (same subject and SANs)', tags, ...params },
    }, async (req: Req, reply) => {
      const source = req.ip;
      const deny = async (action: string, target: string, e: unknown): Promise<never> => {
        if (isRampartError(e)) await o.audit.record({ actor: 'anonymous', source, channel: 'est', action, target, outcome: 'denied', details: { error: e.code, message: e.message } });
        throw e;
      };
      const current = await renewableCertificate(peerCertificateDer(req.raw.socket), o.ca, o.store, o.clock.now())
        .catch((e) => deny('auth.client-cert', 'est:simplereenroll', e));
      const actor: Actor = { id: `est-cert:${current.serial}`, role: 'est', source, channel: 'est' };
      const renew = async (): Promise<ParsedCsr> => {
        const profile = profileOf(req.params.label);
        if (current.profile !== profile) {
          throw new RampartError('forbidden', `the certificate was issued under profile "${current.profile}"; this EST path issues under "${profile}"`);
        }
        const csr = await o.issuance.parseCsr(csrFromBody(req.headers['content-type'], req.body));
        checkSameIdentity(csr, current);
        return csr;
      };
      const csr = await renew().catch(async (e) => {
        if (isRampartError(e)) {
          await o.audit.record({ actor: actor.id, source, channel: 'est', action: 'certificate.issue', target: `profile:${current.profile}`, outcome: 'denied', details: { est: 'simplereenroll', renews: current.serial, error: e.code, message: e.message, ...e.extra } });
        }
        throw e;
      });
      const r = await o.issuance.issue({ csr: csr.der, parsedCsr: csr, profile: current.profile, auditDetails: { est: 'simplereenroll', renews: current.serial } }, actor);
      return sendBase64(reply, CERTS_ONLY, certsOnly([r.record.der]));
    });
  };
  routes(EST_PREFIX, false);
  routes(`${EST_PREFIX}/:label`, true);
}
