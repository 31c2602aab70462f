/**
 * Turns errors into RFC 7807 problem documents. The only place where internal
 * errors meet HTTP: internal details never reach the client, and bad input is
 * always a 4xx.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, isRampartError, type ErrorCode } from '../core/errors.js';
import { isOutOfSpace, OUT_OF_SPACE_DETAIL, OUT_OF_SPACE_RETRY_SECONDS } from '../core/out-of-space.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  [k: string]: unknown;
}

export function problemFor(code: ErrorCode, detail: string, extra: Record<string, unknown> = {}): Problem {
  return { type: `urn:rampart:error:${code}`, title: ERRORS[code].title, status: ERRORS[code].http, detail, ...extra };
}

/** Maps fastify's own errors (validation, body parsing, limits) to our codes. */
function classify(err: FastifyError): { code: ErrorCode; detail: string } | null {
  if (err.validation) return { code: 'malformed', detail: `request ${err.validationContext ?? ''} ${err.message}`.replace(/\s+/g, ' ').trim() };
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return { code: 'payloadTooLarge', detail: 'request body is larger than the configured limit' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return { code: 'malformed', detail: 'unsupported content type' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY': return { code: 'malformed', detail: 'JSON body is empty' };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH': return { code: 'malformed', detail: err.message };
    default: break;
  }
  if (err instanceof SyntaxError) return { code: 'malformed', detail: 'body is not valid JSON' };
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return { code: err.statusCode === 413 ? 'payloadTooLarge' : err.statusCode === 404 ? 'notFound' : 'malformed', detail: err.message };
  }
  return null;
}

export function sendProblem(reply: FastifyReply, p: Problem, headers: Record<string, string> = {}): FastifyReply {
  return reply.code(p.status).headers(headers).type('application/problem+json').send(p);
}

export function installProblemHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    if (isRampartError(err)) {
      // A node that does not write now (standby, fenced, no lease yet, replica region) may in a moment: say when to try again.
      const headers: Record<string, string> = err.code === 'notWritable' || err.code === 'fenced' || err.code === 'unavailable' ? { 'retry-after': '1' } : {};
      return sendProblem(reply, { ...problemFor(err.code, err.message, err.extra), instance: req.url.split('?')[0] }, headers);
    }
    const c = classify(err);
    if (c) return sendProblem(reply, { ...problemFor(c.code, c.detail), instance: req.url.split('?')[0] });
    if (isOutOfSpace(err)) {
      req.log.error({ err }, 'write refused: storage out of space');
      return sendProblem(reply, { ...problemFor('unavailable', OUT_OF_SPACE_DETAIL), instance: req.url.split('?')[0] }, { 'retry-after': String(OUT_OF_SPACE_RETRY_SECONDS) });
    }
    req.log.error({ err }, 'unhandled error');
    return sendProblem(reply, problemFor('internal', 'internal error; see the node log'));
  });
  app.setNotFoundHandler((req, reply) => sendProblem(reply, problemFor('notFound', `no route for ${req.method} ${req.url.split('?')[0]}`)));
}
