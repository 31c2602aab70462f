/**
 * The node:http / node:https servers behind fastify, created here (as the
 * fastify serverFactory) so that every transport limit is set in one place:
 *
 * - headersTimeout: the complete headers must arrive within it, also on a
 *   connection that sends nothing at all (slowloris); answered 408 and
 *   closed. requestTimeout: the same for the whole request, body included.
 *   Both are enforced every `timeoutCheckIntervalMs` (node's default, 30 s,
 *   would let them run late by as much).
 * - handshakeTimeout (HTTPS): a TLS handshake that does not finish in time
 *   (node's default is 120 s); enforced by the HTTPS listener's TLS thread
 *   (src/http/tls-front/), as its connection cap is.
 * - setTimeout (connectionTimeoutMs): an inactive socket is closed.
 * - keepAliveTimeout and maxRequestsPerSocket: idle keep-alive connections do
 *   not pile up, and clients get spread over nodes behind a load balancer.
 * - maxConnections: beyond it node closes new connections at once (counted
 *   in rampart_http_connections_dropped_total); the process keeps serving the
 *   connections it has and never runs out of file descriptors for them.
 *
 * Body limits are fastify's bodyLimit (api.bodyLimitBytes; 64 KiB on the
 * HTTP listener) and ocsp.maxRequestBytes on the OCSP handler: 413.
 * The header size limit is node's (16 KiB): 431.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { LimitsConfig } from '../../config/limits-config.js';
import type { LimitMetrics } from './limit-metrics.js';
import type { TlsFront } from '../tls-front/tls-front.js';

export type Listener = 'http' | 'https';

export interface ListenerServerOptions {
  listener: Listener;
  config: LimitsConfig;
  metrics: LimitMetrics;
  /**
   * The HTTPS listener: its TLS runs in its own thread (src/http/tls-front/),
   * and this server is plain HTTP taking the relayed connections; the thread
   * owns the handshake timeout, client certificates and the connection cap.
   * Without it: the plain HTTP listener (OCSP, CRLs, CA certificates).
   */
  front?: TlsFront;
}

export function createListenerServer(
  o: ListenerServerOptions,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Server {
  const l = o.config[o.listener];
  const httpOptions = {
    requestTimeout: l.requestTimeoutMs,
    headersTimeout: l.headersTimeoutMs,
    connectionsCheckingInterval: o.config.timeoutCheckIntervalMs,
  };
  const server: Server = createServer(httpOptions, handler);
  server.keepAliveTimeout = l.keepAliveTimeoutMs;
  server.maxRequestsPerSocket = l.maxRequestsPerSocket;
  server.setTimeout(l.connectionTimeoutMs);
  if (o.front) {
    o.front.adopt(server);
    return server;
  }
  server.maxConnections = l.maxConnections;
  server.on('drop', () => o.metrics.connectionsDropped.inc({ listener: o.listener }));
  return server;
}
