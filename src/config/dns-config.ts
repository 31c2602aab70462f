/**
 * Configuration of the DNS provider that cross-region failover uses to point
 * the service name at the new region (`dnsSchema`, a union on `provider`):
 *
 * - `none` (default): DNS is not changed; failover says so.
 * - `file`: a JSON document of records (file-provider.ts), a zone-file
 *   stand-in for a local resolver or a test.
 * - `exec`: an operator's command, run without a shell (exec-provider.ts).
 * - `route53`: an UPSERT in an Amazon Route 53 hosted zone (route53-provider.ts).
 *
 * Same style as src/config/schema.ts: strict objects, every field described,
 * bounded and defaulted.
 */
import { z } from 'zod';

export const DNS_RECORD_TYPES = ['A', 'AAAA', 'CNAME'] as const;
export type DnsRecordType = (typeof DNS_RECORD_TYPES)[number];
export const DNS_TTL_MIN = 1;
export const DNS_TTL_MAX = 86_400;

const LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/** True for a DNS host name (letters, digits, hyphens; labels 1..63; 253 at most), trailing dot optional. */
export function isDnsName(name: string): boolean {
  if (typeof name !== 'string') return false;
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  if (n.length === 0 || n.length > 253) return false;
  return n.split('.').every((l) => LABEL_RE.test(l));
}

const envVarName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'must be an environment variable name' }).max(128);

/** Fields every provider that changes DNS has. */
const common = {
  name: z.string().max(254).refine(isDnsName, { message: 'must be a DNS name such as ca.example.com (trailing dot optional)' })
    .describe('The service DNS name failover points at the new region.'),
  type: z.enum(DNS_RECORD_TYPES).default('A')
    .describe("Record type: 'A' (IPv4 addresses), 'AAAA' (IPv6 addresses) or 'CNAME' (one host name)."),
  ttl: z.number().int().min(DNS_TTL_MIN).max(DNS_TTL_MAX).default(60)
    .describe('TTL of the record in seconds; keep it short so that clients follow a failover quickly.'),
};

export const dnsSchema = z.discriminatedUnion('provider', [
  z.strictObject({
    provider: z.literal('none').describe('DNS is not changed by failover (point the name at the new region by hand).'),
  }),
  z.strictObject({
    provider: z.literal('file').describe('Records kept in a JSON file, replaced atomically.'),
    ...common,
    path: z.string().min(1).max(4096)
      .describe('The JSON records file ({"records": {name: {type, ttl, targets, region, reason, updatedAt}}}). Relative paths resolve against the data directory.'),
  }),
  z.strictObject({
    provider: z.literal('exec').describe('An external command makes the change.'),
    ...common,
    command: z.array(z.string().min(1).max(4096)).min(1).max(256)
      .describe('The command as argv (no shell). It gets RAMPART_DNS_NAME, _TYPE, _TTL, _TARGETS (comma-separated), _REGION, _REASON in its environment and the change as JSON on stdin; exit 0 means done, its last line of output is logged.'),
    timeoutSeconds: z.number().int().min(1).max(600).default(60)
      .describe('The command is killed (with its process group) after this long and the change counts as failed.'),
  }),
  z.strictObject({
    provider: z.literal('route53').describe('Amazon Route 53 (UPSERT of the record set).'),
    ...common,
    hostedZoneId: z.string().regex(/^(\/hostedzone\/)?[A-Z0-9]{1,32}$/, { message: 'must be a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ' })
      .describe('The hosted zone holding the name.'),
    region: z.string().min(1).max(64).default('us-east-1').describe('AWS region for the API client (Route 53 itself is global).'),
    endpoint: z.url({ protocol: /^https?$/ }).max(2048).optional()
      .describe('Route 53 API endpoint (tests, other partitions). Default: the AWS endpoint for the region.'),
    accessKeyIdEnv: envVarName.default('RAMPART_ROUTE53_ACCESS_KEY_ID')
      .describe('Environment variable with the access key id (else the AWS default credential chain).'),
    secretAccessKeyEnv: envVarName.default('RAMPART_ROUTE53_SECRET_ACCESS_KEY')
      .describe('Environment variable with the secret access key.'),
    waitSeconds: z.number().int().min(0).max(900).default(120)
      .describe('Wait this long at most for the change to be INSYNC on every Route 53 name server (failing otherwise); 0 = do not wait.'),
  }),
]).default({ provider: 'none' })
  .describe("How cross-region failover points the service name at the new region; default 'none' (it does not).");

export type DnsConfig = z.infer<typeof dnsSchema>;
export type DnsProviderKind = DnsConfig['provider'];
