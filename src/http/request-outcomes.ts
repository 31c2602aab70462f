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

const rc = (c: RequestClass['class'], route: RequestClass['route']): RequestClass => Object.freeze({ class: c, route });
const VALIDATION_OCSP = rc('validation', 'ocsp');
const VALIDATION_PUBLICATION = rc('validation', 'publication');
const HTTPS_CLASSES = { api: { acme: rc('api', 'acme'), rest: rc('api', 'rest') }, issuance: { acme: rc('issuance', 'acme'), rest: rc('issuance', 'rest') } } as const;

/** The class and route of a request (one shared object per pair), or null for health and metrics. */
export function classify(listener: 'http' | 'https', method: string, url: string): RequestClass | null {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (NOT_COUNTED.has(path)) return null;
  if (listener === 'http') return path === '/ocsp' || path.startsWith('/ocsp/') ? VALIDATION_OCSP : VALIDATION_PUBLICATION;
  const route = path === ACME_PREFIX || path.startsWith(`${ACME_PREFIX}/`) ? 'acme' : 'rest';
  return HTTPS_CLASSES[READ_METHODS.has(method) ? 'api' : 'issuance'][route];
}

export function outcomeOf(status: number): 'ok' | 'client_error' | 'server_error' {
  return status >= 500 ? 'server_error' : status >= 400 ? 'client_error' : 'ok';
}

const OUTCOMES = ['ok', 'client_error', 'server_error'] as const;
type Outcome = typeof OUTCOMES[number];
const CLASSES: Record<'http' | 'https', RequestClass[]> = {
  http: [VALIDATION_OCSP, VALIDATION_PUBLICATION],
  https: (['issuance', 'api'] as const).flatMap((c) => (['acme', 'rest'] as const).map((route) => HTTPS_CLASSES[c][route])),
};

export interface CountRequestsOptions {
  /** Also called with the seconds of every finished OCSP request (its own histogram), from the same listener. */
  observeOcsp?: (seconds: number) => void;
}

/**
 * Wraps a listener's handler. Every class, route and outcome of the listener
 * is exported at 0 from the start: no errors is a 0 on the dashboard, not a
 * missing series. One 'finish' listener per request does all of it (the
 * counters are HotCounter slots made here: OCSP is answered at tens of
 * thousands a second, see src/metrics/hot-counter.ts).
 */
export function countRequests(metrics: RampartMetrics, listener: 'http' | 'https', handler: Handler, o: CountRequestsOptions = {}): Handler {
  const slots = new Map<RequestClass, Record<Outcome, () => void>>();
  for (const c of CLASSES[listener]) {
    slots.set(c, Object.fromEntries(OUTCOMES.map((outcome) => [outcome, metrics.requests.slot({ ...c, outcome })])) as Record<Outcome, () => void>);
  }
  const duration = metrics.requestDuration;
  const observeOcsp = o.observeOcsp;
  return (req, res) => {
    const c = classify(listener, req.method ?? 'GET', req.url ?? '');
    if (c) {
      const start = performance.now();
      const slot = slots.get(c)!;
      res.once('finish', () => {
        const seconds = (performance.now() - start) / 1000;
        slot[outcomeOf(res.statusCode)]();
        duration.observe(c, seconds);
        if (c === VALIDATION_OCSP && observeOcsp) observeOcsp(seconds);
      });
    }
    handler(req, res);
  };
}
