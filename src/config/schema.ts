/**
 * The Rampart configuration schema. Every field is documented (`.describe()`),
 * bounded and defaulted, so `rampartConfigSchema.parse({})` yields a complete,
 * working development configuration. docs/config.md documents the same fields
 * for operators; keep the two in step.
 */
import { regionsSchema } from './region-config.js';
import { dashboardSchema } from './dashboard-config.js';
import { limitsSchema } from './limits-config.js';
import { estProfileRefs, estSchema } from './est-config.js';
import { sshSchema } from './ssh-config.js';
import { drillsSchema } from './drills-config.js';
import { auditSchema } from './audit-forward-config.js';
import { isIP } from 'node:net';
import { z } from 'zod';
import { tiersSchema } from './tiers-config.js';
import { X509_KEY_ALGORITHMS } from '../core/signing.js';

const MiB = 1024 * 1024;

/** Log levels understood by pino. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const EKUS = ['serverAuth', 'clientAuth', 'codeSigning', 'emailProtection', 'timeStamping'] as const;
export const ECDSA_CURVES = ['P-256', 'P-384'] as const;
/** Subject attributes a profile may let through from a REST CSR (commonName has its own rule). */
export const SUBJECT_ATTRIBUTES = ['C', 'ST', 'L', 'O', 'OU', 'street', 'postalCode', 'serialNumber', 'emailAddress', 'GN', 'SN', 'title', 'DC', 'UID'] as const;
export const LEAF_KEY_USAGES = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement'] as const;
/** CA/Browser Forum Baseline Requirements 7.1.6.1: domain-validated. */
export const BR_DOMAIN_VALIDATED = '2.23.140.1.2.1';
/** CA/Browser Forum Baseline Requirements 7.1.6.1: organization-validated. */
export const BR_ORGANIZATION_VALIDATED = '2.23.140.1.2.2';
const policyOid = z.string().regex(/^[0-2](\.(0|[1-9]\d{0,9}))+$/, { message: 'must be a policy OID such as 2.23.140.1.2.1' });
export const KEY_BACKENDS = ['software', 'pkcs11'] as const;
export const DATABASE_TYPES = ['sqlite', 'postgres'] as const;
export const TARGET_SESSION_ATTRS = ['read-write', 'any', 'primary', 'standby', 'prefer-standby'] as const;

// ---------------------------------------------------------------- helpers

const HOSTNAME_RE = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** Splits "host:port" / "[v6]:port" into its parts; null when malformed. */
export function parseListen(listen: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(listen);
  if (!m) return null;
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (port > 65535) return null;
  if (m[1] !== undefined && isIP(host) !== 6) return null;
  if (m[2] !== undefined && isIP(host) !== 4 && !HOSTNAME_RE.test(host)) return null;
  return { host, port };
}

/** True for "a.b.c.d/n" or "v6/n" with a prefix length that fits the family. */
export function isCidr(s: string): boolean {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return false;
  const family = isIP(m[1]!);
  const bits = Number(m[2]);
  return (family === 4 && bits <= 32) || (family === 6 && bits <= 128);
}

const int = (min: number, max: number) => z.number().int().min(min).max(max);

const listen = (def: string) =>
  z.string()
    .refine((s) => parseListen(s) !== null, {
      message: 'must be host:port (e.g. 127.0.0.1:8080, [::1]:8080, 0.0.0.0:8443); port 0..65535, 0 = any free port',
    })
    .default(def);

const pathString = z.string().min(1).max(4096);

const distinguishedName = z.string().min(1).max(1024).refine(
  (s) => /^\s*[A-Za-z][A-Za-z0-9.]*\s*=/.test(s) && /(^|,)\s*CN\s*=\s*\S/i.test(s),
  { message: "must be a distinguished name with a CN, e.g. 'CN=Example Root CA, O=Example'" },
);

const keyAlgorithm = z.enum(X509_KEY_ALGORITHMS);

// ---------------------------------------------------------------- sections

/** An IPv4 or IPv6 address, or a CIDR range of either (10.0.0.0/8, 2001:db8::/32). */
export function isAddressOrCidr(s: string): boolean {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(s.trim());
  if (!m) return false;
  const v = isIP(m[1]!);
  if (v === 0) return false;
  return m[2] === undefined || Number(m[2]) <= (v === 4 ? 32 : 128);
}

const httpSchema = z.strictObject({
  listen: listen('127.0.0.1:8080').describe('Plain-HTTP listener (OCSP, CRL, CA certificates) as host:port.'),
  trustedProxies: z.array(z.string().refine(isAddressOrCidr, { message: 'must be an IPv4 or IPv6 address or a CIDR range such as 10.0.0.0/8' }))
    .max(100).default(['127.0.0.1', '::1'])
    .describe('Addresses and ranges of the load balancers in front of the node: X-Forwarded-For is believed only from them (client address for rate limits and the audit log), on both listeners. Empty: never believed.'),
}).describe('Plain HTTP listener: serves OCSP, CRLs and CA certificates (AIA/CDP targets).');

