/**
 * `rampart doctor`, checks of the running node: it answers /readyz, and its
 * API listener's TLS (reachable, a certificate that chains to this CA and
 * names the host, time left, protocol).
 */
import { connect, type PeerCertificate } from 'node:tls';
import { fail, ok, warn, type Finding } from './findings.js';

/** The API certificate is renewed by the node before this many days are left; doctor warns below it. */
export const TLS_WARN_DAYS = 14;

export async function readyCheck(httpUrl: string): Promise<Finding> {
  const fix = `start the node (systemctl start rampart) or give its address with --url; \`curl ${httpUrl}/readyz\` and the node's log say why it is not ready`;
  try {
    const r = await fetch(`${httpUrl}/readyz`, { signal: AbortSignal.timeout(5000) });
    const body = await r.text();
    let status = '';
    try { status = String((JSON.parse(body) as { status?: unknown }).status ?? ''); } catch { /* not JSON */ }
    if (r.status !== 200) return fail('node', `${httpUrl}/readyz answered ${r.status}${status ? ` (${status})` : ''}`, fix);
    return status === 'degraded'
      ? warn('node', `${httpUrl} is ready but degraded`, `\`curl ${httpUrl}/readyz\` names the checks that warn`)
      : ok('node', `${httpUrl} ready${status ? ` (${status})` : ''}`);
  } catch (e) {
    return fail('node', `${httpUrl} not reachable: ${(e as Error).message}`, fix);
  }
}

function handshake(url: URL, ca: string[]): Promise<{ authorized: boolean; error: string | null; cert: PeerCertificate; protocol: string | null }> {
  return new Promise((resolve, reject) => {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const s = connect({ host, port: Number(url.port || 443), ca, rejectUnauthorized: false, ...(/^[\d.:]+$/.test(host) ? {} : { servername: host }) });
    s.setTimeout(5000, () => s.destroy(new Error('TLS handshake timed out after 5 s')));
    s.once('secureConnect', () => {
      const r = { authorized: s.authorized, error: s.authorizationError ? String(s.authorizationError) : null, cert: s.getPeerCertificate(), protocol: s.getProtocol() };
      s.end();
      resolve(r);
    });
    s.once('error', reject);
  });
}

export async function apiTlsCheck(httpsUrl: string, caPems: string[], now: Date): Promise<Finding> {
  const url = new URL(httpsUrl);
  let h: Awaited<ReturnType<typeof handshake>>;
  try {
    h = await handshake(url, caPems);
  } catch (e) {
    return fail('apiTls', `${httpsUrl}: ${(e as Error).message}`, 'start the node, or give the API address with --api-url');
  }
  if (!h.authorized) {
    return fail('apiTls', `${httpsUrl}: the certificate is not trusted by this CA's bundle (${h.error ?? 'unknown error'})`,
      'the node issues its API certificate from its active CA at start: restart it; behind HAProxy, check the certificate HAProxy presents');
  }
  const days = (Date.parse(h.cert.valid_to) - now.getTime()) / 86_400_000;
  const detail = `${h.protocol ?? '?'}, certificate ${h.cert.subject?.CN ?? ''} valid ${Math.floor(days)} more day(s), chains to this CA`;
  if (h.protocol !== 'TLSv1.3' && h.protocol !== 'TLSv1.2') return fail('apiTls', detail, 'only TLS 1.2 and 1.3 belong in production: check the proxy in front of the node');
  if (days < TLS_WARN_DAYS) return warn('apiTls', detail, 'restart the node: it renews its API certificate when it nears expiry');
  return ok('apiTls', detail);
}
