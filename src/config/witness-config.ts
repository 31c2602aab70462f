/**
 * Configuration of the region witness (`regions.witness`): region leadership
 * held as a lease in an etcd cluster whose members sit in three failure
 * domains (region A, region B and a third site). Absent: the two-site mode
 * (region_state and peer checks only), with its split-brain window
 * (docs/runbooks/cross-region-dr.md).
 */
import { z } from 'zod';

const int = (min: number, max: number) => z.number().int().min(min).max(max);

export const witnessSchema = z.strictObject({
  endpoints: z.array(z.url({ protocol: /^https?$/ })).min(1).max(9)
    .describe("Client URLs of the etcd members (v3 HTTP/JSON gateway), e.g. one in each region and one at the third site. Tried in turn; any member of the quorum's majority will do."),
  prefix: z.string().regex(/^\/[A-Za-z0-9._/-]{0,200}$/).default('/rampart/regions')
    .describe('Key prefix: <prefix>/leader holds the leading region (with the lease), <prefix>/active names the region failovers last gave leadership to.'),
  leaseSeconds: int(2, 300).default(10).describe('TTL of the leadership lease in etcd: a region cut off from the quorum stops taking writes before this has passed since its last renewal.'),
  renewSeconds: int(1, 60).default(2).describe('How often each node of the leading region renews the lease (and re-reads the keys).'),
  marginSeconds: int(1, 60).default(3)
    .describe('A node refuses writes this long before the lease can expire in etcd by its own monotonic clock (counted from when it sent its last successful renewal): covers clock-rate differences and a write in flight.'),
  requestTimeoutMs: int(100, 30_000).default(1000).describe('Timeout of one request to one etcd member (the next member is tried).'),
  caFile: z.string().min(1).max(4096).optional().describe('PEM bundle trusted for https endpoints (default: the system\'s).'),
}).superRefine((v, ctx) => {
  if (v.marginSeconds + v.renewSeconds >= v.leaseSeconds) {
    ctx.addIssue({ code: 'custom', path: ['marginSeconds'], message: `marginSeconds + renewSeconds must be less than leaseSeconds (${v.leaseSeconds}): otherwise a node stops between two renewals` });
  }
}).describe('Region witness: leadership through an etcd quorum across three sites (docs/runbooks/cross-region-dr.md).');

export type WitnessConfig = z.output<typeof witnessSchema>;
