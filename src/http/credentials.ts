/**
 * The secret an Authorization header carries: a bearer token, or (EST,
 * RFC 7030 3.2.3) an API token sent as the password of HTTP basic auth
 * (RFC 7617; the user name is free and ignored). Null when the header is
 * absent or has another form.
 */
export type CredentialScheme = 'bearer' | 'basic';

export function credentialOf(authorization: string | undefined, schemes: readonly CredentialScheme[] = ['bearer']): string | null {
  if (typeof authorization !== 'string') return null;
  const bearer = /^Bearer\s+(\S{1,512})$/i.exec(authorization);
  if (bearer) return schemes.includes('bearer') ? bearer[1]! : null;
  const basic = schemes.includes('basic') ? /^Basic\s+([A-Za-z0-9+/]{1,1024}={0,2})$/i.exec(authorization) : null;
  if (!basic) return null;
  const text = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon >= 0 && colon < text.length - 1 ? text.slice(colon + 1) : null;
}
