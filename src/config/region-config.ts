/**
 * Configuration of a multi-region deployment (`regions` in the config
 * file). Every node and the operator's CLI share the same `sites`; each node
 * says which site it is in with `self` (e.g. RAMPART_REGIONS__SELF=B).
 */
import { z } from 'zod';
import { dnsSchema } from './dns-config.js';
import { witnessSchema } from './witness-config.js';

const int = (min: number, max: number) => z.number().int().min(min).max(max);
export const REGION_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;

const hostPort = z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/, { message: 'must be host:port' });

export const siteSchema = z.strictObject({
  database: z.strictObject({
    hosts: z.array(hostPort).min(1).max(16).describe("This region's PostgreSQL servers (host:port): the primary and its in-region standbys, or the replica."),
    database: z.string().min(1).max(63).optional().describe('Database name (default: database.database).'),
    user: z.string().min(1).max(63).optional().describe('Role the nodes log in as (default: database.user).'),
    passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).max(128).optional().describe('Environment variable with its password (default: database.passwordEnv).'),
    adminUser: z.string().min(1).max(63).default('postgres')
      .describe('Role the failover and failback commands use for pg_promote(), pg_rewind and base backups (a superuser, or one granted those rights).'),
    adminPasswordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).max(128).default('RAMPART_DATABASE_ADMIN_PASSWORD')
      .describe('Environment variable with the admin role\'s password; unset means none (trust, peer or certificate authentication).'),
  }).describe("How nodes of other regions and the failover command reach this region's database."),
  nodes: z.array(z.strictObject({
    http: z.url({ protocol: /^https?$/ }).describe('Base URL of the node\'s http listener (OCSP, CRLs, /readyz).'),
    https: z.url({ protocol: /^https$/ }).describe('Base URL of the node\'s https listener (REST API).'),
  })).max(64).default([])
    .describe('This region\'s Rampart nodes, for failover preflight, switching and verification.'),
  dnsTargets: z.array(z.string().min(1).max(253)).max(16).default([])
    .describe('What the service name points at while this region is active (addresses of its load balancer).'),
  promoteCommand: z.array(z.string().min(1).max(4096)).min(1).max(64).optional()
    .describe('Promote this region\'s database with this command (argv, no shell; e.g. Patroni or pg_auto_failover tooling) instead of SELECT pg_promote().'),
});

export const regionsSchema = z.strictObject({
  self: z.string().regex(REGION_NAME).describe('The region this node is in (a key of sites).'),
  sites: z.record(z.string().regex(REGION_NAME), siteSchema)
    .describe('Every region: its database, nodes and DNS targets. The same on every node.'),
  checkSeconds: int(1, 60).default(1).describe('How often a node re-reads its region state, lag and peer regions.'),
  heartbeatSeconds: int(1, 60).default(1).describe('How often the active region\'s leader stamps region_heartbeats (what replicas measure lag against).'),
  lagWarnSeconds: int(1, 86_400).default(30).describe('Replica lag beyond which the region check warns (health degraded).'),
  lagCriticalSeconds: int(1, 86_400).default(300).describe('Replica lag beyond which the region check fails (critical; the node still serves validation).'),
  resumeWithoutPeerSeconds: int(0, 86_400).default(30)
    .describe('A region whose last heartbeat is older than this (it was down) takes writes again only after a peer region confirms it is still the active one. Failover waits this long after the old region\'s last heartbeat when it cannot fence it.'),
  peerTimeoutSeconds: int(1, 60).default(2).describe('Timeout for reading a peer region\'s database.'),
  dns: dnsSchema.optional().describe('DNS update on failover and failback.'),
  witness: witnessSchema.optional().describe('Leadership through an etcd quorum across three sites; absent: two-site mode.'),
}).superRefine((v, ctx) => {
  if (!Object.prototype.hasOwnProperty.call(v.sites, v.self)) {
    ctx.addIssue({ code: 'custom', path: ['self'], message: `"${v.self}" is not one of regions.sites (${Object.keys(v.sites).join(', ')})` });
  }
  if (v.lagCriticalSeconds < v.lagWarnSeconds) {
    ctx.addIssue({ code: 'custom', path: ['lagCriticalSeconds'], message: `must not be less than regions.lagWarnSeconds (${v.lagWarnSeconds})` });
  }
}).describe('Cross-region disaster recovery (docs/runbooks/cross-region-dr.md): PostgreSQL only.');

export type RegionsConfig = z.output<typeof regionsSchema>;
export type SiteConfig = z.output<typeof siteSchema>;
