/**
 * The client side of the ACME benchmark: the `acme-client` npm package (a
 * client nobody here wrote), used the same way against every server.
 *
 * One order = newOrder -> fetch the authorization -> answer its http-01
 * challenge -> poll the authorization until valid -> finalize with a CSR ->
 * poll the order until valid -> download the certificate. Accounts (ECDSA
 * P-256 keys) are created before any timing; certificate keys (ECDSA P-256) and
 * CSRs are made before each leg, so the timed part is the protocol and the
 * servers' work (plus the client's JWS signatures, which are part of ACME).
 *
 * Polling uses acme-client's own waitForValidStatus with the backoff options
 * given here (it does not read Retry-After while polling), identical for both
 * servers.
 */
import { X509Certificate } from 'node:crypto';
import { Agent, type AgentOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import { createSecureContext, TLSSocket } from 'node:tls';
import acme from 'acme-client';
import type { Responder } from './responder.js';

export interface PollOptions { backoffMinMs: number; backoffMaxMs: number; backoffAttempts: number }

/** Per-origin HTTP statistics, collected by axios interceptors on acme-client's own axios instance. */
export interface OriginStats {
  requests: number;
  /** New TLS connections the client opened, and how many of them resumed a TLS session. */
  connections: number;
  resumed: number;
  /** HEAD answers (newNonce) with and without a Content-Length header: without one, Node's HTTP client does not reuse the connection. */
  headContentLength: { present: number; absent: number };
  byMethod: Record<string, number>;
  statuses: Record<string, number>;
  /** The last non-2xx answers (method, URL, status, body), for diagnosis. */
  failures: Array<{ method: string; url: string; status: number | string; body: string }>;
}

const stats = new Map<string, OriginStats>();
const originOf = (url: string | undefined): string => {
  try { return new URL(url ?? '').origin; } catch { return 'unknown'; }
};
const statsFor = (origin: string): OriginStats => {
  let s = stats.get(origin);
  if (!s) stats.set(origin, s = { requests: 0, connections: 0, resumed: 0, headContentLength: { present: 0, absent: 0 }, byMethod: {}, statuses: {}, failures: [] });
  return s;
};

/** An https.Agent that counts the connections it opens, per origin. */
class CountingAgent extends Agent {
  override createConnection(options: AgentOptions & { host?: string; port?: number }, cb?: (err: Error | null, socket: Duplex) => void): Duplex {
    const origin = `https://${options.host ?? 'localhost'}:${options.port ?? 443}`;
    statsFor(origin).connections++;
    const socket = (Agent.prototype as unknown as { createConnection: (o: unknown, c: unknown) => Duplex }).createConnection.call(this, options, cb);
    if (socket instanceof TLSSocket) socket.once('secureConnect', () => { if (socket.isSessionReused()) statsFor(origin).resumed++; });
    return socket;
  }
}

let configured = false;

/**
 * Points acme-client's axios instance at an https.Agent that trusts exactly the
 * given CA certificates (one TLS context built once, keep-alive, no proxy, 30 s
 * timeout); installs the counters. Nothing else in the process uses this agent.
 */
export function configureClient(caPems: string[]): Agent {
  const agent = new CountingAgent({ secureContext: createSecureContext({ ca: caPems }), keepAlive: true, maxSockets: 64 });
  acme.axios.defaults.httpsAgent = agent;
  acme.axios.defaults.proxy = false;
  acme.axios.defaults.timeout = 30_000;
  if (!configured) {
    configured = true;
    acme.axios.interceptors.request.use((config) => {
      const s = statsFor(originOf(config.url));
      s.requests++;
      const m = (config.method ?? 'get').toUpperCase();
      s.byMethod[m] = (s.byMethod[m] ?? 0) + 1;
      return config;
    });
    const record = (status: number | string, method: string | undefined, url: string | undefined, data: unknown): void => {
      const s = statsFor(originOf(url));
      s.statuses[String(status)] = (s.statuses[String(status)] ?? 0) + 1;
      if (typeof status !== 'number' || status >= 300) {
        const body = typeof data === 'string' ? data : Buffer.isBuffer(data) ? data.toString('utf8') : JSON.stringify(data ?? null);
        s.failures.push({ method: (method ?? 'get').toUpperCase(), url: url ?? '', status, body: body.slice(0, 1_000) });
        if (s.failures.length > 10) s.failures.shift();
      }
    };
    acme.axios.interceptors.response.use(
      (res) => {
        record(res.status, res.config.method, res.config.url, res.data);
        if ((res.config.method ?? '').toUpperCase() === 'HEAD') {
          const h = statsFor(originOf(res.config.url)).headContentLength;
          if (res.headers['content-length'] !== undefined) h.present++;
          else h.absent++;
        }
        return res;
      },
      (err: { response?: { status: number; data: unknown }; config?: { method?: string; url?: string }; code?: string; message?: string }) => {
        record(err.response?.status ?? err.code ?? 'error', err.config?.method, err.config?.url, err.response?.data ?? err.message);
        return Promise.reject(err);
      },
    );
  }
  return agent;
}

/** A copy of the counters for one origin, and resets them. */
export function takeStats(origin: string): OriginStats {
  const s = statsFor(origin);
  stats.delete(origin);
  return s;
}

/** One ACME account on one server: an acme-client instance with a fresh ECDSA P-256 key, registered. */
export async function createAccount(directoryUrl: string, poll: PollOptions): Promise<acme.Client> {
  const accountKey = await acme.crypto.createPrivateEcdsaKey('P-256');
  const client = new acme.Client({
    directoryUrl, accountKey, backoffAttempts: poll.backoffAttempts, backoffMin: poll.backoffMinMs, backoffMax: poll.backoffMaxMs,
  });
  await client.createAccount({ termsOfServiceAgreed: true });
  return client;
}

export interface PreparedOrder { name: string; csr: Buffer }

/** Certificate keys (ECDSA P-256) and CSRs, made before the timed part. */
export async function prepareOrders(names: string[]): Promise<PreparedOrder[]> {
  const out: PreparedOrder[] = [];
  for (const name of names) {
    const key = await acme.crypto.createPrivateEcdsaKey('P-256');
    const [, csr] = await acme.crypto.createCsr({ commonName: name, altNames: [name] }, key);
    out.push({ name, csr });
  }
  return out;
}

export const PHASES = ['newOrder', 'authorization', 'challenge', 'validation', 'finalize', 'issuance', 'download'] as const;
export type Phase = typeof PHASES[number];
export interface OrderTiming { totalMs: number; phases: Record<Phase, number>; finalizeStatus: string }

/** One complete order; throws (with the server's problem document in the message) when any step fails. */
export async function runOrder(client: acme.Client, responder: Responder, o: PreparedOrder): Promise<{ timing: OrderTiming; certPem: string }> {
  const phases = {} as Record<Phase, number>;
  const t0 = performance.now();
  let t = t0;
  const lap = (p: Phase): void => { const now = performance.now(); phases[p] = now - t; t = now; };
  let token: string | undefined;
  try {
    const order = await client.createOrder({ identifiers: [{ type: 'dns', value: o.name }] });
    lap('newOrder');
    const authzs = await client.getAuthorizations(order);
    if (authzs.length !== 1) throw new Error(`expected 1 authorization, got ${authzs.length}`);
    const authz = authzs[0]!;
    lap('authorization');
    if (authz.status !== 'pending') throw new Error(`new authorization has status ${authz.status}, expected pending (authorization reuse must be off)`);
    const challenge = authz.challenges.find((c) => c.type === 'http-01');
    if (!challenge) throw new Error(`no http-01 challenge offered: ${authz.challenges.map((c) => c.type).join(', ')}`);
    token = challenge.token;
    responder.tokens.set(token, await client.getChallengeKeyAuthorization(challenge));
    await client.completeChallenge(challenge);
    lap('challenge');
    await client.waitForValidStatus(authz);
    lap('validation');
    let finalized = await client.finalizeOrder(order, o.csr);
    const finalizeStatus = finalized.status;
    lap('finalize');
    if (finalized.status !== 'valid') finalized = await client.waitForValidStatus(finalized);
    lap('issuance');
    const certPem = await client.getCertificate(finalized);
    lap('download');
    return { timing: { totalMs: performance.now() - t0, phases, finalizeStatus }, certPem };
  } finally {
    if (token) responder.tokens.delete(token);
  }
}

/** Checks (outside the timing) that the downloaded chain starts with a certificate for the ordered name. */
export function checkCertificate(certPem: string, name: string): string | undefined {
  const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(certPem)?.[0];
  if (!first) return 'the download contains no PEM certificate';
  try {
    const c = new X509Certificate(first);
    if (c.checkHost(name) !== name) return `the certificate is not for ${name} (subject ${c.subject}, SAN ${c.subjectAltName ?? 'none'})`;
  } catch (e) {
    return `unparsable certificate: ${(e as Error).message}`;
  }
  return undefined;
}

/** Key types along the downloaded chain (leaf first), e.g. "ec P-256 <- rsa 2048". */
export function describeChain(certPem: string): string {
  const pems = certPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return pems.map((p) => {
    try {
      const k = new X509Certificate(p).publicKey;
      const d = k.asymmetricKeyDetails ?? {};
      return `${k.asymmetricKeyType ?? '?'} ${d.namedCurve ?? d.modulusLength ?? ''}`.trim();
    } catch {
      return 'unparsable';
    }
  }).join(' <- ');
}

export interface LegResult {
  orders: number;
  completed: number;
  failed: number;
  seconds: number;
  timings: OrderTiming[];
  errors: string[];
  /** describeChain() of the first certificate downloaded in this leg. */
  chain: string | null;
}

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
};

