/**
 * A raw ACME client for protocol tests: signs exactly what a test asks for
 * (jose FlattenedSign), so tests can also send what no real client would.
 */
import { FlattenedSign, exportJWK, generateKeyPair, type JWK, type CryptoKey } from 'jose';
import { call, type ApiResponse } from './api-client.js';

export interface AccountKey { alg: string; privateKey: CryptoKey; jwk: JWK }

export async function newKey(alg: 'ES256' | 'ES384' | 'RS256' | 'EdDSA' = 'ES256'): Promise<AccountKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true });
  return { alg, privateKey, jwk: await exportJWK(publicKey) };
}

export interface Directory { newNonce: string; newAccount: string; newOrder: string; revokeCert: string; keyChange: string; renewalInfo?: string; meta: Record<string, unknown> }

export async function sign(key: AccountKey, header: Record<string, unknown>, payload: unknown): Promise<Record<string, string>> {
  const bytes = payload === '' ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(payload));
  return (await new FlattenedSign(bytes).setProtectedHeader({ alg: key.alg, ...header }).sign(key.privateKey)) as unknown as Record<string, string>;
}

export class RawAcme {
  dir!: Directory;
  constructor(readonly directoryUrl: string, readonly ca: string) {}

  async init(): Promise<this> {
    this.dir = (await call<Directory>(this.directoryUrl, { ca: this.ca })).body;
    return this;
  }

  async nonce(): Promise<string> {
    const r = await call(this.dir.newNonce, { method: 'HEAD', ca: this.ca });
    return String(r.headers['replay-nonce']);
  }

  /** POSTs a body as application/jose+json. */
  post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> {
    return call(url, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/jose+json', ...headers }, ca: this.ca });
  }

  /** Signs with the account key: jwk when `kid` is omitted. Payload '' = POST-as-GET. */
  async signed(url: string, key: AccountKey, payload: unknown, opts: { kid?: string; nonce?: string; urlHeader?: string } = {}): Promise<ApiResponse> {
    const header: Record<string, unknown> = { nonce: opts.nonce ?? await this.nonce(), url: opts.urlHeader ?? url };
    if (opts.kid) header.kid = opts.kid; else header.jwk = key.jwk;
    return this.post(url, await sign(key, header, payload));
  }
}

export function b64u(b: Uint8Array | Buffer): string {
  return Buffer.from(b).toString('base64url');
}
