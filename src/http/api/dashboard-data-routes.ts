/**
 * Read-only JSON the web dashboard (src/dashboard/) needs that the rest of
 * the API lacks: the audit log newest first, the drill history with the
 * measured RTO/RPO against the tier targets, and what the node knows of its
 * backups (the last-backup record in the database meta, and the newest
 * `backup.verify` audit entry), and the in-memory metric history the charts
 * draw (src/metrics/metric-history.ts).
 */
import type { FastifyInstance } from 'fastify';
import { readLastBackup } from '../../backup/backup-schedule.js';
import type { RampartConfig } from '../../config/schema.js';
import type { AuditEntry } from '../../core/types.js';
import type { Clock } from '../../core/clock.js';
import { listDrillFiles, readDrillSummaries } from '../../dr/drill-records.js';
import type { DrillScenarioName } from '../../dr/drill-result.js';
import type { MetricHistory } from '../../metrics/metric-history.js';
import type { AuditStore, MetaStore } from '../../storage/store.js';
import { PERMISSIONS, type Authenticator } from './auth.js';
import type { TokenRole } from '../../core/types.js';
import { problemSchema } from './certificate-view.js';

const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema };

export interface DashboardDataOptions {
  auth: Authenticator;
  store: AuditStore & MetaStore;
  clock: Clock;
  config: Pick<RampartConfig, 'tiers' | 'drills'>;
  dataDir: string;
  history: Pick<MetricHistory, 'view'>;
}

const auditView = (e: AuditEntry) => ({
  seq: e.seq, time: e.time.toISOString(), actor: e.actor, source: e.source, channel: e.channel,
  action: e.action, target: e.target, outcome: e.outcome, details: e.details ?? {}, hash: e.hash,
});

export async function dashboardDataRoutes(app: FastifyInstance, o: DashboardDataOptions): Promise<void> {
  app.get<{ Querystring: { limit?: number; before?: number } }>('/api/v1/audit', {
    schema: {
      summary: 'Audit log entries, newest first', tags: ['admin'], security: [{ bearer: [] }],
      querystring: {
        type: 'object', additionalProperties: false,
        properties: {
          limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
          before: { type: 'integer', minimum: 1, description: 'only entries with a lower seq (paging)' },
        },
      },
      response: { ...errors },
    },
  }, async (req) => {
    await o.auth.require(req, 'audit.read');
    const items = (await o.store.latestAudit(req.query.limit ?? 50, req.query.before)).map(auditView);
    const oldest = items.at(-1);
    return { items, nextBefore: oldest && oldest.seq > 1 ? oldest.seq : null };
  });

  app.get('/api/v1/whoami', {
    schema: { summary: 'Who the caller is: actor, role and the permissions of that role', tags: ['admin'], security: [{ bearer: [] }], response: { ...errors } },
  }, async (req) => {
    const actor = await o.auth.require(req, 'status.read');
    return { actor: actor.id, role: actor.role, channel: actor.channel, permissions: PERMISSIONS[actor.role as TokenRole] ?? [] };
  });

  app.get('/api/v1/drills', {
    schema: { summary: 'DR drill history with measured RTO/RPO against the tier targets', tags: ['admin'], security: [{ bearer: [] }], response: { ...errors } },
  }, async (req) => {
    await o.auth.require(req, 'status.read');
    const target = (scenario: DrillScenarioName, tierName?: string) => {
      const name = tierName ?? o.config.drills.tier[scenario];
      const t = name ? o.config.tiers[name] : undefined;
      return { tier: name ?? null, rtoTargetSeconds: t ? t.rtoMinutes * 60 : null, rpoTargetSeconds: t ? t.rpoMinutes * 60 : null };
    };
    // Full records of the runs made on this node, plus the newest run of each scenario from the
    // database meta (so runs made on other nodes of a cluster show too).
    const runs = listDrillFiles(o.dataDir).map((r) => ({
      id: r.id, scenario: r.scenario, startedAt: r.startedAt, finishedAt: r.finishedAt, outcome: r.outcome, error: r.error,
      rtoSeconds: r.measured.rtoSeconds, rpoSeconds: r.measured.rpoSeconds, rtoMet: r.rtoMet, rpoMet: r.rpoMet,
      tier: r.tier.name, rtoTargetSeconds: r.tier.rtoMinutes * 60, rpoTargetSeconds: r.tier.rpoMinutes * 60, node: r.node,
    }));
    const known = new Set(runs.map((r) => r.id));
    const summaries = await readDrillSummaries(o.store);
    for (const [scenario, s] of Object.entries(summaries) as [DrillScenarioName, (typeof summaries)[DrillScenarioName]][]) {
      if (!s || known.has(s.id)) continue;
      const t = target(scenario, s.tier);
      runs.push({
        id: s.id, scenario, startedAt: s.time, finishedAt: s.time, outcome: s.outcome, error: s.error,
        rtoSeconds: s.rtoSeconds, rpoSeconds: s.rpoSeconds, rtoMet: s.rtoMet, rpoMet: s.rpoMet,
        tier: t.tier ?? s.tier, rtoTargetSeconds: t.rtoTargetSeconds ?? 0, rpoTargetSeconds: t.rpoTargetSeconds ?? 0, node: '',
      });
    }
    runs.sort((a, b) => b.finishedAt.localeCompare(a.finishedAt));
    const latest = Object.fromEntries(Object.entries(summaries).map(([k, s]) => [k, s ? { id: s.id, time: s.time, outcome: s.outcome, lastSuccessAt: s.lastSuccessAt } : null]));
    return { items: runs, latest };
  });

  app.get('/api/v1/metrics/history', {
    schema: {
      summary: 'This node\'s recent metrics for the dashboard charts: issuance/s, OCSP/s and p99, replication lag, error budget left (column arrays, oldest first)',
      tags: ['admin'], security: [{ bearer: [] }], response: { ...errors },
    },
  }, async (req) => {
    await o.auth.require(req, 'status.read');
    return o.history.view();
  });

  app.get('/api/v1/backups', {
    schema: { summary: 'The newest backup and its last verification, as this node knows them', tags: ['admin'], security: [{ bearer: [] }], response: { ...errors } },
  }, async (req) => {
    await o.auth.require(req, 'status.read');
    const now = o.clock.now().getTime();
    const last = await readLastBackup(o.store);
    // The newest of each, reading the log backwards a page at a time.
    let verify: AuditEntry | null = null;
    let created: AuditEntry | null = null;
    for (let before: number | undefined; !(verify && created);) {
      const page = await o.store.latestAudit(500, before);
      for (const e of page) {
        if (!verify && e.action === 'backup.verify') verify = e;
        else if (!created && e.action === 'backup.create') created = e;
      }
      if (page.length < 500) break;
      before = page.at(-1)!.seq;
    }
    return {
      last: last ? { ...last, ageSeconds: Math.max(0, Math.round((now - Date.parse(last.time)) / 1000)) } : null,
      lastAttempt: created ? { time: created.time.toISOString(), target: created.target, outcome: created.outcome } : null,
      lastVerify: verify ? { time: verify.time.toISOString(), target: verify.target, outcome: verify.outcome, ageSeconds: Math.max(0, Math.round((now - verify.time.getTime()) / 1000)) } : null,
    };
  });
}
