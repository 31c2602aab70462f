/**
 * rampart_replication_standby_lag_bytes for a PostgreSQL cluster without
 * `regions` (with regions, src/region/region-metrics.ts exports it, with a
 * region label): the WAL bytes each streaming standby of the primary has not
 * replayed, read from pg_stat_replication at scrape time (one small query,
 * at most 2 s; on failure the gauge is empty for that scrape). Every node
 * reports the same standbys; dashboards take max by standby. The nodes'
 * role needs `GRANT pg_monitor TO rampart`: without it PostgreSQL hides the
 * positions (NULL) and the gauge stays empty (said once in the log).
 */
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import { readStandbys } from '../storage/region-sql.js';
import type { SqlDatabase } from '../storage/sql-database.js';

export function registerStandbyLagMetrics(registry: Registry, db: SqlDatabase, log: Logger): void {
  let toldPrivilege = false;
  new Gauge({
    name: 'rampart_replication_standby_lag_bytes', help: 'Primary only: WAL bytes each streaming standby has not replayed', labelNames: ['standby', 'sync_state'], registers: [registry],
    async collect() {
      this.reset();
      try {
        for (const sb of await db.once('standby-lag-metrics', (sql) => readStandbys(sql), 2000)) {
          if (sb.lagBytes !== null) this.set({ standby: sb.name, sync_state: sb.syncState }, sb.lagBytes);
          else if (!toldPrivilege) {
            toldPrivilege = true;
            log.warn({ standby: sb.name }, 'pg_stat_replication hides the standbys\' positions from this role: GRANT pg_monitor TO <the nodes\' role> for rampart_replication_standby_lag_bytes');
          }
        }
      } catch (e) {
        log.warn({ err: e }, 'could not read the standbys\' replication lag for /metrics');
      }
    },
  });
}
