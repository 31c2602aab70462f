/**
 * database-corruption-postgres: the database-corruption drill on PostgreSQL,
 * in the drill's own directory: a server with data checksums and amcheck,
 * archiving its WAL (encrypted, `rampart pitr wal-push`) to a directory
 * target, and a node on it whose audit log is forwarded to a JSON-lines file.
 *
 * A base backup is taken (`rampart pitr base`); certificates are issued and
 * one revoked; the WAL is archived and T noted (the newest moment the archive
 * covers); more are issued and one revoked (only the live WAL and the audit
 * stream have them). The node stops; PostgreSQL is stopped, bytes of the
 * certificates relation's first page overwritten in its file (found with
 * pg_relation_filepath) and the server started again: `rampart integrity
 * check` must find it. The damaged server is taken out of service, a new one
 * recovered to T (`rampart pitr restore --to-time T`, before the damage), then
 * reconciled (`rampart integrity reconcile --from-audit`); it must pass the
 * check, hold every certificate issued before the damage or name it
 * unrecoverable, keep both revocations, and a node on it must issue, answer
 * OCSP and revoke.
 *
 * Recovery time: from the damage to the first certificate the restored node
 * issues. Data loss: 0 when nothing is unrecoverable, else from T to the damage.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { RestoreReport } from '../../backup/pitr/pitr-restore.js';
import { freeLoopbackPort } from '../../core/free-port.js';
import { httpCall } from '../../core/http-client.js';
import { waitUntil } from '../../core/wait.js';
import { adoptPostgres, exec, postgresBinDir, postgresOwner, startIsolatedPostgres } from '../isolated-postgres.js';
import { startPostgresAgain } from '../isolated-replica.js';
import { drillWalArchive, serverNow, switchAndWaitArchived } from '../drill-wal-archive.js';
import { caBundle, hasCertificate, issueOnce, lifecycleCheck, newCsr, type NodeEndpoints } from '../lifecycle-check.js';
import { rampartJson, runRampart, startServe, tail, type ServeProcess } from '../rampart-process.js';
import type { DrillScenario } from '../drill-scenario.js';

interface CheckReport { status: string; findings: Array<{ check: string; status: string; detail: string }> }
interface Reconciled { restored: string[]; revoked: string[]; unrecoverable: Array<{ serial: string; reason: string }>; auditAppended: number; auditReplayed: number }

const BATCH = 3;

export const databaseCorruptionPostgres: DrillScenario = {
  name: 'database-corruption-postgres',
  summary: 'damage a page of the certificates relation on PostgreSQL; detect, recover to before the damage from the base backup and archived WAL, reconcile from the audit stream, verify',
  async run(ctx) {
    const archive = await drillWalArchive(ctx.env);
    const pg = await ctx.step('start an isolated PostgreSQL (data checksums, amcheck) archiving WAL to a directory target', async () => {
      const p = await startIsolatedPostgres(ctx.env, 'pg', { checksums: true, settings: archive.settings });
      await p.psql('CREATE EXTENSION amcheck', 'rampart');
      await p.psql('GRANT EXECUTE ON FUNCTION bt_index_check(regclass), verify_heapam(regclass, boolean, boolean, text, bigint, bigint) TO rampart', 'rampart');
      return p;
    }, (p) => p.host);
    const siemDir = ctx.env.dir('siem');
    const auditFile = join(siemDir, 'audit.jsonl');
    const passphrase = randomBytes(24).toString('base64url');
    const nodeEnv = (port: number): Record<string, string> => ({
      RAMPART_KEY_PASSPHRASE: passphrase, RAMPART_INTEGRITY__ENABLED: 'false',
      RAMPART_DATABASE__TYPE: 'postgres', RAMPART_DATABASE__HOSTS: JSON.stringify([`127.0.0.1:${port}`]), RAMPART_DATABASE__USER: 'rampart', RAMPART_DATABASE__DATABASE: 'rampart',
    });
    const cliDir = ctx.env.dir('cli');
    const node = await ctx.step('start a node on it (audit forwarded to a JSON-lines file)', () => startServe(ctx.env, {
      name: 'source', dataDir: join(ctx.env.dir('source'), 'data'),
      env: { ...nodeEnv(pg.port), RAMPART_AUDIT__FORWARD: JSON.stringify([{ type: 'jsonl', name: 'siem', path: auditFile }]), RAMPART_AUDIT__FORWARD_EVERY_SECONDS: '1' },
    }), (n) => n.httpsUrl);
    const token = node.adminToken;
    if (!token) throw new Error('the drill node printed no admin token');
    const ends = (n: ServeProcess): NodeEndpoints => ({ httpUrl: n.httpUrl, httpsUrl: n.httpsUrl, token });
    const ca = await caBundle(node.httpUrl);
    const issueAndRevoke = async (label: string): Promise<{ serials: string[]; revoked: string }> => {
      const serials: string[] = [];
      for (let i = 0; i < BATCH; i++) serials.push((await issueOnce(ends(node), ca, await newCsr(`drill-pgcorrupt-${label}-${i}.rampart.invalid`))).serial);
      const r = await httpCall<{ detail?: string }>(`${node.httpsUrl}/api/v1/certificates/${serials[0]}/revoke`, { token, ca, json: { reason: 'keyCompromise' } });
      if (r.status !== 200) throw new Error(`revocation of ${serials[0]}: HTTP ${r.status} ${r.body.detail ?? ''}`);
      return { serials, revoked: serials[0]! };
    };

    await ctx.step('archive the first WAL segment', () => switchAndWaitArchived(pg), (s) => s);
    await ctx.step('take a base backup (rampart pitr base)', () => rampartJson<{ id: string; finishedAt: string }>(ctx.env, cliDir,
      ['pitr', 'base', ...archive.source, '--host', '127.0.0.1', '--port', String(pg.port), '--user', 'postgres', '--dbname', 'postgres']), (m) => `${m.id}, complete ${m.finishedAt}`);
    const a = await ctx.step(`issue ${BATCH} certificates and revoke one`, () => issueAndRevoke('a'), (x) => `${x.serials.join(' ')}; revoked ${x.revoked}`);
    await ctx.step('archive the WAL', () => switchAndWaitArchived(pg), (s) => `up to ${s}`);
    const targetTime = await ctx.step('note T: the newest moment the WAL archive covers', () => serverNow(pg), (t) => t);
    const b = await ctx.step(`issue ${BATCH} more and revoke one (only the live WAL and the audit stream have them)`, () => issueAndRevoke('b'), (x) => `${x.serials.join(' ')}; revoked ${x.revoked}`);
    const issued = [...a.serials, ...b.serials];
    await ctx.step('wait until the audit stream holds every issuance and revocation', () => waitUntil('the forwarded audit copy', async () => {
      const text = existsSync(auditFile) ? readFileSync(auditFile, 'utf8') : '';
      return issued.every((s) => text.includes(`"serial:${s}"`)) && [a.revoked, b.revoked].every((s) => text.split('\n').some((l) => l.includes('"certificate.revoke"') && l.includes(`"serial:${s}"`)));
    }, 30_000, 200), () => auditFile);
    await ctx.step('stop the node', () => node.stop());

    ctx.faultAt();
    const faultedAt = Date.now();
    const damaged = await ctx.step('damage the first page of the certificates relation (server stopped, bytes overwritten, started again)', async () => {
      const rel = await pg.psql("SELECT pg_relation_filepath('certificates')", 'rampart');
      await exec(join(postgresBinDir(), 'pg_ctl'), ['stop', '-m', 'fast', '-w', '-t', '60', '-D', pg.dataDir], { asPostgres: true });
      const fd = openSync(join(pg.dataDir, rel), 'r+');
      try { writeSync(fd, Buffer.alloc(64, 0xa5), 0, 64, 200); } finally { closeSync(fd); }
      await startPostgresAgain(pg.dataDir);
      return rel;
    }, (rel) => `${rel}: 64 bytes at offset 200`);
    ctx.note(`damaged ${damaged} (the certificates relation) in the drill's PostgreSQL`);
    await ctx.step('detect it (rampart integrity check)', async () => {
      const r = await runRampart(ctx.env, cliDir, ['--json', 'integrity', 'check'], { env: nodeEnv(pg.port) });
      const report = JSON.parse(r.stdout || '{}') as CheckReport;
      if (r.code !== 1 || report.status !== 'corrupt') throw new Error(`the integrity check did not find the damage (exit ${r.code}, status ${report.status}): ${tail(r.stdout + r.stderr)}`);
      return report;
    }, (r) => r.findings.filter((f) => f.status === 'corrupt').map((f) => `${f.check}: ${f.detail}`).join('; ').slice(0, 300));
    await ctx.step('take the damaged server out of service', () => pg.stop());

    const owner = await postgresOwner();
    const port = await freeLoopbackPort();
    const pgdata = join(ctx.env.dir('restored-pg', { owner }), 'data');
    adoptPostgres(ctx.env, pgdata, port, 'restored');
    const pitr = await ctx.step(`recover a new server to T, before the damage (rampart pitr restore --to-time, port ${port})`, () => rampartJson<RestoreReport>(ctx.env, cliDir,
      ['pitr', 'restore', ...archive.source, '--to-time', targetTime, '--pgdata', pgdata, '--port', String(port), '--timeout-seconds', '300']),
    (r) => `base ${r.baseBackup}, ${r.walFilesRestored} WAL file(s), last transaction ${r.lastTransactionAt ?? '?'}`);
    ctx.note(`recovered to ${targetTime}: last transaction ${pitr.lastTransactionAt ?? '?'}, ${pitr.walFilesRestored} WAL file(s)`);
    const restoredEnv = nodeEnv(port);
    const rec = await ctx.step('reconcile from the audit stream (rampart integrity reconcile)', async () => {
      const r = await runRampart(ctx.env, cliDir, ['--json', 'integrity', 'reconcile', '--from-audit', auditFile], { env: restoredEnv });
      if (r.code !== 0 && r.code !== 1) throw new Error(`reconcile failed (exit ${r.code}): ${tail(r.stderr || r.stdout)}`);
      return JSON.parse(r.stdout) as Reconciled;
    }, (r) => `${r.restored.length} certificate(s) put back, ${r.revoked.length} revocation(s) applied, ${r.auditAppended + r.auditReplayed} audit entries put back, ${r.unrecoverable.length} unrecoverable`);
    if (rec.unrecoverable.length) ctx.note(`UNRECOVERABLE: ${rec.unrecoverable.map((u) => `${u.serial} (${u.reason})`).join('; ')}`);
    await ctx.step('the recovered database passes the integrity check', async () => {
      const r = await rampartJson<CheckReport>(ctx.env, cliDir, ['integrity', 'check'], { env: restoredEnv });
      if (r.status !== 'ok') throw new Error(`recovered database: ${r.status}: ${JSON.stringify(r.findings)}`);
      return r;
    }, (r) => r.findings.map((f) => f.check).join(', '));

    const restored = await ctx.step('start a node on the recovered database', () => startServe(ctx.env, { name: 'restored', dataDir: join(ctx.env.dir('restored'), 'data'), env: restoredEnv }), (n) => n.httpsUrl);
    await ctx.step('issue on the recovered node', async () => issueOnce(ends(restored), ca, await newCsr('drill-pgcorrupt-restored.rampart.invalid')), (c) => `serial ${c.serial}`);
    ctx.recovered();

    const unrecoverable = new Set(rec.unrecoverable.map((u) => u.serial));
    const missing = await ctx.step('every certificate issued before the damage is recovered or named unrecoverable', async () => {
      const out: string[] = [];
      for (const s of issued) if (!(await hasCertificate(ends(restored), ca, s)) && !unrecoverable.has(s)) out.push(s);
      return out;
    }, (m) => (m.length ? `MISSING without being named: ${m.join(' ')}` : `${issued.length - unrecoverable.size} of ${issued.length} present, ${unrecoverable.size} named unrecoverable`));
    if (missing.length) throw new Error(`certificates missing after the recovery and not named unrecoverable: ${missing.join(', ')}`);
    await ctx.step('both revocations survive (before T from the WAL, after T from the audit stream)', async () => {
      const states: string[] = [];
      for (const s of [a.revoked, b.revoked]) {
        const r = await httpCall<{ status?: string }>(`${restored.httpsUrl}/api/v1/certificates/${s}`, { token, ca });
        if (r.body.status !== 'revoked' && !unrecoverable.has(s)) throw new Error(`${s} is ${r.body.status ?? `HTTP ${r.status}`} on the recovered node`);
        states.push(`${s} ${r.body.status ?? 'missing'}`);
      }
      return states.join(', ');
    }, (s) => s);
    ctx.dataLoss(unrecoverable.size ? Math.round((faultedAt - Date.parse(targetTime)) / 1000) : 0);
    await lifecycleCheck(ends(restored), ctx.step.bind(ctx));
  },
};