const httpsSchema = z.strictObject({
  listen: listen('127.0.0.1:8443').describe('HTTPS listener (REST API) as host:port.'),
  hostnames: z.array(z.string().regex(HOSTNAME_RE, { message: 'must be a DNS host name such as ca.example.com' }))
    .max(100).default(['localhost'])
    .describe('DNS names put in the TLS certificate the node issues for itself.'),
  ips: z.array(z.string().refine((s) => isIP(s) !== 0, { message: 'must be an IPv4 or IPv6 address' }))
    .max(100).default(['127.0.0.1'])
    .describe('IP addresses put in the TLS certificate the node issues for itself.'),
}).superRefine((v, ctx) => {
  if (v.hostnames.length === 0 && v.ips.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['hostnames'], message: 'https.hostnames and https.ips cannot both be empty: the TLS certificate needs a name' });
  }
}).describe('HTTPS listener for the REST API; the node issues its own TLS certificate from the issuing CA.');

const keysSchema = z.strictObject({
  backend: z.enum(KEY_BACKENDS).default('software')
    .describe("Where CA private keys live. 'software': encrypted files under <dataDir>/keys (PKCS#11 later)."),
  passphraseEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'must be an environment variable name' }).max(128)
    .default('RAMPART_KEY_PASSPHRASE')
    .describe('Environment variable holding the key-encryption passphrase; when set it is used instead of keyFile.'),
  keyFile: pathString.optional()
    .describe('File whose contents are the scrypt input for key encryption. Default <dataDir>/secrets/key-encryption.key, created on first run. Relative paths resolve against dataDir.'),
  pkcs11: z.strictObject({
    module: pathString.default('/usr/lib/softhsm/libsofthsm2.so').describe('Path of the PKCS#11 module (the HSM vendor library).'),
    tokens: z.array(z.string().regex(/^pkcs11:/, { message: "must be an RFC 7512 URI such as 'pkcs11:token=rampart'" }).max(2048)).max(16).default([])
      .describe('RFC 7512 pkcs11: URIs of the tokens to use (token=, serial=, manufacturer=, model=, slot-id=). Several tokens holding the same keys form an HSM pool: used in turn, a failing one is taken out and retried. Required with backend pkcs11.'),
    pinEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'must be an environment variable name' }).max(128).default('RAMPART_PKCS11_PIN')
      .describe('Environment variable with the user PIN (used when pinFile is not set).'),
    pinFile: pathString.optional().describe('File whose first line is the user PIN (preferred over pinEnv). Relative paths resolve against dataDir.'),
    sessionsPerToken: z.number().int().min(1).max(64).default(4).describe('Sessions opened per token: signatures run in parallel up to this many per token.'),
    extractable: z.boolean().default(false).describe('Generate CA keys extractable (wrappable) so that `rampart key backup` can split them to custodians. Default false: keys never leave the token.'),
    retrySeconds: z.number().int().min(1).max(3600).default(10).describe('How long a failed token stays out of the pool before it is tried again.'),
  }).prefault({}).describe('PKCS#11 HSM settings (backend pkcs11).'),
}).describe('CA private key storage.');

const envVarName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'must be an environment variable name' }).max(128);

const dbHost = z.string().refine((s) => {
  const p = parseListen(s);
  return p !== null && p.port >= 1;
}, { message: 'must be host:port (e.g. db1.example.com:5432, 10.0.0.5:5432, [2001:db8::5]:5432), port 1..65535' });

const databaseSchema = z.strictObject({
  type: z.enum(DATABASE_TYPES).default('sqlite')
    .describe("Storage engine: 'sqlite' (one node, embedded file) or 'postgres' (shared by every node of a cluster)."),
  path: pathString.optional()
    .describe('SQLite database file. Default <dataDir>/rampart.db. Relative paths resolve against dataDir. (sqlite only)'),
  hosts: z.array(dbHost).min(1).max(16).optional()
    .describe('PostgreSQL servers as host:port, tried in order; list the primary and its standbys so that new connections find whichever is primary. Required for postgres.'),
  database: z.string().min(1).max(63).default('rampart').describe('PostgreSQL database name. (postgres only)'),
  user: z.string().min(1).max(63).default('rampart').describe('PostgreSQL role to log in as. (postgres only)'),
  passwordEnv: envVarName.default('RAMPART_DATABASE_PASSWORD')
    .describe('Environment variable holding the PostgreSQL password; unset means no password (trust, peer or certificate authentication). (postgres only)'),
  targetSessionAttrs: z.enum(TARGET_SESSION_ATTRS).default('read-write')
    .describe("Which listed server to connect to: 'read-write' (the writable primary; needed for issuing), 'primary', 'any', 'standby', 'prefer-standby'. (postgres only)"),
  poolMax: int(1, 100).default(10).describe('Most PostgreSQL connections this node opens. (postgres only)'),
  connectTimeoutSeconds: int(1, 60).default(5).describe('Timeout for connecting to one PostgreSQL server, in seconds. (postgres only)'),
  retryForSeconds: int(0, 600).default(30)
    .describe('How long one storage operation keeps retrying transient database errors (failover, restart, read-only server) before failing; 0 = no retry. (postgres only)'),
  monitor: z.strictObject({
    uri: z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// connection string').describe("pg_auto_failover monitor, e.g. postgres://autoctl_node@monitor:5432/pg_auto_failover"),
    formation: z.string().min(1).max(63).default('default'),
    group: int(0, 1000).default(0),
    everySeconds: int(1, 60).default(2),
  }).optional().describe('pg_auto_failover: new connections go first to the data node its monitor names primary (asked every everySeconds), so a cut-off old primary that still runs is left as soon as the standby is promoted. (postgres only)'),
}).superRefine((v, ctx) => {
  if (v.type === 'postgres' && v.hosts === undefined) {
    ctx.addIssue({ code: 'custom', path: ['hosts'], message: "is required when database.type is 'postgres' (e.g. [\"db1.example.com:5432\", \"db2.example.com:5432\"])" });
  }
}).describe('Certificate, revocation and audit storage.');

