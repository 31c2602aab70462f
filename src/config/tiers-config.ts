/** RTO/RPO/availability tiers (`tiers.*`): what drills are measured against (`rampart tiers`). */
import { z } from 'zod';

const tierSchema = z.strictObject({
  availability: z.number().min(0).max(100).optional().describe('Availability target in percent (e.g. 99.95); absent for offline components.'),
  rtoMinutes: z.number().min(0).max(60 * 24 * 365).describe('Recovery time objective in minutes.'),
  rpoMinutes: z.number().min(0).max(60 * 24 * 365).describe('Recovery point objective in minutes (0: no acknowledged write may be lost).'),
  notes: z.string().max(500).default('').describe('How the tier is met.'),
});

export const DEFAULT_TIERS: Record<string, z.input<typeof tierSchema>> = {
  validation: { availability: 99.95, rtoMinutes: 15, rpoMinutes: 60, notes: 'OCSP/CRL serving: stateless, pre-signed, cached; any node serves' },
  issuance: { availability: 99.9, rtoMinutes: 60, rpoMinutes: 0, notes: 'REST and ACME: active-active nodes over a shared database; sync replica' },
  revocation: { availability: 99.9, rtoMinutes: 60, rpoMinutes: 0, notes: 'committed before ack; CRL/OCSP refreshed at once' },
  'crl-publication': { rtoMinutes: 240, rpoMinutes: 1440, notes: 'one leader job, fenced' },
  inventory: { rtoMinutes: 1440, rpoMinutes: 60, notes: 'a read replica is enough' },
  hsm: { rtoMinutes: 240, rpoMinutes: 0, notes: 'an HSM (token) lost: a spare initialized and the CA keys restored into it from k-of-n custodian shares (`rampart key restore`)' },
  'root-ca': { rtoMinutes: 7 * 24 * 60, rpoMinutes: 0, notes: 'offline; key backed up in k-of-n custody' },
  'region-failover': { rtoMinutes: 30, rpoMinutes: 5, notes: 'a whole region lost: the asynchronous replica region is promoted (`rampart failover region`); data loss is the replication lag, alerted at 30 s and 5 min' },
  'datacenter-loss': { rtoMinutes: 1440, rpoMinutes: 5, notes: 'a whole datacenter (region) lost: the replica region is promoted (`rampart failover region`), later `rampart failback` recovers what only the lost region had; data loss at the failover is the replication lag' },
  'database-corruption': { rtoMinutes: 240, rpoMinutes: 0, notes: 'a damaged database: detected by the scheduled integrity check, restored from the last clean backup, then reconciled from the forwarded audit stream (`rampart integrity reconcile`): nothing issued is lost while the stream has it' },
  backup: { rtoMinutes: 60, rpoMinutes: 25 * 60, notes: 'restore from the newest backup: data loss up to the backup schedule (daily) plus margin; PostgreSQL WAL archiving narrows it to archive_timeout' },
};

export const tiersSchema = z.preprocess(
  (v) => (v === undefined || v === null ? { ...DEFAULT_TIERS } : typeof v === 'object' && !Array.isArray(v) ? { ...DEFAULT_TIERS, ...(v as object) } : v),
  z.record(z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/), tierSchema),
).describe('RTO/RPO/availability per component; drills are measured against these (`rampart tiers`).');
