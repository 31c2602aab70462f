/** REST routes for certificates: issue, get, list, export, revoke. */
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../core/clock.js';
import { normalizeSerial } from '../../core/serial.js';
import type { CertificateFilter } from '../../core/types.js';
import { RampartError } from '../../core/errors.js';
import type { IssuanceService } from '../../ra/issuance.js';
import type { RevocationService } from '../../ra/revocation.js';
import type { CertificateStore } from '../../storage/store.js';
import type { CertificateAuthority } from '../../ca/certificate-authority.js';
import { toPem } from '../../pki/certificate-builder.js';
import type { Authenticator } from './auth.js';
import { certificateSchema, certificateView, problemSchema } from './certificate-view.js';
import { REVOCATION_REASONS } from '../../pki/revocation-reasons.js';
import { Readable } from 'node:stream';
import { MIN_NAME_LENGTH, checkFilter } from '../../storage/inventory-query.js';
import { EXPORT_CONTENT_TYPES, EXPORT_FORMATS, exportChunks, type ExportFormat } from './certificate-export.js';

export interface CertificateRoutesOptions {
  auth: Authenticator;
  issuance: IssuanceService;
  revocation: RevocationService;
  store: CertificateStore;
  ca: CertificateAuthority;
  clock: Clock;
  pageSizeMax: number;
}

/** The list filters, shared by listing and export. */
const FILTER_PROPERTIES = {
  status: { type: 'string', enum: ['good', 'revoked', 'expired'] },
  expiringWithinDays: { type: 'integer', minimum: 0, maximum: 36500 },
  name: { type: 'string', minLength: MIN_NAME_LENGTH, maxLength: 253, description: `substring of the subject or a SAN, any case, at least ${MIN_NAME_LENGTH} characters (trigram index)` },
  issuerId: { type: 'string', minLength: 1, maxLength: 64 },
  profile: { type: 'string', maxLength: 64 },
} as const;

const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema, 404: problemSchema, 409: problemSchema, 413: problemSchema, 422: problemSchema };

