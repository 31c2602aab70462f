/** The JSON documents ACME clients see (RFC 8555 §7.1). */
import type { AcmeAccount, AcmeAuthorization, AcmeChallenge, AcmeOrder } from '../storage/acme-records.js';
import type { AcmeUrls } from './urls.js';

export function accountView(a: AcmeAccount, urls: AcmeUrls): Record<string, unknown> {
  return { status: a.status, contact: a.contact, orders: urls.accountOrders(a.id), createdAt: a.createdAt.toISOString() };
}

export function orderView(o: AcmeOrder, urls: AcmeUrls): Record<string, unknown> {
  return {
    status: o.status,
    expires: o.expires.toISOString(),
    identifiers: o.identifiers,
    ...(o.notBefore ? { notBefore: o.notBefore.toISOString() } : {}),
    ...(o.notAfter ? { notAfter: o.notAfter.toISOString() } : {}),
    ...(o.error ? { error: o.error } : {}),
    authorizations: o.authorizationIds.map((id) => urls.authz(id)),
    finalize: urls.finalize(o.id),
    ...(o.certificateSerial && o.status === 'valid' ? { certificate: urls.certificate(o.certificateSerial) } : {}),
    ...(o.replaces ? { replaces: o.replaces } : {}),
  };
}

export function challengeView(c: AcmeChallenge, authzId: string, urls: AcmeUrls): Record<string, unknown> {
  return {
    type: c.type,
    url: urls.challenge(authzId, c.id),
    status: c.status,
    token: c.token,
    ...(c.validated ? { validated: c.validated.toISOString() } : {}),
    ...(c.error ? { error: c.error } : {}),
  };
}

export function authzView(a: AcmeAuthorization, urls: AcmeUrls): Record<string, unknown> {
  // A valid authorization shows only the challenge that validated it (RFC 8555 §7.1.4 allows either).
  const shown = a.status === 'valid' ? a.challenges.filter((c) => c.status === 'valid') : a.challenges;
  return {
    identifier: a.identifier,
    status: a.status,
    expires: a.expires.toISOString(),
    challenges: shown.map((c) => challengeView(c, a.id, urls)),
    ...(a.wildcard ? { wildcard: true } : {}),
  };
}