/**
 * Runs `orders` with `concurrency` workers, worker i always using clients[i]
 * (its own account). Bounded: every order is attempted once, each within
 * orderTimeoutMs.
 */
export async function driveOrders(clients: acme.Client[], concurrency: number, orders: PreparedOrder[], responder: Responder, orderTimeoutMs: number): Promise<LegResult> {
  if (clients.length < concurrency) throw new Error(`need ${concurrency} accounts, have ${clients.length}`);
  const timings: OrderTiming[] = [];
  const errors: string[] = [];
  let failed = 0;
  let next = 0;
  let chain: string | null = null;
  const started = performance.now();
  const worker = async (w: number): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= orders.length) return;
      const o = orders[i]!;
      try {
        const { timing, certPem } = await withTimeout(runOrder(clients[w]!, responder, o), orderTimeoutMs, `order ${o.name}`);
        const bad = checkCertificate(certPem, o.name);
        if (bad) throw new Error(bad);
        chain ??= describeChain(certPem);
        timings.push(timing);
      } catch (e) {
        failed++;
        if (errors.length < 10) errors.push(`${o.name}: ${(e as Error).message}`.slice(0, 1_500));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  return { orders: orders.length, completed: timings.length, failed, seconds: (performance.now() - started) / 1000, timings, errors, chain };
}