const caLevel = (subject: string, algorithm: (typeof X509_KEY_ALGORITHMS)[number], maxDays: number, days: number) =>
  z.strictObject({
    subject: distinguishedName.default(subject).describe('Subject distinguished name.'),
    algorithm: keyAlgorithm.default(algorithm).describe('Key algorithm.'),
    validityDays: int(1, maxDays).default(days).describe(`Certificate lifetime in days (1..${maxDays}).`),
  });

const issuingCaLevel = caLevel('CN=Rampart Dev Issuing CA 1, O=Rampart, C=XX', 'ecdsa-p256', 3650, 1825).extend({
  ekus: z.array(z.enum(EKUS)).max(EKUS.length).default(['serverAuth', 'clientAuth'])
    .describe('Extended key usages of the issuing CA: what it may issue for (CA/B BR 7.1.2.10.6); every profile\'s ekus must be among them. Empty: unrestricted.'),
  policies: z.array(policyOid).max(20).default(['2.5.29.32.0']).describe('certificatePolicies of the issuing CA (default anyPolicy).'),
});

const ocspSignerSchema = z.strictObject({
  algorithm: keyAlgorithm.default('ecdsa-p256').describe('Key algorithm of the delegated OCSP responder certificate.'),
  validityDays: int(1, 365).default(30).describe('Lifetime of the OCSP responder certificate in days.'),
  renewBeforeDays: int(1, 180).default(10).describe('Renew the OCSP responder certificate this many days before it expires.'),
}).superRefine((v, ctx) => {
  if (v.renewBeforeDays >= v.validityDays) {
    ctx.addIssue({
      code: 'custom', path: ['renewBeforeDays'], input: v.renewBeforeDays,
      message: `must be less than hierarchy.ocspSigner.validityDays (${v.validityDays}), or the responder certificate would be renewed continuously`,
    });
  }
});

const hierarchySchema = z.strictObject({
  root: caLevel('CN=Rampart Dev Root CA, O=Rampart, C=XX', 'ecdsa-p384', 9125, 3650).prefault({})
    .describe('Self-signed root CA created by init / first run.'),
  intermediate: issuingCaLevel.prefault({})
    .describe('Issuing (intermediate) CA signed by the root; it signs end-entity certificates.'),
  ocspSigner: ocspSignerSchema.prefault({}).describe('Delegated OCSP responder certificate, signed by the issuing CA.'),
}).superRefine((v, ctx) => {
  if (v.intermediate.validityDays > v.root.validityDays) {
    ctx.addIssue({
      code: 'custom', path: ['intermediate', 'validityDays'], input: v.intermediate.validityDays,
      message: `must not exceed hierarchy.root.validityDays (${v.root.validityDays}): the issuing CA cannot outlive the root`,
    });
  }
}).describe('CA hierarchy created by init / first run; changing it later does not re-key existing CAs.');

const ocspSchema = z.strictObject({
  validitySeconds: int(60, 604800).default(86400).describe('OCSP response lifetime: nextUpdate - thisUpdate.'),
  maxAgeSeconds: int(0, 604800).default(3600).describe('Cache-Control max-age on OCSP responses.'),
  refreshBeforeSeconds: int(0, 604800).default(21600).describe('Re-sign cached responses this long before nextUpdate.'),
  maxRequestBytes: int(64, 65536).default(4096).describe('Largest OCSP request accepted (POST body or decoded GET).'),
}).superRefine((v, ctx) => {
  if (v.refreshBeforeSeconds >= v.validitySeconds) {
    ctx.addIssue({ code: 'custom', path: ['refreshBeforeSeconds'], input: v.refreshBeforeSeconds,
      message: `must be less than ocsp.validitySeconds (${v.validitySeconds})` });
  }
  if (v.maxAgeSeconds > v.validitySeconds) {
    ctx.addIssue({ code: 'custom', path: ['maxAgeSeconds'], input: v.maxAgeSeconds,
      message: `must not exceed ocsp.validitySeconds (${v.validitySeconds}): caches would serve expired responses` });
  }
}).describe('OCSP responder.');

const mirrorSchema = z.strictObject({
  directory: pathString.optional()
    .describe('Where the leader keeps a static copy of validation (OCSP answers, CRLs, CA certificates) for a plain web server to serve while every node is down. Relative: against the data directory. Unset: no copy there.'),
  s3: z.strictObject(s3Fields('rampart-mirror/')).optional()
    .describe('The same copy in S3-compatible object storage (each object one PutObject, with its content type), beside or instead of the directory. Unset: no copy there.'),
  hashes: z.array(z.enum(['sha1', 'sha256'])).min(1).max(2).default(['sha1', 'sha256'])
    .describe('CertID hash algorithms answered in the copy (one file per certificate and algorithm).'),
  everySeconds: int(10, 86400).default(300).describe('Full pass over the inventory (new and due answers, expired ones removed), in seconds; revocations are copied within about a second.'),
}).describe('Static copy of validation that outlives the nodes (docs/DESIGN.md "Validation that outlives the nodes").');

