/**
 * point-in-time: a PostgreSQL in the drill's own directory archives its WAL
 * (encrypted with a drill passphrase, `rampart pitr wal-push` as
 * archive_command) to a directory target; a node runs on it. `rampart pitr
 * base` takes a base backup, certificates A are issued, the moment T is
 * noted (the server's clock, right after the last A was acknowledged),
 * certificates B are issued and the WAL archived. `rampart pitr restore
 * --to-time T` recovers a new data directory on a free port, a node starts
 * on it: every A must be there, no B. Then issue/OCSP/revoke.
 *
 * Recovery time: restore plus node start. Data loss: T minus the last
 * transaction recovery replayed (what a restore to T gives up before T,
 * ~0 when T follows the last acknowledged write); a missing A fails the drill.
 * Independent of the operator's database: it drills the mechanism
 * (docs/runbooks/pitr.md) with this installation's code and PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { RestoreReport } from '../../backup/pitr/pitr-restore.js';
import { freeLoopbackPort } from '../../core/free-port.js';
import { adoptPostgres, postgresOwner, startIsolatedPostgres } from '../isolated-postgres.js';
import { drillWalArchive, serverNow, switchAndWaitArchived } from '../drill-wal-archive.js';
import { caBundle, hasCertificate, issueOnce, lifecycleCheck, newCsr, type IssuedCertificate, type NodeEndpoints } from '../lifecycle-check.js';
import { rampartJson, startServe, type ServeProcess } from '../rampart-process.js';
import { sleep } from '../../core/wait.js';
import type { DrillScenario } from '../drill-scenario.js';

const BATCH = 3;

/** PostgreSQL's "2026-11-23 16:50:01.123456+00" (log time) as epoch milliseconds. */
export function pgLogTime(s: string): number {
  const m = /^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d(?:\.\d+)?)\s*(?:([+-]\d\d)(?::?(\d\d))?|UTC|Z)?$/.exec(s.trim());
  if (!m) return NaN;
  const frac = m[2]!.includes('.') ? m[2]!.replace(/(\.\d{1,3})\d*$/, '$1') : m[2]!;
  const zone = m[3] ? `${m[3]}:${m[4] ?? '00'}` : 'Z';
  return Date.parse(`${m[1]}T${frac}${zone}`);
}

