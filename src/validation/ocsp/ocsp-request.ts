/**
 * OCSP requests as they arrive over HTTP (RFC 6960 appendix A, RFC 5019):
 * the GET form (base64 of the DER after /ocsp/) and the POST body, decoded
 * to DER and parsed into CertIDs. Parsing is memoized by the exact request
 * bytes (bounded), so the hot path of a repeated GET does no ASN.1 work; the
 * memo holds parsed CertIDs only, never answers, so it needs no invalidation.
 */
import { OcspMalformedError, parseOcspRequest, type ParsedOcspRequest } from './ocsp-codec.js';

/** One OCSP request as received: `key` identifies its bytes (method and path or body). */
export interface OcspHttpRequest {
  key: string;
  /** The DER request, null when the HTTP form cannot be decoded. Called at most once, on a memo miss. */
  der: () => Uint8Array | null;
}

export function getRequest(url: string, maxRequestBytes: number): OcspHttpRequest {
  return { key: `G${url}`, der: () => (url.length > maxRequestBytes * 2 ? null : decodeOcspGetPath(url)) };
}

export function postRequest(body: Buffer): OcspHttpRequest {
  return { key: `P${body.toString('latin1')}`, der: () => (body.length ? new Uint8Array(body.buffer, body.byteOffset, body.length) : null) };
}

/** Decodes the GET form: base64 (URL-encoded or not, '/' and '//' allowed inside) after /ocsp/. */
export function decodeOcspGetPath(rawUrl: string): Uint8Array | null {
  const path = rawUrl.split('?')[0]!;
  const i = path.indexOf('/ocsp/');
  if (i < 0) return null;
  let b64 = path.slice(i + '/ocsp/'.length);
  try {
    b64 = decodeURIComponent(b64);
  } catch {
    return null;
  }
  b64 = b64.replace(/\s/g, '+'); // a '+' turned into a space by a form decoder
  if (!b64 || !/^[A-Za-z0-9+/=_-]+$/.test(b64)) return null;
  const der = Buffer.from(b64.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return der.length ? new Uint8Array(der) : null;
}

export type ParseOutcome = { ok: true; request: ParsedOcspRequest } | { ok: false };

/** Parses requests, remembering the outcome of the last `maxEntries` distinct request byte strings. */
export class OcspRequestParser {
  private readonly memo = new Map<string, ParseOutcome>();

  constructor(private readonly maxEntries = 50_000) {}

  parse(req: OcspHttpRequest): ParseOutcome {
    const hit = this.memo.get(req.key);
    if (hit) return hit;
    const der = req.der();
    let out: ParseOutcome;
    if (!der) {
      out = { ok: false };
    } else {
      try {
        out = { ok: true, request: parseOcspRequest(der) };
      } catch (e) {
        if (!(e instanceof OcspMalformedError)) throw e;
        out = { ok: false };
      }
    }
    if (this.memo.size >= this.maxEntries) this.memo.delete(this.memo.keys().next().value!);
    this.memo.set(req.key, out);
    return out;
  }
}