const crlSchema = z.strictObject({
  validityHours: int(1, 720).default(24).describe('CRL lifetime: nextUpdate - thisUpdate, in hours.'),
  regenerateEveryMinutes: int(1, 1440).default(60).describe('How often a fresh CRL is signed, in minutes.'),
  shards: int(1, 1024).default(16).describe('CRL shards (partitions) per issuing CA: each new certificate\'s CDP names one shard\'s CRL (/crl/{issuer}/{shard}.crl), fixed at issuance; a revocation rebuilds only its shard. The complete CRL (/crl/{issuer}.crl) is published beside them.'),
  keep: int(1, 100).default(3).describe('Stored CRLs kept per issuer and shard (and per complete CRL); the newest is always kept.'),
  keepMegabytes: int(1, 10_000).default(64).describe('Older stored CRLs are also dropped once a scope (issuer and shard, or the complete CRL) holds more than this many megabytes.'),
}).superRefine((v, ctx) => {
  if (v.regenerateEveryMinutes >= v.validityHours * 60) {
    ctx.addIssue({ code: 'custom', path: ['regenerateEveryMinutes'], input: v.regenerateEveryMinutes,
      message: `must be less than crl.validityHours in minutes (${v.validityHours * 60}), so a new CRL exists before the old one expires` });
  }
}).describe('Certificate revocation lists.');

// ---------------------------------------------------------------- profiles

const namePattern = z.string().min(1).max(253).regex(/^[A-Za-z0-9*?._@+-]+$/, {
  message: "must be a name or glob pattern such as 'localhost', '*.example.com' or '*'",
});

export const profileSchema = z.strictObject({
  description: z.string().max(500).default('').describe('Human-readable purpose of the profile.'),
  allowedNames: z.array(namePattern).max(1000).default(['*'])
    .describe("Name patterns a request may contain: '*' alone is any name; '*' and '?' inside a label match within that label ('*.example.com' is one extra label); '**.example.com' is any depth; else exact, case-insensitive."),
  deniedNames: z.array(namePattern).max(1000).default([])
    .describe('Name patterns always refused; checked before allowedNames.'),
  allowIpSans: z.boolean().default(false).describe('Whether IP address SANs may be requested.'),
  allowedIpRanges: z.array(z.string().refine(isCidr, { message: "must be a CIDR range such as '10.0.0.0/8' or '::1/128'" }))
    .max(1000).default(['127.0.0.0/8', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '::1/128'])
    .describe('CIDR ranges IP SANs must fall into (when allowIpSans).'),
  maxValidityDays: int(1, 825).default(90).describe('Longest certificate lifetime a request may ask for, in days (at most 398 for profiles with serverAuth, CA/B BR 6.3.2).'),
  defaultValidityDays: int(1, 825).optional()
    .describe('Lifetime when the request names none; default min(90, maxValidityDays); must be <= maxValidityDays.'),
  keyTypes: z.strictObject({
    ecdsa: z.strictObject({
      allowed: z.boolean().default(true).describe('Whether ECDSA subject keys are accepted.'),
      curves: z.array(z.enum(ECDSA_CURVES)).max(2).default(['P-256', 'P-384']).describe('Accepted ECDSA curves.'),
    }).prefault({}),
    rsa: z.strictObject({
      allowed: z.boolean().default(true).describe('Whether RSA subject keys are accepted.'),
      minBits: int(2048, 8192).default(2048).describe('Smallest accepted RSA modulus in bits.'),
    }).prefault({}),
  }).prefault({}).describe('Subject public key types accepted in CSRs.'),
  ekus: z.array(z.enum(EKUS)).min(1).max(EKUS.length).default(['serverAuth'])
    .describe('Extended key usages put in issued certificates.'),
  requireSan: z.boolean().default(true).describe('Whether a request must carry at least one subjectAltName.'),
  maxSans: int(1, 1000).default(100).describe('Most subjectAltNames one certificate may carry.'),
  allowEmailSans: z.boolean().default(false).describe('Whether email (rfc822Name) SANs may be requested; their domain must match allowedNames.'),
  keyUsages: z.array(z.enum(LEAF_KEY_USAGES)).min(1).max(LEAF_KEY_USAGES.length).optional()
    .describe('Key usages put in issued certificates; default digitalSignature, plus keyEncipherment for RSA keys.'),
  policies: z.array(policyOid).max(20).optional()
    .describe('certificatePolicies OIDs put in issued certificates. Default with serverAuth: CA/B organization-validated 2.23.140.1.2.2 when the subject may carry O, else domain-validated 2.23.140.1.2.1 (BR 7.1.2.7.9); none otherwise.'),
  subject: z.strictObject({
    allowedAttributes: z.array(z.enum(SUBJECT_ATTRIBUTES)).max(SUBJECT_ATTRIBUTES.length).default([])
      .describe('Subject attributes besides commonName copied from a REST CSR. ACME orders prove DNS names and IPs only: their subject never carries more than the commonName.'),
    otherAttributes: z.enum(['drop', 'refuse']).default('drop')
      .describe('What happens to any other subject attribute in the CSR: dropped from the certificate, or the request refused (400 naming the attribute).'),
    commonName: z.enum(['san', 'keep', 'drop']).default('san')
      .describe("'san': the commonName must be one of the certificate's subjectAltNames (CA/B BR 7.1.4.3); 'keep': copied as given (client and code-signing identities); 'drop': never in the certificate."),
    commonNameNotInSans: z.enum(['refuse', 'add']).default('refuse')
      .describe("With commonName 'san': a commonName that is not among the subjectAltNames is refused (400), or added to them ('add')."),
  }).prefault({}).describe('What of the CSR subject reaches the certificate.'),
}).superRefine((v, ctx) => {
  if (v.ekus.includes('serverAuth') && v.maxValidityDays > 398) {
    ctx.addIssue({ code: 'custom', path: ['maxValidityDays'], input: v.maxValidityDays, message: 'must be at most 398 for a profile with serverAuth (CA/B BR 6.3.2)' });
  }
  if (v.defaultValidityDays !== undefined && v.defaultValidityDays > v.maxValidityDays) {
    ctx.addIssue({ code: 'custom', path: ['defaultValidityDays'], input: v.defaultValidityDays,
      message: `must be at most maxValidityDays (${v.maxValidityDays})` });
  }
  if (!v.keyTypes.ecdsa.allowed && !v.keyTypes.rsa.allowed) {
    ctx.addIssue({ code: 'custom', path: ['keyTypes'], message: 'at least one of keyTypes.ecdsa.allowed / keyTypes.rsa.allowed must be true' });
  }
  if (v.keyTypes.ecdsa.allowed && v.keyTypes.ecdsa.curves.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['keyTypes', 'ecdsa', 'curves'], message: 'must list at least one curve while ecdsa.allowed is true' });
  }
}).transform((v) => ({
  ...v,
  defaultValidityDays: v.defaultValidityDays ?? Math.min(90, v.maxValidityDays),
  policies: v.policies ?? (v.ekus.includes('serverAuth') ? [v.subject.allowedAttributes.includes('O') ? BR_ORGANIZATION_VALIDATED : BR_DOMAIN_VALIDATED] : []),
}));

