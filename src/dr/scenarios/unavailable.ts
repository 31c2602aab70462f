/** Scenarios that cannot run on this installation yet: they fail with the reason, so the gap shows in history and health. */
import { DrillUnavailableError, type DrillScenario } from '../drill-scenario.js';

export const pointInTime: DrillScenario = {
  name: 'point-in-time',
  summary: 'restore the database to a point in time from the base backup and archived WAL, then issue',
  async run(ctx) {
    await ctx.step('check WAL archiving', async () => {
      if (ctx.config.database.type !== 'postgres' || !ctx.config.backup.walArchive) {
        throw new DrillUnavailableError('not available: WAL archiving not configured (needs database.type postgres and backup.walArchive: true)');
      }
      throw new DrillUnavailableError('not available: the point-in-time restore drill is not implemented yet');
    });
  },
};

export const databaseFailover: DrillScenario = {
  name: 'database-failover',
  summary: 'kill the PostgreSQL primary under a node, promote the standby, measure until issuance works',
  async run(ctx) {
    await ctx.step('check drill support', async () => {
      throw new DrillUnavailableError('not available: the database-failover drill is not implemented yet (test/db-failover.test.ts exercises it in the test suite)');
    });
  },
};
