/**
 * The end of every drill: the recovered system must work for a client.
 * Issue a certificate over the REST API, see it "good" over OCSP (HTTP),
 * revoke it over the REST API, see it "revoked" over OCSP.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { buildCsr } from '../pki/csr-builder.js';
import { fromPem } from '../pki/certificate-builder.js';
import { httpCall, type HttpResponse } from '../core/http-client.js';
import { ocspStatus } from './ocsp-probe.js';
import { waitUntil } from '../core/wait.js';

export interface NodeEndpoints { httpUrl: string; httpsUrl: string; token: string }

export interface IssuedCertificate { serial: string; issuerDer: Uint8Array }

/** The node's CA bundle (root and intermediates), trusted for its HTTPS API. */
export async function caBundle(httpUrl: string): Promise<string> {
  const r = await httpCall<string>(`${httpUrl}/ca/bundle.pem`);
  if (r.status !== 200) throw new Error(`GET ${httpUrl}/ca/bundle.pem: HTTP ${r.status}`);
  return String(r.body);
}

export async function newCsr(cn: string): Promise<string> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return buildCsr({ key: privateKey, publicKey, algorithm: 'ecdsa-p256', cn, sans: [cn] });
}

/** One issuance attempt; throws with the problem the API gave. */
export async function issueOnce(n: NodeEndpoints, ca: string, csr: string, timeoutMs = 10_000): Promise<IssuedCertificate> {
  const r = await httpCall<{ serial: string; chainPem: string; detail?: string; title?: string }>(`${n.httpsUrl}/api/v1/certificates`, {
    token: n.token, ca, json: { csr, profile: 'server' }, headers: { 'idempotency-key': randomUUID() }, timeoutMs,
  });
  return issued(r);
}

/**
 * As a client does: a 503 with Retry-After (a node taking over, or between
 * lease renewals under load) is sent again after the time it names, for at
 * most `budgetMs` (the caller keeps the request idempotent). Returns the last
 * answer and the retries made.
 */
async function retryingAfter503<T>(send: () => Promise<HttpResponse<T>>, budgetMs = 15_000): Promise<{ r: HttpResponse<T>; retries: number }> {
  const deadline = Date.now() + budgetMs;
  for (let retries = 0; ; retries++) {
    const r = await send();
    const after = Number(r.headers['retry-after']);
    if (!(r.status === 503 && after >= 0 && Date.now() + after * 1000 < deadline)) return { r, retries };
    await new Promise((res) => setTimeout(res, Math.min(after, 5) * 1000));
  }
}

/** issueOnce, retried like a client (same Idempotency-Key) while the node answers 503 with Retry-After. */
export async function issueRetrying(n: NodeEndpoints, ca: string, csr: string): Promise<IssuedCertificate & { retries: number }> {
  const key = randomUUID();
  const { r, retries } = await retryingAfter503(() => httpCall<{ serial: string; chainPem: string; detail?: string; title?: string }>(`${n.httpsUrl}/api/v1/certificates`, {
    token: n.token, ca, json: { csr, profile: 'server' }, headers: { 'idempotency-key': key }, timeoutMs: 10_000,
  }));
  return { ...issued(r), retries };
}

function issued(r: { status: number; body: { serial: string; chainPem: string; detail?: string; title?: string } }): IssuedCertificate {
  if (r.status !== 201 && r.status !== 200) throw new Error(`issuance: HTTP ${r.status} ${r.body.detail ?? r.body.title ?? ''}`.trim());
  const issuerDer = fromPem(r.body.chainPem)[0];
  if (!issuerDer) throw new Error('issuance: no issuer certificate in the chain');
  return { serial: r.body.serial, issuerDer };
}

/** Whether the node has a certificate with this serial (GET /api/v1/certificates/SERIAL). */
export async function hasCertificate(n: NodeEndpoints, ca: string, serial: string): Promise<boolean> {
  const r = await httpCall(`${n.httpsUrl}/api/v1/certificates/${serial}`, { token: n.token, ca });
  if (r.status === 200) return true;
  if (r.status === 404) return false;
  throw new Error(`GET certificate ${serial}: HTTP ${r.status}`);
}

export interface LifecycleOutcome { serial: string; ocspBefore: string; ocspAfter: string }

type Step = <T>(name: string, fn: () => Promise<T>, detail?: (v: T) => string | undefined) => Promise<T>;

/** Issue → OCSP good → revoke → OCSP revoked, each a timed step of the drill. */
export async function lifecycleCheck(n: NodeEndpoints, step: Step, cn = `drill-${Date.now()}.rampart.invalid`): Promise<LifecycleOutcome> {
  const ca = await caBundle(n.httpUrl);
  const csr = await newCsr(cn);
  // Retried like a client would (503 + Retry-After); the retries show in the step's detail, a blip worth seeing.
  const cert = await step('issue a certificate (REST API)', () => issueRetrying(n, ca, csr),
    (c) => (c.retries ? `after ${c.retries} 503 answer(s) with Retry-After` : undefined));
  const ocspUrl = `${n.httpUrl}/ocsp`;
  const ocspBefore = await step('OCSP says good (HTTP)', async () => {
    const s = await waitUntil('OCSP status good', async () => ((await ocspStatus(ocspUrl, cert.issuerDer, cert.serial)) === 'good' ? 'good' : null), 10_000, 200);
    return s;
  });
  await step('revoke it (REST API)', async () => {
    const { r, retries } = await retryingAfter503(() => httpCall<{ detail?: string }>(`${n.httpsUrl}/api/v1/certificates/${cert.serial}/revoke`, { token: n.token, ca, json: { reason: 'superseded' } }));
    if (r.status !== 200) throw new Error(`revocation: HTTP ${r.status} ${r.body.detail ?? ''}`.trim());
    return retries;
  }, (retries) => (retries ? `after ${retries} 503 answer(s) with Retry-After` : undefined));
  const ocspAfter = await step('OCSP says revoked (HTTP)', () =>
    waitUntil('OCSP status revoked', async () => ((await ocspStatus(ocspUrl, cert.issuerDer, cert.serial)) === 'revoked' ? 'revoked' : null), 15_000, 200));
  return { serial: cert.serial, ocspBefore, ocspAfter };
}