/**
 * Built-in profiles. A `profiles` section in the file is merged over these:
 * fields a built-in profile leaves out keep the built-in values below (then
 * the generic profile defaults); `client: null` removes a built-in profile.
 */
export const BUILTIN_PROFILES: Record<string, Record<string, unknown>> = {
  server: {
    description: 'TLS server certificates', ekus: ['serverAuth'], requireSan: true,
    subject: { allowedAttributes: [], otherAttributes: 'drop', commonName: 'san', commonNameNotInSans: 'refuse' },
  },
  client: {
    description: 'TLS client certificates', ekus: ['clientAuth'], requireSan: false,
    subject: { allowedAttributes: [], otherAttributes: 'drop', commonName: 'keep', commonNameNotInSans: 'refuse' },
  },
};

/**
 * Profile templates: a profile of one of these names in the file starts from
 * the template (its fields override it). Not enabled unless named, because
 * the issuing CA's extendedKeyUsage must cover them (hierarchy.intermediateEkus).
 */
export const PROFILE_TEMPLATES: Record<string, Record<string, unknown>> = {
  'code-signing': {
    description: 'Code signing certificates', ekus: ['codeSigning'], requireSan: false, maxValidityDays: 398,
    subject: { allowedAttributes: ['O', 'C', 'ST', 'L'], otherAttributes: 'refuse', commonName: 'keep', commonNameNotInSans: 'refuse' },
  },
  email: {
    description: 'S/MIME certificates (email SANs)', ekus: ['emailProtection'], requireSan: true, allowEmailSans: true,
    keyUsages: ['digitalSignature', 'keyEncipherment'],
    subject: { allowedAttributes: [], otherAttributes: 'drop', commonName: 'keep', commonNameNotInSans: 'refuse' },
  },
};

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function mergeBuiltinProfiles(input: unknown): unknown {
  if (input === undefined || input === null) return { ...BUILTIN_PROFILES };
  if (!isPlainObject(input)) return input;
  const out: Record<string, unknown> = {};
  for (const [name, base] of Object.entries(BUILTIN_PROFILES)) {
    const given = input[name];
    if (given === null) continue;
    out[name] = given === undefined ? { ...base } : isPlainObject(given) ? { ...base, ...given } : given;
  }
  for (const [name, given] of Object.entries(input)) {
    if (name in BUILTIN_PROFILES || given === null) continue;
    const template = PROFILE_TEMPLATES[name];
    out[name] = template && isPlainObject(given) ? { ...template, ...given } : given;
  }
  return out;
}

const profilesSchema = z.preprocess(
  mergeBuiltinProfiles,
  z.record(
    z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, { message: 'profile names are lower-case letters, digits, - and _ (max 63)' }),
    profileSchema,
  ).refine((r) => Object.keys(r).length > 0, { message: 'at least one certificate profile is required' }),
).describe('Certificate profiles by name (built-in: server, client).');


// ---------------------------------------------------------------- acme

const rateLimit = (count: number, windowSeconds: number, what: string) => z.strictObject({
  count: int(0, 1_000_000).default(count).describe(`Most ${what} per window; 0 disables the limit.`),
  windowSeconds: int(1, 31 * 86_400).default(windowSeconds).describe('Length of the sliding window in seconds.'),
}).prefault({});

