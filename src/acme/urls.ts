/** The URLs of ACME resources under one base URL (the server's external address). */
export interface AcmeUrls {
  base: string;
  directory: string;
  newNonce: string;
  newAccount: string;
  newOrder: string;
  revokeCert: string;
  keyChange: string;
  renewalInfo: string;
  account(id: string): string;
  accountOrders(id: string): string;
  order(id: string): string;
  finalize(id: string): string;
  authz(id: string): string;
  challenge(authzId: string, challengeId: string): string;
  certificate(serial: string): string;
}

export const ACME_PREFIX = '/acme';

export function acmeUrls(baseUrl: string): AcmeUrls {
  const b = baseUrl.replace(/\/+$/, '') + ACME_PREFIX;
  return {
    base: b,
    directory: `${b}/directory`,
    newNonce: `${b}/new-nonce`,
    newAccount: `${b}/new-account`,
    newOrder: `${b}/new-order`,
    revokeCert: `${b}/revoke-cert`,
    keyChange: `${b}/key-change`,
    renewalInfo: `${b}/renewal-info`,
    account: (id) => `${b}/account/${id}`,
    accountOrders: (id) => `${b}/account/${id}/orders`,
    order: (id) => `${b}/order/${id}`,
    finalize: (id) => `${b}/order/${id}/finalize`,
    authz: (id) => `${b}/authz/${id}`,
    challenge: (a, c) => `${b}/chall/${a}/${c}`,
    certificate: (serial) => `${b}/cert/${serial}`,
  };
}

/** The account id in an account URL of this server, or null. */
export function accountIdFromUrl(urls: AcmeUrls, url: string): string | null {
  const prefix = `${urls.base}/account/`;
  if (!url.startsWith(prefix)) return null;
  const id = url.slice(prefix.length);
  return /^[A-Za-z0-9_-]{1,64}$/.test(id) ? id : null;
}
