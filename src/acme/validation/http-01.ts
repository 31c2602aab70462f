/**
 * http-01 (RFC 8555 §8.3, RFC 8738 §5 for IP identifiers): fetch
 * http://{identifier}/.well-known/acme-challenge/{token} and compare the body
 * with the key authorization. Redirects are followed up to a limit, only to
 * http/https on the standard ports (or the configured test ports); the body
 * read is capped; the whole exchange runs under one time limit.
 */
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { AcmeError } from '../problems.js';
import type { ValidationInput, ValidationSettings } from './validator.js';
import { checkIdentifier, connectHost, networkError, quoteSnippet, stripBrackets, urlHost } from './target.js';

/** The most of a challenge response body that is read. */
export const HTTP01_MAX_BODY = 8 * 1024;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const TOKEN_RE = /^[A-Za-z0-9_-]+$/;
const USER_AGENT = 'Rampart-ACME-validator/1';

interface FetchResult {
  status: number;
  location: string | undefined;
  body: Buffer;
  truncated: boolean;
}

export async function validateHttp01(input: ValidationInput, settings: ValidationSettings): Promise<void> {
  const host = checkIdentifier(input.identifier);
  if (!TOKEN_RE.test(input.token)) throw new AcmeError('malformed', 'challenge token is not base64url');
  const port = settings.httpPort;
  const first = new URL(`http://${urlHost(host)}${port === 80 ? '' : `:${port}`}/.well-known/acme-challenge/${input.token}`);

  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; controller.abort(); }, settings.timeoutSeconds * 1000);
  try {
    let url = first;
    for (let redirects = 0; ; redirects++) {
      let res: FetchResult;
      try {
        res = await fetchOnce(url, settings, controller.signal);
      } catch (e) {
        throw networkError(e, `Fetching ${url.href}`, settings.timeoutSeconds, timedOut);
      }
      if (REDIRECT_STATUSES.has(res.status)) {
        if (!res.location) throw new AcmeError('connection', `Fetching ${url.href}: redirect (HTTP ${res.status}) without a Location header`);
        if (redirects >= settings.maxRedirects) {
          throw new AcmeError('connection', `Fetching ${first.href}: too many redirects (more than ${settings.maxRedirects})`);
        }
        url = redirectTarget(res.location, url, settings);
        continue;
      }
      if (res.status !== 200) {
        throw new AcmeError('unauthorized', `Invalid response from ${url.href}: HTTP ${res.status}`);
      }
      if (res.truncated) {
        throw new AcmeError('incorrectResponse', `Invalid response from ${url.href}: body larger than ${HTTP01_MAX_BODY} bytes`);
      }
      const body = res.body.toString('utf8').replace(/\s+$/, '');
      if (body !== input.keyAuthorization) {
        throw new AcmeError('incorrectResponse', `The key authorization file from ${url.href} does not match: expected ${quoteSnippet(input.keyAuthorization, 128)}, got ${quoteSnippet(body)}`);
      }
      return;
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Checks a redirect Location and returns the absolute URL to follow. */
function redirectTarget(location: string, current: URL, settings: ValidationSettings): URL {
  let next: URL;
  try {
    next = new URL(location, current);
  } catch {
    throw new AcmeError('connection', `Fetching ${current.href}: invalid redirect target ${quoteSnippet(location)}`);
  }
  const where = `Fetching ${current.href}: redirect to ${quoteSnippet(next.href, 200)}`;
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    throw new AcmeError('connection', `${where} is not allowed: only http and https are followed`);
  }
  const allowed = next.protocol === 'http:' ? [80, settings.httpPort] : [443, settings.tlsPort];
  const port = next.port ? Number(next.port) : next.protocol === 'http:' ? 80 : 443;
  if (!allowed.includes(port)) {
    throw new AcmeError('connection', `${where} is not allowed: port ${port} (only ${[...new Set(allowed)].join(' and ')} for ${next.protocol.slice(0, -1)})`);
  }
  if (!next.hostname) throw new AcmeError('connection', `${where} is not allowed: no host`);
  next.hash = '';
  next.username = '';
  next.password = '';
  return next;
}

/** One GET, without following redirects; reads at most HTTP01_MAX_BODY bytes of the body. */
function fetchOnce(url: URL, settings: ValidationSettings, signal: AbortSignal): Promise<FetchResult> {
  const secure = url.protocol === 'https:';
  const host = stripBrackets(url.hostname);
  const port = url.port ? Number(url.port) : secure ? 443 : 80;
  const options: https.RequestOptions = {
    host: connectHost(host, settings.connectAddress),
    port,
    path: `${url.pathname}${url.search}`,
    method: 'GET',
    headers: { Host: url.host, 'User-Agent': USER_AGENT, Accept: '*/*', Connection: 'close' },
    agent: false,
    signal,
  };
  if (secure) {
    // RFC 8555 §8.3: the certificate of an https redirect target is not checked.
    options.rejectUnauthorized = false;
    if (isIP(host) === 0) options.servername = host;
  }
  return new Promise<FetchResult>((resolve, reject) => {
    const req = (secure ? https : http).request(options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      const finish = (truncated: boolean) => {
        if (done) return;
        done = true;
        resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: Buffer.concat(chunks).subarray(0, HTTP01_MAX_BODY), truncated });
      };
      if (REDIRECT_STATUSES.has(res.statusCode ?? 0) || res.statusCode !== 200) {
        // The body is not needed; don't wait for it.
        finish(false);
        res.destroy();
        return;
      }
      res.on('data', (chunk: Buffer) => {
        if (done) return;
        chunks.push(chunk);
        size += chunk.length;
        if (size > HTTP01_MAX_BODY) {
          finish(true);
          res.destroy();
        }
      });
      res.on('end', () => finish(false));
      res.on('error', (e) => { if (!done) { done = true; reject(e); } });
      res.on('close', () => { if (!done) { done = true; reject(Object.assign(new Error('connection closed before the response body was complete'), { code: 'ECONNRESET' })); } });
    });
    req.on('error', reject);
    req.end();
  });
}