export const pointInTime: DrillScenario = {
  name: 'point-in-time',
  summary: 'restore the database to a point in time from the base backup and archived WAL, then issue',
  async run(ctx) {
    if (ctx.config.database.type !== 'postgres' || !ctx.config.backup.walArchive) {
      ctx.note('this node does not archive WAL (database.type postgres and backup.walArchive: true); the drill exercises point-in-time restore on its own PostgreSQL anyway');
    }
    const owner = await postgresOwner();
    // WAL archive (directory target) and the backup passphrase file: written by archive_command as the postgres user.
    const archive = await drillWalArchive(ctx.env);
    const source = archive.source;
    const cliDir = ctx.env.dir('cli');

    const pg = await ctx.step('start an isolated PostgreSQL archiving WAL (encrypted) to a directory target', () => startIsolatedPostgres(ctx.env, 'pg', {
      settings: archive.settings,
    }), (p) => p.host);

    const keyPassphrase = randomBytes(24).toString('base64url');
    const nodeEnv = (host: string): Record<string, string> => ({
      RAMPART_KEY_PASSPHRASE: keyPassphrase,
      RAMPART_DATABASE__TYPE: 'postgres', RAMPART_DATABASE__HOSTS: JSON.stringify([host]), RAMPART_DATABASE__USER: 'rampart', RAMPART_DATABASE__DATABASE: 'rampart',
    });
    const origin: ServeProcess = await ctx.step('start a node on it (creates the CA hierarchy)', () => startServe(ctx.env, { name: 'origin', dataDir: ctx.env.dir('origin'), env: nodeEnv(pg.host) }), (n) => n.httpsUrl);
    const token = origin.adminToken;
    if (!token) throw new Error('the node printed no admin token');
    const ends = (n: ServeProcess): NodeEndpoints => ({ httpUrl: n.httpUrl, httpsUrl: n.httpsUrl, token });

    await ctx.step('archive the first WAL segment', () => switchAndWaitArchived(pg), (s) => s);
    await ctx.step('take a base backup (rampart pitr base)', () => rampartJson<{ id: string; timeline: number; finishedAt: string }>(ctx.env, cliDir,
      ['pitr', 'base', ...source, '--host', '127.0.0.1', '--port', String(pg.port), '--user', 'postgres', '--dbname', 'postgres']), (m) => `${m.id}, complete ${m.finishedAt}`);

    const ca = await caBundle(origin.httpUrl);
    const issueBatch = async (label: string): Promise<IssuedCertificate[]> => {
      const out: IssuedCertificate[] = [];
      for (let i = 0; i < BATCH; i++) out.push(await issueOnce(ends(origin), ca, await newCsr(`drill-pitr-${label}${i}.rampart.invalid`)));
      return out;
    };
    const a = await ctx.step(`issue ${BATCH} certificates A`, () => issueBatch('a'), (l) => l.map((c) => c.serial).join(', '));
    // T: the server's clock right after the last A was acknowledged.
    const targetTime = await ctx.step('note the target time T', () => serverNow(pg), (t) => t);
    await sleep(50);
    const b = await ctx.step(`issue ${BATCH} certificates B (after T)`, () => issueBatch('b'), (l) => l.map((c) => c.serial).join(', '));
    await ctx.step('archive the WAL up to now', () => switchAndWaitArchived(pg), (s) => `up to ${s}`);
    await ctx.step('stop the node', () => origin.stop());

    const port = await freeLoopbackPort();
    const pgdata = join(ctx.env.dir('restored-pg', { owner }), 'data');
    const restoredPg = adoptPostgres(ctx.env, pgdata, port, 'restored');
    ctx.faultAt();
    const report = await ctx.step(`restore to T into a new data directory on port ${port} (rampart pitr restore --to-time)`, () => rampartJson<RestoreReport>(ctx.env, cliDir,
      ['pitr', 'restore', ...source, '--to-time', targetTime, '--pgdata', pgdata, '--port', String(port), '--timeout-seconds', '300']),
    (r) => `base ${r.baseBackup}, ${r.walFilesRestored} WAL file(s), timeline ${r.timeline ?? '?'}, ${r.stopReason ?? '?'}, last transaction ${r.lastTransactionAt ?? '?'}`);
    const restored = await ctx.step('start a node on the restored database', () => startServe(ctx.env, { name: 'restored', dataDir: ctx.env.dir('restored'), env: nodeEnv(`127.0.0.1:${port}`) }), (n) => n.httpsUrl);
    ctx.recovered();

    const missing: string[] = [];
    const present: string[] = [];
    await ctx.step('all certificates A are on the restored node', async () => {
      for (const c of a) if (!(await hasCertificate(ends(restored), ca, c.serial))) missing.push(c.serial);
      if (missing.length) throw new Error(`certificate(s) issued before T missing after the restore: ${missing.join(', ')}`);
    }, () => `${a.length} present`);
    await ctx.step('no certificate B is on the restored node', async () => {
      for (const c of b) if (await hasCertificate(ends(restored), ca, c.serial)) present.push(c.serial);
      if (present.length) throw new Error(`certificate(s) issued after T present after the restore: ${present.join(', ')}`);
    }, () => `${b.length} absent`);

    const lastTx = report.lastTransactionAt ? pgLogTime(report.lastTransactionAt) : NaN;
    if (Number.isNaN(lastTx)) throw new Error(`the restore did not report the last recovered transaction (${report.lastTransactionAt ?? 'none'}); see ${report.logFile}`);
    const gap = Math.max(0, Date.parse(targetTime) - lastTx) / 1000;
    ctx.dataLoss(Math.round(gap * 1000) / 1000);
    ctx.note(`T ${targetTime}; last recovered transaction ${report.lastTransactionAt}; restore took ${report.seconds.total.toFixed(2)} s (recovery ${report.seconds.recovery.toFixed(2)} s)`);

    await lifecycleCheck(ends(restored), ctx.step.bind(ctx));
    await restoredPg.stop();
  },
};
