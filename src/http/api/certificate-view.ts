/** The JSON shape of a certificate in API answers (and its schema for the OpenAPI document). */
import type { CertificateRecord } from '../../core/types.js';
import { toPem } from '../../pki/certificate-builder.js';
import { reasonName } from '../../pki/revocation-reasons.js';

export function certificateView(r: CertificateRecord, now: Date, opts: { pem?: boolean; chain?: Uint8Array[] } = {}) {
  return {
    serial: r.serial,
    issuerId: r.issuerId,
    profile: r.profile,
    subject: r.subject,
    sans: r.sans,
    notBefore: r.notBefore.toISOString(),
    notAfter: r.notAfter.toISOString(),
    status: r.status === 'good' && r.notAfter <= now ? 'expired' : r.status,
    revokedAt: r.revokedAt?.toISOString() ?? null,
    revocationReason: r.revocationReason === null ? null : reasonName(r.revocationReason),
    createdAt: r.createdAt.toISOString(),
    ...(opts.pem ? { certificatePem: toPem(r.der) } : {}),
    ...(opts.chain ? { chainPem: opts.chain.map((c) => toPem(c)).join('') } : {}),
  };
}

export const certificateSchema = {
  type: 'object',
  properties: {
    serial: { type: 'string', description: 'hex serial number' },
    issuerId: { type: 'string' },
    profile: { type: 'string' },
    subject: { type: 'string' },
    sans: { type: 'array', items: { type: 'string' } },
    notBefore: { type: 'string', format: 'date-time' },
    notAfter: { type: 'string', format: 'date-time' },
    status: { type: 'string', enum: ['good', 'revoked', 'expired'] },
    revokedAt: { type: ['string', 'null'], format: 'date-time' },
    revocationReason: { type: ['string', 'null'] },
    createdAt: { type: 'string', format: 'date-time' },
    certificatePem: { type: 'string' },
    chainPem: { type: 'string' },
  },
} as const;

export const problemSchema = {
  type: 'object',
  properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' }, rule: { type: 'string' } },
  additionalProperties: true,
} as const;
