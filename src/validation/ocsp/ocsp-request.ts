/**
 * OCSP requests as they arrive over HTTP (RFC 6960 appendix A, RFC 5019):
 * the GET form (base64 of the DER after /ocsp/) and the POST body, decoded
 * to DER and parsed into CertIDs. The responder remembers which cache key
 * (CertID) a request's bytes name, so a repeated request is not parsed again.
 */
import { OcspMalformedError, parseOcspRequest, type ParsedOcspRequest } from './ocsp-codec.js';

/**
 * One OCSP request as received: `key` identifies its bytes. A GET's key is its
 * path (it starts with '/'), a POST's its body as latin1 (a request that
 * parses starts with 0x30, '0', the DER SEQUENCE tag, and only requests that
 * parse are remembered), so the two forms cannot share a key and no prefix
 * has to be concatenated onto a long string on the hot path.
 */
export interface OcspHttpRequest {
  key: string;
  /** The DER request, null when the HTTP form cannot be decoded. Called at most once, on a memo miss. */
  der: () => Uint8Array | null;
}

export function getRequest(url: string, maxRequestBytes: number): OcspHttpRequest {
  return { key: url, der: () => (url.length > maxRequestBytes * 2 ? null : decodeOcspGetPath(url)) };
}

export function postRequest(body: Buffer): OcspHttpRequest {
  return { key: body.toString('latin1'), der: () => (body.length ? new Uint8Array(body.buffer, body.byteOffset, body.length) : null) };
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

/** Parses a request: its CertIDs and nonce, or not ok when it is malformed. */
export function parseHttpRequest(req: OcspHttpRequest): ParseOutcome {
  const der = req.der();
  if (!der) return { ok: false };
  try {
    return { ok: true, request: parseOcspRequest(der) };
  } catch (e) {
    if (!(e instanceof OcspMalformedError)) throw e;
    return { ok: false };
  }
}