const hostPort = z.string().refine((s) => parseListen(s) !== null, { message: 'must be host:port, e.g. 127.0.0.1:53 or [::1]:53' });

const acmeSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Serve ACME (RFC 8555) under /acme on the HTTPS listener.'),
  profile: z.string().min(1).max(63).default('server').describe('Certificate profile ACME orders are issued under (same policy as the REST API).'),
  baseUrl: z.url({ protocol: /^https?$/, error: 'must be an absolute http:// or https:// URL' }).max(2048).optional()
    .describe('External base URL of the ACME server (e.g. the load balancer: https://acme.example.com). Default: the scheme and Host of each request.'),
  termsOfService: z.url().max(2048).optional().describe('Terms of service URL in the directory meta; when set, newAccount requires termsOfServiceAgreed.'),
  website: z.url().max(2048).optional().describe('Website URL in the directory meta.'),
  caaIdentities: z.array(z.string().min(1).max(253)).max(20).default([]).describe('CAA issuer domain names in the directory meta.'),
  externalAccountRequired: z.boolean().default(false).describe('Whether newAccount requires external account binding with an operator-created HS256 key.'),
  nonceLifetimeSeconds: int(10, 86_400).default(3600).describe('How long a nonce stays usable (once).'),
  orderLifetimeHours: int(1, 24 * 30).default(24).describe('Lifetime of a new order and its pending authorizations.'),
  authorizationReuseHours: int(0, 24 * 90).default(24 * 7).describe('How long a valid authorization is reused by later orders of the same account; 0 disables reuse.'),
  validAuthorizationHours: int(1, 24 * 90).default(24 * 30).describe('Lifetime of an authorization once valid.'),
  maxIdentifiersPerOrder: int(1, 1000).default(100).describe('Most identifiers in one order.'),
  maxPayloadBytes: int(1024, 1_048_576).default(65_536).describe('Largest accepted JWS request body.'),
  retryAfterSeconds: int(1, 3600).default(1).describe('Retry-After sent with processing orders and authorizations.'),
  validation: z.strictObject({
    dnsResolvers: z.array(hostPort).max(10).default([])
      .describe('DNS servers (host:port) queried for dns-01 TXT records. Empty: the system resolvers.'),
    timeoutSeconds: int(1, 120).default(10).describe('Time limit of one validation attempt.'),
    httpPort: int(1, 65535).default(80).describe('Port http-01 validation connects to (RFC 8555: 80). Change only for tests.'),
    tlsPort: int(1, 65535).default(443).describe('Port tls-alpn-01 validation connects to (RFC 8737: 443). Change only for tests.'),
    connectAddress: z.string().refine((s) => isIP(s) !== 0, { message: 'must be an IP address' }).optional()
      .describe('TESTS ONLY: connect http-01 and tls-alpn-01 validation to this address instead of resolving the identifier (e.g. 127.0.0.1).'),
    maxRedirects: int(0, 10).default(10).describe('Most HTTP redirects followed by http-01 validation.'),
  }).prefault({}).describe('Challenge validation.'),
  ari: z.strictObject({
    enabled: z.boolean().default(true).describe('Serve ACME Renewal Information (RFC 9773).'),
    renewAtFraction: z.number().min(0.1).max(0.95).default(2 / 3).describe('Start of the suggested renewal window as a fraction of the certificate lifetime.'),
    retryAfterSeconds: int(60, 86_400).default(21_600).describe('Retry-After of renewalInfo responses.'),
  }).prefault({}).describe('ACME Renewal Information.'),
  rateLimits: z.strictObject({
    newOrdersPerAccount: rateLimit(300, 3 * 3600, 'new orders per account'),
    newAccountsPerIp: rateLimit(50, 3 * 3600, 'new accounts per source address'),
    certificatesPerRegisteredDomain: rateLimit(1000, 7 * 86_400, 'certificates per registered domain (eTLD+1)'),
    requestsPerIp: rateLimit(0, 1, 'ACME requests per source address per window'),
    failedValidationsPerAccount: rateLimit(100, 3600, 'failed validations per account and identifier'),
  }).prefault({}).describe('Rate limits, counted cluster-wide in the database; answered with rateLimited and Retry-After.'),
}).describe('ACME server (RFC 8555).');

// ---------------------------------------------------------------- backup, tiers, drills

/** A bucket of S3-compatible object storage (backup targets, the validation mirror). */
function s3Fields(defaultPrefix: string) {
  return {
    bucket: z.string().min(3).max(63).describe('Bucket.'),
    prefix: z.string().max(512).default(defaultPrefix).describe('Key prefix inside the bucket.'),
    region: z.string().min(1).max(64).default('us-east-1').describe('Region.'),
    endpoint: z.url().max(2048).optional().describe('S3-compatible endpoint (MinIO, Ceph, a local test server). Default: AWS.'),
    forcePathStyle: z.boolean().default(false).describe('Path-style addressing (most S3-compatible servers need it).'),
    accessKeyIdEnv: envVarName.default('RAMPART_S3_ACCESS_KEY_ID').describe('Environment variable with the access key id (else the AWS default chain).'),
    secretAccessKeyEnv: envVarName.default('RAMPART_S3_SECRET_ACCESS_KEY').describe('Environment variable with the secret access key.'),
  };
}

const backupTargetSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('directory'),
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/).describe('Target name (in manifests and `backup list`).'),
    path: pathString.describe('Directory for backups and WAL segments. Relative paths resolve against dataDir.'),
  }),
  z.strictObject({
    type: z.literal('s3'),
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/).describe('Target name.'),
    ...s3Fields('rampart/'),
  }),
]);

const backupSchema = z.strictObject({
  targets: z.array(backupTargetSchema).max(8).default([])
    .describe('Where backups go; several for copies in different places. Empty: <dataDir>/backups (a directory target named "local").'),
  passphraseEnv: envVarName.default('RAMPART_BACKUP_PASSPHRASE')
    .describe('Environment variable whose value derives the backup key-encryption key (scrypt). Unset: the node key secret. Keep a copy off the node: without it no backup can be read.'),
  scheduleMinutes: int(0, 7 * 24 * 60).default(24 * 60).describe('The leader makes a backup this often; 0 turns the schedule off.'),
  ageWarnMarginMinutes: int(0, 7 * 24 * 60).default(60).describe('Backup age beyond the schedule (plus this margin) makes health degraded: 25 h for a daily schedule.'),
  retentionDays: int(1, 3650).default(90).describe('`backup prune` (and the leader after each scheduled backup) deletes backups older than this, always keeping the newest one.'),
  walArchive: z.boolean().default(false)
    .describe('PostgreSQL: WAL segments are archived (encrypted) to the targets for point-in-time restore: archive_mode=on and the archive_command printed by `rampart pitr archive-command` on the database server (docs/runbooks/pitr.md). Tells health and drills that point-in-time restore is expected.'),
}).describe('Backups (docs/runbooks/backup-restore.md).');

const tidySchema = z.strictObject({
  archiveExpiredAfterDays: int(0, 36500).default(0)
    .describe('Certificates expired for longer than this many days are moved to an encrypted archive object on the backup targets (tidy/...) and removed from the database, in batches; 0 (the default) turns tidy off.'),
  batchSize: int(1, 10_000).default(1000).describe('Certificates per archive object and per delete transaction.'),
  scheduleMinutes: int(0, 7 * 24 * 60).default(24 * 60).describe('The leader (or a single node) runs tidy this often when archiveExpiredAfterDays is set; 0: only `rampart tidy run`.'),
  target: z.string().min(1).max(64).optional().describe('The backup target the archives go to (default: every backup target).'),
}).describe('Bounded growth: archiving and removing long-expired certificates (docs/DESIGN.md, "Tidy").');

const integritySchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Scheduled integrity checks of the database (engine check and application checks) in a worker thread; a node that finds corruption stops issuing (503) and keeps serving OCSP and CRLs.'),
  everySeconds: int(1, 7 * 24 * 3600).default(6 * 3600).describe('How often each node checks (a check of 100k certificates took ~100 s on a loaded 2-core VM).'),
  firstCheckSeconds: int(0, 24 * 3600).default(60).describe('Seconds after start before the first check.'),
  level: z.enum(['quick', 'full']).default('quick').describe("SQLite: 'quick' runs PRAGMA quick_check (every page of every b-tree), 'full' integrity_check (also every index entry against its row). PostgreSQL: 'full' also checks TOAST in verify_heapam."),
  maxSeconds: int(10, 24 * 3600).default(3600).describe('Time budget of one check; what is not checked by then is reported (status incomplete).'),
  batchSize: int(10, 10_000).default(1000).describe('Certificates read per batch by the application check.'),
}).describe('Corruption detection (docs/runbooks/database-corruption.md).');

export { DEFAULT_TIERS } from './tiers-config.js';
export { DRILL_SCENARIOS } from './drills-config.js';

// ---------------------------------------------------------------- root

const clusterSchema = z.strictObject({
  mode: z.enum(['single', 'active-active', 'active-passive']).default('single')
    .describe("'single': one node, no leases. 'active-active': every node issues; singleton jobs (CRL publication, OCSP signer renewal) run on the holder of the leader lease. 'active-passive': only the holder of the active lease issues and revokes; standbys serve OCSP and CRLs."),
  nodeId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, { message: 'must be 1-64 characters of A-Z a-z 0-9 . _ -' }).optional()
    .describe('Stable node id in the cluster registry. Default: <hostname>-<http port>.'),
  takeoverSeconds: z.number().int().min(3).max(300).default(10)
    .describe('Longest time from the death of a lease holder (leader or active node) to another node taking over. Leases last 80 % of it and are renewed every 10 %.'),
  heartbeatSeconds: z.number().int().min(1).max(60).default(2)
    .describe('How often a node writes its registration (id, version, roles, addresses, health) to the database.'),
}).describe('Clustering over a shared PostgreSQL database (see docs/runbooks/high-availability.md).');

const apiSchema = z.strictObject({
  bodyLimitBytes: int(1024, 1048576).default(65536).describe('Largest accepted REST request body.'),
  pageSizeMax: int(1, 1000).default(500).describe('Largest page size list endpoints return.'),
  workerThreads: int(0, 64).optional()
    .describe('Worker threads that parse CSRs and encode and lint certificates, so the thread answering OCSP, CRL and API requests is not held by that work (keys stay on that thread). Default: one per CPU, at most 4; 0: on that thread.'),
}).describe('REST API limits.');

