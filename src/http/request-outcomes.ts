/**
 * Counts every request a listener answers for the SLOs
 * (rampart_requests_total, rampart_request_duration_seconds): wraps the raw
 * node:http handler, so OCSP (answered before the router) and requests the
 * limits shed (503) are counted like the rest. Health and metrics endpoints
 * are left out (polled by HAProxy and Prometheus, not by clients). A request
 * is counted when its response is finished; one whose connection closes
 * first (the client went away, or the handler destroyed the socket) is not.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RampartMetrics } from '../metrics/metrics.js';
import { ACME_PREFIX } from '../acme/urls.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const NOT_COUNTED = new Set(['/healthz', '/readyz', '/metrics']);
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface RequestClass { class: 'validation' | 'issuance' | 'api'; route: 'ocsp' | 'publication' | 'acme' | 'rest' }

/** The class and route of a request, or null for health and metrics. */
export function classify(listener: 'http' | 'https', method: string, url: string): RequestClass | null {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (NOT_COUNTED.has(path)) return null;
  if (listener === 'http') return { class: 'validation', route: path === '/ocsp' || path.startsWith('/ocsp/') ? 'ocsp' : 'publication' };
  const route = path === ACME_PREFIX || path.startsWith(`${ACME_PREFIX}/`) ? 'acme' : 'rest';
  return { class: READ_METHODS.has(method) ? 'api' : 'issuance', route };
}

export function outcomeOf(status: number): 'ok' | 'client_error' | 'server_error' {
  return status >= 500 ? 'server_error' : status >= 400 ? 'client_error' : 'ok';
}

const OUTCOMES = ['ok', 'client_error', 'server_error'] as const;
const CLASSES: Record<'http' | 'https', RequestClass[]> = {
  http: [{ class: 'validation', route: 'ocsp' }, { class: 'validation', route: 'publication' }],
  https: (['issuance', 'api'] as const).flatMap((c) => (['acme', 'rest'] as const).map((route) => ({ class: c, route }))),
};

/**
 * Wraps a listener's handler. Every class, route and outcome of the listener
 * is exported at 0 from the start: no errors is a 0 on the dashboard, not a
 * missing series.
 */
export function countRequests(metrics: RampartMetrics, listener: 'http' | 'https', handler: Handler): Handler {
  for (const c of CLASSES[listener]) for (const outcome of OUTCOMES) metrics.requests.inc({ ...c, outcome }, 0);
  return (req, res) => {
    const c = classify(listener, req.method ?? 'GET', req.url ?? '');
    if (c) {
      const start = process.hrtime.bigint();
      res.once('finish', () => {
        metrics.requests.inc({ ...c, outcome: outcomeOf(res.statusCode) });
        metrics.requestDuration.observe(c, Number(process.hrtime.bigint() - start) / 1e9);
      });
    }
    handler(req, res);
  };
}
