/**
 * Request authentication for ACME (RFC 8555 §6.2–6.4): a flattened JWS with
 * a protected header naming the algorithm, the nonce, the request URL and
 * either the account key (jwk) or the account URL (kid). Verified with jose.
 */
import { calculateJwkThumbprint, decodeProtectedHeader, flattenedVerify, importJWK, type JWK } from 'jose';
import type { AcmeAccount } from '../storage/acme-records.js';
import { AcmeError } from './problems.js';

export const ACCOUNT_KEY_ALGORITHMS = ['ES256', 'ES384', 'RS256', 'EdDSA'] as const;
type Alg = (typeof ACCOUNT_KEY_ALGORITHMS)[number];

export interface ProtectedHeader {
  alg: Alg;
  nonce?: string;
  url: string;
  jwk?: JWK;
  kid?: string;
}

export interface VerifiedRequest {
  header: ProtectedHeader;
  /** Parsed payload; null for POST-as-GET (empty payload). */
  payload: unknown;
  /** The key that signed (the header jwk, or the account's key). */
  jwk: JWK;
  thumbprint: string;
  account: AcmeAccount | null;
}

export interface JwsCheck {
  /** The URL the request was sent to; must equal the header url. */
  url: string;
  /** 'jwk': newAccount and revokeCert by certificate key; 'kid': everything else; 'either': revokeCert. */
  keyMode: 'jwk' | 'kid' | 'either';
  /** Finds the account a kid URL names (null when it is not an account URL of this server or unknown). */
  lookupAccount(kid: string): Promise<AcmeAccount | null>;
  /** Inner JWS of keyChange: no nonce allowed, jwk required. */
  inner?: boolean;
}

