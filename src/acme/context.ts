/** What the ACME services share: storage, CA services, settings, and the per-request view of the server. */
import type { CertificateRecord } from '../core/types.js';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import type { CertificateAuthority } from '../ca/certificate-authority.js';
import type { RampartConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import type { IssuanceService } from '../ra/issuance.js';
import type { RevocationService } from '../ra/revocation.js';
import type { ProfilePolicy } from '../ra/policy.js';
import type { Store } from '../storage/store.js';
import type { Actor } from '../core/actor.js';
import type { EabKeys } from './eab.js';
import type { RateLimiter } from './rate-limits.js';
import type { AcmeUrls } from './urls.js';
import type { ChallengeValidator } from './validation/validator.js';
import type { AcmeAccount } from '../storage/acme-records.js';

export type AcmeSettings = RampartConfig['acme'];

export interface AcmeDeps {
  store: Store;
  clock: Clock;
  settings: AcmeSettings;
  profile: ProfilePolicy;
  issuance: IssuanceService;
  revocation: RevocationService;
  ca: CertificateAuthority;
  audit: AuditLog;
  validator: ChallengeValidator;
  limits: RateLimiter;
  eab: EabKeys;
  log: Logger;
  /** Whether this node accepts writes now (a standby in active-passive mode does not). */
  canWrite(): boolean;
  /** A re-issuance campaign replaces this certificate's issuer: renewal information says renew now (RFC 9773). */
  renewNow?(rec: CertificateRecord): boolean;
  /** Called when a validation attempt ends (metrics). */
  onValidation?(type: string, outcome: 'valid' | 'invalid'): void;
}

/** One request as the services see it. */
export interface AcmeRequest {
  urls: AcmeUrls;
  ip: string;
}

export function newId(): string {
  return randomBytes(16).toString('base64url');
}

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export function acmeActor(account: AcmeAccount | null, ip: string): Actor {
  return { id: account ? `acme:${account.id}` : 'acme:anonymous', role: 'acme', source: ip, channel: 'acme' };
}
