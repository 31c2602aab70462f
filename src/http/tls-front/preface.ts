/**
 * The line the TLS thread (tls-front-worker.mjs) sends before a relayed
 * connection's plaintext: JSON with the process's secret and what the
 * handshake established. Parsed strictly: anything else closes the socket.
 */
export interface Preface {
  secret: string;
  address: string | null;
  port: number | null;
  family: string | null;
  /** The client certificate verified against the CA roots given to the listener. */
  authorized: boolean;
  authorizationError: string | null;
  /** The client certificate's DER, when one was presented. */
  certificate: Buffer | null;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export function parsePreface(line: Buffer): Preface | null {
  let v: unknown;
  try { v = JSON.parse(line.toString('utf8')); } catch { return null; }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  const secret = str(o.k);
  if (!secret || typeof o.v !== 'boolean') return null;
  if (o.p !== null && (typeof o.p !== 'number' || !Number.isInteger(o.p))) return null;
  if (o.c !== null && typeof o.c !== 'string') return null;
  return {
    secret, address: str(o.a), port: o.p as number | null, family: str(o.f),
    authorized: o.v, authorizationError: str(o.e),
    certificate: typeof o.c === 'string' ? Buffer.from(o.c, 'base64') : null,
  };
}
