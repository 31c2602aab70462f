/** REST routes for SSH certificates (issue 21): issue, list, get, revoke; the SSH CAs. */
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../core/clock.js';
import { RampartError } from '../../core/errors.js';
import type { SshAuthority } from '../../ca/ssh/ssh-authority.js';
import { SSH_CRITICAL_OPTIONS, SSH_EXTENSIONS } from '../../pki/ssh/ssh-certificate.js';
import { publicKeyLine, sshFingerprint } from '../../pki/ssh/ssh-keys.js';
import type { SshIssuance } from '../../ra/ssh-issuance.js';
import type { SshRequest } from '../../ra/ssh-policy.js';
import type { SshCaRecord, SshCertificateQuery, SshCertificateRecord } from '../../storage/ssh-records.js';
import type { SshStore } from '../../storage/store.js';
import type { Authenticator } from './auth.js';
import { problemSchema } from './certificate-view.js';

export interface SshRoutesOptions {
  auth: Authenticator;
  issuance: SshIssuance;
  authority: SshAuthority;
  store: SshStore;
  clock: Clock;
  pageSizeMax: number;
}

export function sshCertificateView(r: SshCertificateRecord, now: Date, withCert = false) {
  return {
    serial: r.serial, ca: r.caName, profile: r.profile, type: r.type, keyId: r.keyId, principals: r.principals, keyFingerprint: r.keyFingerprint,
    validAfter: r.validAfter.toISOString(), validBefore: r.validBefore.toISOString(),
    status: r.status === 'good' && r.validBefore <= now ? 'expired' : r.status, revokedAt: r.revokedAt?.toISOString() ?? null,
    createdAt: r.createdAt.toISOString(), requester: r.requester,
    ...(withCert ? { certificate: publicKeyLine(r.cert, r.keyId.replace(/\s+/g, '_')) } : {}),
  };
}

export function sshCaView(c: SshCaRecord) {
  return { name: c.name, type: c.type, algorithm: c.algorithm, keyBackend: c.keyBackend, fingerprint: sshFingerprint(c.publicKey), publicKey: publicKeyLine(c.publicKey), createdAt: c.createdAt.toISOString() };
}

const viewSchema = {
  type: 'object',
  properties: {
    serial: { type: 'string', description: 'unsigned 64-bit serial, decimal (as ssh-keygen -L shows it)' },
    ca: { type: 'string' }, profile: { type: 'string' }, type: { type: 'string', enum: ['user', 'host'] }, keyId: { type: 'string' },
    principals: { type: 'array', items: { type: 'string' } }, keyFingerprint: { type: 'string' },
    validAfter: { type: 'string', format: 'date-time' }, validBefore: { type: 'string', format: 'date-time' },
    status: { type: 'string', enum: ['good', 'revoked', 'expired'] }, revokedAt: { type: ['string', 'null'], format: 'date-time' },
    createdAt: { type: 'string', format: 'date-time' }, requester: { type: 'string' },
    certificate: { type: 'string', description: 'the -cert.pub line: "<type>-cert-v01@openssh.com <base64> <key id>"' },
  },
} as const;

const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema, 404: problemSchema, 409: problemSchema, 413: problemSchema, 422: problemSchema };
const serialParam = { type: 'object', properties: { serial: { type: 'string', maxLength: 32 } } } as const;

