/** Domain types shared by every role. Imports nothing. */

export type IssuerKind = 'root' | 'intermediate' | 'ocsp-signer';

export interface IssuerRecord {
  id: string;
  kind: IssuerKind;
  /** Subject DN, human readable. */
  subject: string;
  /** The issuer this one was signed by (null for a root). */
  parentId: string | null;
  certDer: Uint8Array;
  keyRef: string;
  keyBackend: string;
  notBefore: Date;
  notAfter: Date;
  /** Issuing CA that takes new issuance (one at a time); the others still serve OCSP and CRLs. */
  active: boolean;
  createdAt: Date;
}

export type CertificateStatus = 'good' | 'revoked';

export interface CertificateRecord {
  serial: string; // lower-case hex, no leading zero octets
  issuerId: string;
  profile: string;
  subject: string;
  sans: string[];
  notBefore: Date;
  notAfter: Date;
  der: Uint8Array;
  status: CertificateStatus;
  revokedAt: Date | null;
  revocationReason: number | null;
  createdAt: Date;
  /** Who asked for it: token id, operator, or "cli". */
  requester: string;
  /**
   * The CRL shard (partition) of its issuer that lists it once revoked, fixed
   * at issuance (its CRL Distribution Point names that shard's URL); null or
   * absent for a certificate that only the complete CRL lists.
   */
  crlShard?: number | null;
}

export interface RevokedEntry {
  serialHex: string;
  revokedAt: Date;
  reason?: number;
  /** The CRL entry, DER-encoded once at revocation time. */
  der?: Uint8Array;
}

export interface CertificateFilter {
  status?: CertificateStatus | 'expired';
  expiringWithinDays?: number;
  /** Substring match on subject or any SAN. */
  name?: string;
  issuerId?: string;
  profile?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
  /** Matches as of the first page; at most the count cap when `totalCapped`. */
  total: number;
  /** True when more than `total` match: counting stopped at the cap ("10,000+"). */
  totalCapped?: boolean;
}

export type TokenRole = 'admin' | 'operator' | 'auditor' | 'issuer' | 'acme-admin';

export interface ApiTokenRecord {
  id: string;
  name: string;
  role: TokenRole;
  /** sha256 of the secret part, hex. */
  hash: string;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  /** The operator the token belongs to (null: a standalone token); a disabled operator's tokens stop working. */
  operatorId?: string | null;
}

/** A person or system with a role, owning API tokens; deprovisioning disables it and revokes its tokens. */
export interface OperatorRecord {
  id: string;
  name: string;
  role: TokenRole;
  createdAt: Date;
  disabledAt: Date | null;
}

export interface AuditEntryInput {
  actor: string;
  source: string;
  channel: 'api' | 'api-mtls' | 'cli' | 'system' | 'ocsp' | 'acme' | 'est';
  action: string;
  target: string;
  outcome: 'success' | 'failure' | 'denied';
  details?: Record<string, unknown>;
}

export interface AuditEntry extends AuditEntryInput {
  seq: number;
  time: Date;
  prevHash: string;
  hash: string;
}

export interface CrlRecord {
  issuerId: string;
  number: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  der: Uint8Array;
  entries: number;
  /** The shard this CRL covers (it carries an Issuing Distribution Point); null or absent: the issuer's complete CRL. */
  shard?: number | null;
}

export type ClusterMode = 'single' | 'active-active' | 'active-passive';

/** One node as it registers itself in the shared database. */
export interface NodeInfo {
  id: string;
  version: string;
  roles: string[];
  mode: ClusterMode;
  /** Plain-HTTP base URL (OCSP, CRL, health). */
  httpUrl: string;
  /** HTTPS base URL (API). */
  httpsUrl: string;
  health: 'healthy' | 'degraded' | 'unhealthy' | 'starting' | 'stopping';
  /** Whether this node accepts issuance and revocation right now. */
  writable: boolean;
  startedAt: Date;
  /** Database time of the last heartbeat. */
  lastSeen: Date;
}

/** A named lease in the database; epoch is the fencing token, strictly increasing per name. */
export interface LeaseState {
  name: string;
  holder: string | null;
  epoch: bigint;
  expiresAt: Date | null;
  /** Database time when this state was read. */
  now: Date;
}

/**
 * Proof of leadership passed with a leader-only write: the store refuses the
 * write (RampartError 'fenced') unless this holder still holds this epoch of
 * the lease and the lease has not expired, checked in the write's transaction.
 */
export interface Fence {
  lease: string;
  holder: string;
  epoch: bigint;
  /** Multi-region (PostgreSQL only): the region must still be the active one at this region epoch, on this timeline. */
  region?: RegionFence;
}

/**
 * A write from a node of a multi-region deployment carries the region it was
 * allowed in: the store refuses it (RampartError 'fenced') unless the
 * database's region_state still names that region active at that epoch and
 * the server writes on the timeline the node checked (src/region/).
 */
export interface RegionFence {
  name: string;
  epoch: bigint;
  timeline: number;
  /** Witness mode: whether the region still holds its leadership lease, asked again inside the transaction. */
  held?: () => boolean;
}

/** A fence with the lease part empty: only the region is checked (active-active writes in a region). */
export function regionOnlyFence(region: RegionFence): Fence {
  return { lease: '', holder: '', epoch: 0n, region };
}