export async function certificateRoutes(app: FastifyInstance, o: CertificateRoutesOptions): Promise<void> {
  app.post<{ Body: { csr: string; profile: string; sans?: { dns?: string[]; ip?: string[] }; validityDays?: number }; Headers: { 'idempotency-key'?: string } }>('/api/v1/certificates', {
    schema: {
      summary: 'Issue a certificate from a CSR under a profile',
      tags: ['certificates'],
      security: [{ bearer: [] }],
      headers: { type: 'object', properties: { 'idempotency-key': { type: 'string', minLength: 1, maxLength: 200, pattern: '^[\\x21-\\x7e]+$' } } },
      body: {
        type: 'object', required: ['csr', 'profile'], additionalProperties: false,
        properties: {
          csr: { type: 'string', minLength: 1, maxLength: 65536, description: 'PKCS#10 request, PEM' },
          profile: { type: 'string', minLength: 1, maxLength: 64 },
          sans: {
            type: 'object', additionalProperties: false,
            properties: {
              dns: { type: 'array', maxItems: 1000, items: { type: 'string', minLength: 1, maxLength: 253 } },
              ip: { type: 'array', maxItems: 1000, items: { type: 'string', minLength: 2, maxLength: 45 } },
            },
          },
          validityDays: { type: 'integer', minimum: 1, maximum: 3650 },
        },
      },
      response: { 201: certificateSchema, 200: certificateSchema, ...errors },
    },
  }, async (req, reply) => {
    const actor = await o.auth.require(req, 'cert.issue');
    const r = await o.issuance.issue({ ...req.body, idempotencyKey: req.headers['idempotency-key'] }, actor);
    reply.code(r.replayed ? 200 : 201).header('location', `/api/v1/certificates/${r.record.serial}`);
    if (r.replayed) reply.header('idempotent-replayed', 'true');
    return certificateView(r.record, o.clock.now(), { pem: true, chain: r.chain });
  });

  app.get<{ Querystring: CertificateFilter & { limit?: number; cursor?: string } }>('/api/v1/certificates', {
    schema: {
      summary: 'List certificates with filters and cursor pagination (total: the matches as of the first page, counted up to 10,000; totalCapped when more match)',
      tags: ['certificates'],
      security: [{ bearer: [] }],
      querystring: {
        type: 'object', additionalProperties: false,
        properties: {
          ...FILTER_PROPERTIES,
          limit: { type: 'integer', minimum: 1, maximum: o.pageSizeMax, default: 50 },
          cursor: { type: 'string', pattern: '^[0-9]{1,18}(\\.[0-9]{1,18}\\+?)?$', description: 'opaque: the nextCursor of the previous page' },
        },
      },
      response: {
        200: { type: 'object', properties: { items: { type: 'array', items: certificateSchema }, total: { type: 'integer' }, totalCapped: { type: 'boolean' }, nextCursor: { type: ['string', 'null'] } } },
        ...errors,
      },
    },
  }, async (req) => {
    await o.auth.require(req, 'cert.read');
    const { limit = 50, cursor, ...filter } = req.query;
    const now = o.clock.now();
    const page = await o.store.listCertificates(filter, { limit, cursor }, now);
    return { items: page.items.map((c) => certificateView(c, now)), total: page.total, totalCapped: page.totalCapped === true, nextCursor: page.nextCursor };
  });

  app.get<{ Querystring: CertificateFilter & { format: ExportFormat; include?: 'pem' } }>('/api/v1/certificates/export', {
    schema: {
      summary: 'Export every certificate matching the list filters as NDJSON or CSV (streamed)',
      tags: ['certificates'],
      security: [{ bearer: [] }],
      querystring: {
        type: 'object', additionalProperties: false, required: ['format'],
        properties: {
          ...FILTER_PROPERTIES,
          format: { type: 'string', enum: [...EXPORT_FORMATS] },
          include: { type: 'string', enum: ['pem'], description: 'pem: add each certificate as PEM' },
        },
      },
      response: { ...errors },
    },
  }, async (req, reply) => {
    await o.auth.require(req, 'cert.read');
    const { format, include, ...filter } = req.query;
    checkFilter(filter);
    const now = o.clock.now();
    reply.type(EXPORT_CONTENT_TYPES[format]).header('content-disposition', `attachment; filename="certificates.${format}"`);
    // Pulled chunk by chunk as the socket drains: the next batch is read only when the client has taken the last.
    return reply.send(Readable.from(exportChunks(o.store, filter, now, format, { pem: include === 'pem' })));
  });

  app.get<{ Params: { serial: string }; Querystring: { format?: 'json' | 'pem' | 'der' } }>('/api/v1/certificates/:serial', {
    schema: {
      summary: 'Get one certificate by serial (JSON, or the certificate as PEM or DER)',
      tags: ['certificates'],
      security: [{ bearer: [] }],
      params: { type: 'object', properties: { serial: { type: 'string', maxLength: 64 } } },
      querystring: { type: 'object', additionalProperties: false, properties: { format: { type: 'string', enum: ['json', 'pem', 'der'] } } },
      response: { 200: certificateSchema, ...errors },
    },
  }, async (req, reply) => {
    await o.auth.require(req, 'cert.read');
    const serial = normalizeSerial(req.params.serial);
    if (!serial) throw new RampartError('malformed', `"${req.params.serial}" is not a hexadecimal serial number`);
    const rec = await o.store.getCertificate(serial);
    if (!rec) throw new RampartError('notFound', `no certificate with serial ${serial}`);
    if (req.query.format === 'pem') return reply.type('application/pem-certificate-chain').send(toPem(rec.der) + o.ca.chain(rec.issuerId).map((c) => toPem(c)).join(''));
    if (req.query.format === 'der') return reply.type('application/pkix-cert').send(Buffer.from(rec.der));
    return certificateView(rec, o.clock.now(), { pem: true, chain: o.ca.chain(rec.issuerId) });
  });

  app.post<{ Params: { serial: string }; Body: { reason?: string | number } }>('/api/v1/certificates/:serial/revoke', {
    schema: {
      summary: 'Revoke a certificate with an RFC 5280 reason',
      tags: ['certificates'],
      security: [{ bearer: [] }],
      params: { type: 'object', properties: { serial: { type: 'string', maxLength: 64 } } },
      body: {
        type: 'object', additionalProperties: false,
        properties: { reason: { anyOf: [{ type: 'string', enum: Object.keys(REVOCATION_REASONS) }, { type: 'integer', minimum: 0, maximum: 10 }] } },
      },
      response: { 200: certificateSchema, ...errors },
    },
  }, async (req) => {
    const actor = await o.auth.require(req, 'cert.revoke');
    const rec = await o.revocation.revoke(req.params.serial, req.body?.reason ?? 'unspecified', actor);
    return certificateView(rec, o.clock.now());
  });
}