export async function sshRoutes(app: FastifyInstance, o: SshRoutesOptions): Promise<void> {
  app.post<{ Body: SshRequest }>('/api/v1/ssh/certificates', {
    schema: {
      summary: 'Issue an OpenSSH user or host certificate under an SSH profile',
      tags: ['ssh'],
      security: [{ bearer: [] }],
      body: {
        type: 'object', required: ['publicKey', 'type', 'profile', 'principals'], additionalProperties: false,
        properties: {
          publicKey: { type: 'string', minLength: 1, maxLength: 16384, description: 'OpenSSH public key line ("ssh-ed25519 AAAA... comment")' },
          type: { type: 'string', enum: ['user', 'host'] },
          profile: { type: 'string', minLength: 1, maxLength: 64 },
          principals: { type: 'array', minItems: 1, maxItems: 256, items: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[^\\s,*?]+$' } },
          keyId: { type: 'string', minLength: 1, maxLength: 200 },
          validitySeconds: { type: 'integer', minimum: 60, maximum: 5 * 366 * 86400 },
          criticalOptions: {
            type: 'object', additionalProperties: false, maxProperties: 3,
            properties: Object.fromEntries(SSH_CRITICAL_OPTIONS.map((k) => [k, { type: 'string', maxLength: 4096 }])),
          },
          extensions: { type: 'array', maxItems: 16, items: { type: 'string', enum: [...SSH_EXTENSIONS] } },
        },
      },
      response: { 201: viewSchema, ...errors },
    },
  }, async (req, reply) => {
    const actor = await o.auth.require(req, 'cert.issue');
    const rec = await o.issuance.issue(req.body, actor);
    reply.code(201).header('location', `/api/v1/ssh/certificates/${rec.serial}`);
    return sshCertificateView(rec, o.clock.now(), true);
  });

  app.get<{ Querystring: Omit<SshCertificateQuery, 'limit'> & { limit?: number } }>('/api/v1/ssh/certificates', {
    schema: {
      summary: 'List SSH certificates, newest first (key ID, principals, serial)',
      tags: ['ssh'],
      security: [{ bearer: [] }],
      querystring: {
        type: 'object', additionalProperties: false,
        properties: {
          caName: { type: 'string', maxLength: 63 },
          status: { type: 'string', enum: ['good', 'revoked', 'expired'] },
          search: { type: 'string', minLength: 1, maxLength: 255, description: 'text in the serial, key ID or a principal' },
          limit: { type: 'integer', minimum: 1, maximum: o.pageSizeMax, default: 50 },
          cursor: { type: 'string', pattern: '^[0-9]{1,18}$' },
        },
      },
      response: { 200: { type: 'object', properties: { items: { type: 'array', items: viewSchema }, nextCursor: { type: ['string', 'null'] } } }, ...errors },
    },
  }, async (req) => {
    await o.auth.require(req, 'cert.read');
    const { limit = 50, ...q } = req.query;
    const now = o.clock.now();
    const page = await o.store.listSshCertificates({ ...q, limit }, now);
    return { items: page.items.map((c) => sshCertificateView(c, now)), nextCursor: page.nextCursor };
  });

  app.get<{ Params: { serial: string } }>('/api/v1/ssh/certificates/:serial', {
    schema: { summary: 'Get one SSH certificate by serial', tags: ['ssh'], security: [{ bearer: [] }], params: serialParam, response: { 200: viewSchema, ...errors } },
  }, async (req) => {
    await o.auth.require(req, 'cert.read');
    const serial = /^[0-9]{1,20}$/.test(req.params.serial) ? BigInt(req.params.serial).toString() : null;
    if (!serial) throw new RampartError('malformed', `"${req.params.serial}" is not a decimal SSH certificate serial`);
    const rec = await o.store.getSshCertificate(serial);
    if (!rec) throw new RampartError('notFound', `no SSH certificate with serial ${serial}`);
    return sshCertificateView(rec, o.clock.now(), true);
  });

  app.post<{ Params: { serial: string } }>('/api/v1/ssh/certificates/:serial/revoke', {
    schema: { summary: 'Revoke an SSH certificate; the CA\'s KRL is republished before the answer', tags: ['ssh'], security: [{ bearer: [] }], params: serialParam, response: { 200: viewSchema, ...errors } },
  }, async (req) => {
    const actor = await o.auth.require(req, 'cert.revoke');
    return sshCertificateView(await o.issuance.revoke(req.params.serial, actor), o.clock.now());
  });

  app.get('/api/v1/ssh/cas', {
    schema: {
      summary: 'The SSH CAs: type, algorithm, key backend, public key', tags: ['ssh'], security: [{ bearer: [] }],
      response: { 200: { type: 'object', properties: { items: { type: 'array', items: { type: 'object', additionalProperties: true } } } }, ...errors },
    },
  }, async (req) => {
    await o.auth.require(req, 'status.read');
    return { items: (await o.authority.list()).map(sshCaView) };
  });
}