const ALG_CURVES: Record<string, { kty: string; crv?: string[] }> = {
  ES256: { kty: 'EC', crv: ['P-256'] },
  ES384: { kty: 'EC', crv: ['P-384'] },
  RS256: { kty: 'RSA' },
  EdDSA: { kty: 'OKP', crv: ['Ed25519'] },
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Only the public members of a JWK, checked against the algorithm. */
export function publicJwk(jwk: unknown, alg: string): JWK {
  if (!isObject(jwk)) throw new AcmeError('malformed', 'the jwk header is not a JSON object');
  const want = ALG_CURVES[alg];
  if (!want) throw new AcmeError('badSignatureAlgorithm', `unsupported algorithm ${alg}`, { extra: { algorithms: [...ACCOUNT_KEY_ALGORITHMS] } });
  if ('d' in jwk || 'p' in jwk || 'k' in jwk) throw new AcmeError('badPublicKey', 'the jwk contains private key material');
  if (jwk.kty !== want.kty) throw new AcmeError('badPublicKey', `a ${String(jwk.kty)} key cannot sign with ${alg}`);
  if (want.crv && !want.crv.includes(String(jwk.crv))) throw new AcmeError('badPublicKey', `${alg} needs curve ${want.crv.join('/')}, not ${String(jwk.crv)}`);
  if (want.kty === 'EC') {
    if (typeof jwk.x !== 'string' || typeof jwk.y !== 'string') throw new AcmeError('badPublicKey', 'EC jwk needs x and y');
    return { kty: 'EC', crv: jwk.crv as string, x: jwk.x, y: jwk.y };
  }
  if (want.kty === 'OKP') {
    if (typeof jwk.x !== 'string') throw new AcmeError('badPublicKey', 'OKP jwk needs x');
    return { kty: 'OKP', crv: jwk.crv as string, x: jwk.x };
  }
  if (typeof jwk.n !== 'string' || typeof jwk.e !== 'string') throw new AcmeError('badPublicKey', 'RSA jwk needs n and e');
  const bits = Buffer.from(jwk.n, 'base64url').length * 8;
  if (bits < 2048 || bits > 8192) throw new AcmeError('badPublicKey', `RSA account keys must have 2048 to 8192 bits, not ${bits}`);
  return { kty: 'RSA', n: jwk.n, e: jwk.e };
}

export async function jwkThumbprint(jwk: JWK): Promise<string> {
  return calculateJwkThumbprint(jwk, 'sha256');
}

/** Imported account keys by thumbprint and algorithm: importing costs more than verifying. */
const keyCache = new Map<string, Awaited<ReturnType<typeof importJWK>>>();
const KEY_CACHE_MAX = 10_000;

async function importedKey(jwk: JWK, alg: string, thumbprint: string | undefined): Promise<Awaited<ReturnType<typeof importJWK>>> {
  if (!thumbprint) return importJWK(jwk, alg);
  const id = `${alg}:${thumbprint}`;
  let key = keyCache.get(id);
  if (!key) {
    key = await importJWK(jwk, alg);
    if (keyCache.size >= KEY_CACHE_MAX) keyCache.delete(keyCache.keys().next().value!);
    keyCache.set(id, key);
  }
  return key;
}

/**
 * Verifies one ACME request body. Throws AcmeError (malformed, unauthorized,
 * badSignatureAlgorithm, badPublicKey, accountDoesNotExist) on any problem.
 * The nonce is NOT consumed here (the caller does it after this succeeds).
 */
export async function verifyJws(body: unknown, check: JwsCheck): Promise<VerifiedRequest> {
  if (!isObject(body)) throw new AcmeError('malformed', 'the request body must be a flattened JWS JSON object');
  for (const k of Object.keys(body)) {
    if (k === 'header') throw new AcmeError('malformed', 'unprotected JWS headers are not allowed');
    if (k === 'signatures') throw new AcmeError('malformed', 'only the flattened JWS serialization is accepted (one signature)');
    if (!['protected', 'payload', 'signature'].includes(k)) throw new AcmeError('malformed', `unexpected JWS member "${k}"`);
  }
  if (typeof body.protected !== 'string' || typeof body.payload !== 'string' || typeof body.signature !== 'string') {
    throw new AcmeError('malformed', 'the JWS needs protected, payload and signature strings');
  }
  let raw: Record<string, unknown>;
  try {
    raw = decodeProtectedHeader({ protected: body.protected, payload: '', signature: '' } as never) as Record<string, unknown>;
  } catch {
    throw new AcmeError('malformed', 'the JWS protected header is not base64url JSON');
  }
  const alg = raw.alg;
  if (typeof alg !== 'string' || !(ACCOUNT_KEY_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new AcmeError('badSignatureAlgorithm', `the JWS algorithm ${String(alg)} is not accepted`, { extra: { algorithms: [...ACCOUNT_KEY_ALGORITHMS] } });
  }
  if (typeof raw.url !== 'string') throw new AcmeError('malformed', 'the JWS protected header has no url');
  if (raw.url !== check.url) throw new AcmeError('unauthorized', `the JWS url header "${raw.url}" is not the URL this request was sent to (${check.url})`);
  if (raw.jwk !== undefined && raw.kid !== undefined) throw new AcmeError('malformed', 'the JWS protected header must have jwk or kid, not both');
  if (check.inner) {
    if (raw.nonce !== undefined) throw new AcmeError('malformed', 'the inner JWS of keyChange must not have a nonce');
  } else if (raw.nonce === undefined) {
    throw new AcmeError('badNonce', 'the JWS protected header has no nonce');
  }
  let jwk: JWK;
  let account: AcmeAccount | null = null;
  if (raw.jwk !== undefined) {
    if (check.keyMode === 'kid') throw new AcmeError('malformed', 'this request must be signed with the account key identified by kid (the account URL)');
    jwk = publicJwk(raw.jwk, alg);
  } else if (typeof raw.kid === 'string') {
    if (check.keyMode === 'jwk') throw new AcmeError('malformed', 'this request must carry the key in a jwk header, not a kid');
    account = await check.lookupAccount(raw.kid);
    if (!account) throw new AcmeError('accountDoesNotExist', `no account at ${raw.kid}`);
    if (account.status !== 'valid') throw new AcmeError('unauthorized', `account ${raw.kid} is ${account.status}`);
    jwk = account.jwk as JWK;
    const kty = ALG_CURVES[alg]!;
    if (jwk.kty !== kty.kty || (kty.crv && !kty.crv.includes(String(jwk.crv)))) {
      throw new AcmeError('badSignatureAlgorithm', `the account key (${String(jwk.kty)} ${String(jwk.crv ?? '')}) cannot sign ${alg}`, { extra: { algorithms: [...ACCOUNT_KEY_ALGORITHMS] } });
    }
  } else {
    throw new AcmeError('malformed', 'the JWS protected header needs a jwk or a kid');
  }
  let verified: { payload: Uint8Array };
  try {
    const key = await importedKey(jwk, alg, account?.keyThumbprint);
    verified = await flattenedVerify({ protected: body.protected, payload: body.payload, signature: body.signature }, key, { algorithms: [alg] });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') throw new AcmeError('malformed', 'JWS signature verification failed');
    throw new AcmeError('malformed', `invalid JWS: ${(e as Error).message}`);
  }
  let payload: unknown = null;
  if (verified.payload.length > 0) {
    try {
      payload = JSON.parse(Buffer.from(verified.payload).toString('utf8'));
    } catch {
      throw new AcmeError('malformed', 'the JWS payload is not JSON');
    }
  }
  const header: ProtectedHeader = { alg: alg as Alg, url: raw.url, ...(typeof raw.nonce === 'string' ? { nonce: raw.nonce } : {}), ...(raw.kid ? { kid: String(raw.kid) } : {}), ...(raw.jwk ? { jwk } : {}) };
  return { header, payload, jwk, thumbprint: account ? account.keyThumbprint : await jwkThumbprint(jwk), account };
}