const healthSchema = z.strictObject({
  diskFreeMinBytes: int(0, Number.MAX_SAFE_INTEGER).default(512 * MiB).describe('Free space in dataDir below which health is degraded.'),
  diskFreeCriticalBytes: int(0, Number.MAX_SAFE_INTEGER).default(64 * MiB).describe('Free space in dataDir below which the diskSpace check fails: degraded (validation goes on) and not ready for writes (/readyz?write=1 answers 503).'),
  caExpiryWarnDays: int(1, 3650).default(30).describe('A CA certificate expiring within this many days makes health degraded.'),
  caExpiryCriticalDays: int(0, 3650).default(7).describe('A CA certificate expiring within this many days makes health unhealthy.'),
  clockSkewWarnSeconds: int(1, 3600).default(2)
    .describe('Cluster: the node clock differing from the database clock (measured in every lease round) by more than this makes health degraded (a warning).'),
}).superRefine((v, ctx) => {
  if (v.diskFreeCriticalBytes > v.diskFreeMinBytes) {
    ctx.addIssue({ code: 'custom', path: ['diskFreeCriticalBytes'], input: v.diskFreeCriticalBytes,
      message: `must not exceed health.diskFreeMinBytes (${v.diskFreeMinBytes})` });
  }
  if (v.caExpiryCriticalDays > v.caExpiryWarnDays) {
    ctx.addIssue({ code: 'custom', path: ['caExpiryCriticalDays'], input: v.caExpiryCriticalDays,
      message: `must not exceed health.caExpiryWarnDays (${v.caExpiryWarnDays})` });
  }
}).describe('Health check thresholds.');

/** The configuration object before defaults are derived (introspected by the env-override loader). */
export const rampartConfigObject = z.strictObject({
  dataDir: pathString.default('./data')
    .describe('Directory for the database, keys and secrets. Relative: against the config file directory, else the working directory.'),
  http: httpSchema.prefault({}),
  https: httpsSchema.prefault({}),
  publicBaseUrl: z.url({ protocol: /^https?$/, error: 'must be an absolute http:// or https:// URL' })
    .max(2048)
    .refine((s) => !/[?#]/.test(s), { message: 'must not contain a query or fragment' })
    .optional()
    .describe('Base URL put in AIA (OCSP, CA issuers) and CDP URLs of certificates. Default http://<http.listen>.'),
  keys: keysSchema.prefault({}),
  database: databaseSchema.prefault({}),
  hierarchy: hierarchySchema.prefault({}),
  ocsp: ocspSchema.prefault({}),
  crl: crlSchema.prefault({}),
  mirror: mirrorSchema.prefault({}),
  profiles: profilesSchema,
  api: apiSchema.prefault({}),
  health: healthSchema.prefault({}),
  cluster: clusterSchema.prefault({}),
  acme: acmeSchema.prefault({}),
  est: estSchema.prefault({}),
  backup: backupSchema.prefault({}),
  tidy: tidySchema.prefault({}),
  integrity: integritySchema.prefault({}),
  tiers: tiersSchema,
  drills: drillsSchema.prefault({ scheduleDays: undefined, tier: undefined }),
  audit: auditSchema.prefault({}),
  regions: regionsSchema.optional(),
  limits: limitsSchema.prefault({}),
  dashboard: dashboardSchema.prefault({}),
  ssh: sshSchema.prefault({}),
  log: z.strictObject({
    level: z.enum(LOG_LEVELS).default('info').describe('pino log level.'),
  }).prefault({}).describe('Logging.'),
});

/** Full schema: validates and fills derived defaults (publicBaseUrl). */
export const rampartConfigSchema = rampartConfigObject.superRefine((c, ctx) => {
  if (c.est.enabled) {
    for (const ref of estProfileRefs(c.est)) {
      if (!Object.prototype.hasOwnProperty.call(c.profiles, ref.profile)) {
        ctx.addIssue({ code: 'custom', path: ref.path, input: ref.profile, message: `"${ref.profile}" is not a configured certificate profile (known: ${Object.keys(c.profiles).join(', ')})` });
      }
    }
  }
  // A certificate whose EKU its issuing CA does not carry fails in strict verifiers (NSS, OpenSSL purposes, Windows).
  const caEkus = c.hierarchy.intermediate.ekus as string[];
  if (caEkus.length === 0) return;
  for (const [name, p] of Object.entries(c.profiles)) {
    const missing = p.ekus.filter((e) => !caEkus.includes(e));
    if (missing.length) {
      ctx.addIssue({ code: 'custom', path: ['profiles', name, 'ekus'], input: p.ekus,
        message: `${missing.join(', ')} is not among hierarchy.intermediate.ekus (${caEkus.join(', ')}): add it there (a new issuing CA carries it) or remove it from the profile` });
    }
  }
}).transform((c) => ({
  ...c,
  publicBaseUrl: (c.publicBaseUrl ?? `http://${c.http.listen}`).replace(/\/+$/, ''),
}));

export type RampartConfig = z.output<typeof rampartConfigSchema>;
export type RampartConfigInput = z.input<typeof rampartConfigSchema>;
export type CertificateProfile = RampartConfig['profiles'][string];
export type Eku = (typeof EKUS)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];
