/**
 * Connections to one region's database for the failover and failback
 * commands (any server of the site, no retries: they decide from what they
 * see now), and the database-side promotion.
 */
import { execFile } from 'node:child_process';
import type { RampartConfig } from '../config/schema.js';
import { openPostgresStore, openSqlDatabase, type SqlDatabase } from '../storage/sql-database.js';
import type { Store } from '../storage/store.js';
import type { SiteConfig } from '../config/region-config.js';
import { readRegionView, type DbRegionView } from '../storage/region-sql.js';

export interface SiteConnection { host: string; port: number; user: string; database: string; password?: string }

function site(config: RampartConfig, region: string): SiteConfig {
  const s = config.regions?.sites[region];
  if (!s) throw new Error(`unknown region "${region}" (regions.sites: ${Object.keys(config.regions?.sites ?? {}).join(', ') || 'none'})`);
  return s;
}

function settings(config: RampartConfig, region: string, env: NodeJS.ProcessEnv, admin = false) {
  const s = site(config, region);
  const password = env[admin ? s.database.adminPasswordEnv : s.database.passwordEnv ?? config.database.passwordEnv];
  return {
    hosts: s.database.hosts, database: s.database.database ?? config.database.database,
    user: admin ? s.database.adminUser : s.database.user ?? config.database.user,
    ...(password ? { password } : {}),
  };
}

/** A one-attempt pool on any server of the region (primary or replica), as the admin role (promotion). */
export function sitePool(config: RampartConfig, region: string, env: NodeJS.ProcessEnv, o: { timeoutSeconds?: number; host?: string; primary?: boolean } = {}): SqlDatabase {
  const st = settings(config, region, env, true);
  return openSqlDatabase({
    ...st, ...(o.host ? { hosts: [o.host] } : {}), targetSessionAttrs: o.primary ? 'primary' : 'any', max: 2, retryForMs: 0,
    connectTimeoutSeconds: o.timeoutSeconds ?? 3, applicationName: 'rampart failover',
  });
}

/** The admin connection to one server of a region, for pg_rewind and base backups. */
export function adminSource(config: RampartConfig, region: string, host: string, env: NodeJS.ProcessEnv): { host: string; port: number; user: string; password?: string } {
  const st = settings(config, region, env, true);
  const m = /^(?:\[(.+)\]|([^:]+))(?::(\d+))?$/.exec(host);
  if (!m) throw new Error(`bad host "${host}"`);
  return { host: m[1] ?? m[2]!, port: Number(m[3] ?? 5432), user: st.user, ...(st.password ? { password: st.password } : {}) };
}

/** Which of the region's servers is a primary now (one-host checks), or null. */
export async function findPrimaryHost(config: RampartConfig, region: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  for (const h of site(config, region).database.hosts) {
    const pool = sitePool(config, region, env, { host: h });
    try {
      const { view } = await tryView(pool, 4000);
      if (view && !view.inRecovery) return h;
    } finally {
      await pool.close();
    }
  }
  return null;
}

/** A store on the region's database (the promoted side: audit entries, reconciliation). */
export function siteStore(config: RampartConfig, region: string, env: NodeJS.ProcessEnv): Store {
  return openPostgresStore({ ...settings(config, region, env), targetSessionAttrs: 'any', max: 4, retryForMs: 5000, connectTimeoutSeconds: 3, applicationName: 'rampart failover' });
}

/** The region's database view, or the reason it could not be read. */
export async function tryView(pool: SqlDatabase, timeoutMs: number): Promise<{ view: DbRegionView | null; error: string | null }> {
  try {
    return { view: await pool.once('region-view', (sql) => readRegionView(sql), timeoutMs), error: null };
  } catch (e) {
    return { view: null, error: (e as Error).message };
  }
}

/** Promotes the region's replica: its promoteCommand, or SELECT pg_promote(). Resolves once it left recovery. */
export async function promoteSite(config: RampartConfig, region: string, pool: SqlDatabase, env: NodeJS.ProcessEnv): Promise<string> {
  const cmd = site(config, region).promoteCommand;
  if (cmd) {
    await new Promise<void>((resolve, reject) => {
      execFile(cmd[0]!, cmd.slice(1), { timeout: 120_000, env: { ...env, RAMPART_REGION: region } }, (err, _out, stderr) => {
        if (err) reject(new Error(`promote command ${cmd.join(' ')} failed: ${err.message} ${stderr.trim().split('\n').slice(-3).join(' ')}`));
        else resolve();
      });
    });
  } else {
    const [r] = await pool.once('pg_promote', (sql) => sql`SELECT pg_promote(true, 60) AS ok`, 65_000);
    if (r!.ok !== true) throw new Error('pg_promote() did not finish within 60 s');
  }
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { view } = await tryView(pool, 3000);
    if (view && !view.inRecovery) return cmd ? `promoted by ${cmd[0]}` : 'promoted with pg_promote()';
    if (Date.now() > deadline) throw new Error(`region ${region}'s database is still in recovery 60 s after promotion`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Waits until the region's database has replayed up to `lsn`; returns the replayed position. */
export async function waitReplayed(pool: SqlDatabase, lsn: string, timeoutMs: number, lsnDiff: (a: string | null, b: string | null) => number | null): Promise<{ caughtUp: boolean; replayLsn: string | null; behindBytes: number | null }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { view } = await tryView(pool, 3000);
    const behind = view ? lsnDiff(lsn, view.lsn) : null;
    if (view && behind === 0) return { caughtUp: true, replayLsn: view.lsn, behindBytes: 0 };
    if (Date.now() > deadline) return { caughtUp: false, replayLsn: view?.lsn ?? null, behindBytes: behind };
    await new Promise((r) => setTimeout(r, 100));
  }
}
