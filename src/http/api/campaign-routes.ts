/**
 * The re-issuance campaign over the REST API (issue 20): progress, the work
 * list (NDJSON or CSV), re-issuing a REST certificate from its stored public
 * key, and finishing the campaign (revoking the old hierarchy).
 */
import type { FastifyInstance } from 'fastify';
import { RampartError } from '../../core/errors.js';
import { normalizeSerial } from '../../core/serial.js';
import { toPem } from '../../pki/certificate-builder.js';
import { workListHeader, workListLines, type WorkListFormat } from '../../ra/campaign/campaign-items.js';
import type { CampaignService } from '../../ra/campaign/campaign-service.js';
import { progressView } from '../../ra/campaign/campaign-view.js';
import type { Authenticator } from './auth.js';
import { problemSchema } from './certificate-view.js';

const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema, 404: problemSchema, 409: problemSchema };

export interface CampaignRoutesOptions { auth: Authenticator; campaigns: CampaignService }

export async function campaignRoutes(app: FastifyInstance, o: CampaignRoutesOptions): Promise<void> {
  app.get('/api/v1/campaign', {
    schema: { summary: 'Progress of the current re-issuance campaign (rampart pki rebuild)', tags: ['admin'], security: [{ bearer: [] }], response: { ...errors } },
  }, async (req) => {
    await o.auth.require(req, 'status.read');
    return progressView(await o.campaigns.progress());
  });

  app.get<{ Querystring: { format?: string; outstanding?: string } }>('/api/v1/campaign/items', {
    schema: {
      summary: 'The campaign work list: every certificate (or ?outstanding=true: those not re-issued), NDJSON or CSV', tags: ['admin'], security: [{ bearer: [] }],
      querystring: { type: 'object', additionalProperties: false, properties: { format: { type: 'string', enum: ['ndjson', 'csv'] }, outstanding: { type: 'string', enum: ['true', 'false'] } } },
      response: { ...errors },
    },
  }, async (req, reply) => {
    await o.auth.require(req, 'cert.read');
    const format = (req.query.format ?? 'ndjson') as WorkListFormat;
    const c = await o.campaigns.current();
    if (!c) throw new RampartError('notFound', 'no re-issuance campaign');
    let body = workListHeader(format);
    let after: string | undefined;
    for (let i = 0; i < 10_000; i++) {
      const items = await o.campaigns.items({ after, limit: 500, outstanding: req.query.outstanding === 'true' }, c);
      if (!items.length) break;
      body += workListLines(items, format);
      after = items.at(-1)!.serial;
    }
    return reply.type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson').send(body);
  });

  app.post<{ Params: { serial: string } }>('/api/v1/campaign/items/:serial/reissue', {
    schema: { summary: 'Re-issue a REST certificate of the campaign from its stored public key (same profile and names)', tags: ['admin'], security: [{ bearer: [] }], response: { ...errors } },
  }, async (req, reply) => {
    const actor = await o.auth.require(req, 'cert.issue');
    const serial = normalizeSerial(req.params.serial);
    if (!serial) throw new RampartError('malformed', `"${req.params.serial.slice(0, 64)}" is not a hexadecimal serial`);
    const r = await o.campaigns.reissue(serial, actor);
    return reply.code(201).send({ replaces: serial, serial: r.record.serial, issuerId: r.record.issuerId, notAfter: r.record.notAfter.toISOString(), certificate: toPem(r.record.der), chain: r.chain.map((d) => toPem(d)) });
  });

  app.post<{ Body: { force?: boolean } | null }>('/api/v1/campaign/finish', {
    schema: {
      summary: 'Finish the campaign: revoke what is left of the old hierarchy (409 while certificates are outstanding before the deadline, unless force)', tags: ['admin'], security: [{ bearer: [] }],
      body: { type: ['object', 'null'], additionalProperties: false, properties: { force: { type: 'boolean' } } }, response: { ...errors },
    },
  }, async (req) => {
    const actor = await o.auth.require(req, 'cert.revoke');
    return o.campaigns.finish({ actor, force: req.body?.force === true });
  });
}
