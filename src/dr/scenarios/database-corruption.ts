/**
 * database-corruption: a damaged database is detected, restored from the last
 * clean backup and reconciled from the forwarded audit stream, in the drill's
 * own directory (a fresh SQLite node whose audit log is forwarded to a
 * JSON-lines file, as a SIEM would keep it):
 *
 * certificates are issued, a backup is made, more are issued and one is
 * revoked (what only the audit stream has; the SIEM rotated its copy in
 * between, so it is two files); the node stops; a copy of its database gets
 * one page of the certificates table overwritten; the check (`rampart
 * integrity check`) must find it; the backup is restored and reconciled from
 * the copy's directory (`rampart restore --reconcile-from-audit DIR`); the restored
 * database must pass the check, hold every certificate issued before the
 * damage (or the report names it unrecoverable), keep the revocation, and a
 * node on it must issue, answer OCSP and revoke.
 *
 * Recovery time runs from the damage to the first certificate the restored
 * node issues; data loss is 0 when nothing is unrecoverable, else the age of
 * the backup at the time of the damage.
 */
import { copyFileSync, existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { damageSqlitePage } from '../../storage/sqlite-damage.js';
import { httpCall } from '../../core/http-client.js';
import { waitUntil } from '../../core/wait.js';
import { caBundle, hasCertificate, issueOnce, lifecycleCheck, newCsr, type NodeEndpoints } from '../lifecycle-check.js';
import { rampartJson, runRampart, startServe, tail } from '../rampart-process.js';
import type { DrillScenario } from '../drill-scenario.js';

interface CheckReport { status: string; findings: Array<{ check: string; status: string; detail: string }> }
interface Reconciled { restored: string[]; revoked: string[]; unrecoverable: Array<{ serial: string; reason: string }>; auditAppended: number; auditReplayed: number; auditGap: string | null }

const BEFORE_BACKUP = 3;
const AFTER_BACKUP = 3;

export const databaseCorruption: DrillScenario = {
  name: 'database-corruption',
  summary: 'damage a page of the certificates table in a copy of the database; detect, restore the last backup, reconcile from the audit stream, verify',
  async run(ctx) {
    const passphrase = randomBytes(24).toString('base64url');
    const siemDir = ctx.env.dir('siem');
    const auditFile = join(siemDir, 'audit.jsonl');
    const env = { RAMPART_KEY_PASSPHRASE: passphrase, RAMPART_INTEGRITY__ENABLED: 'false' };
    const sourceDir = join(ctx.env.dir('source'), 'data');
    const node = await ctx.step('start a node (SQLite; audit forwarded to a JSON-lines file)', () => startServe(ctx.env, {
      name: 'source', dataDir: sourceDir,
      env: { ...env, RAMPART_AUDIT__FORWARD: JSON.stringify([{ type: 'jsonl', name: 'siem', path: auditFile }]), RAMPART_AUDIT__FORWARD_EVERY_SECONDS: '1' },
    }), (n) => n.httpsUrl);
    if (!node.adminToken) throw new Error('the drill node printed no admin token');
    const ends: NodeEndpoints = { httpUrl: node.httpUrl, httpsUrl: node.httpsUrl, token: node.adminToken };
    const ca = await caBundle(node.httpUrl);
    const issueSome = async (n: number, label: string): Promise<string[]> => {
      const out: string[] = [];
      for (let i = 0; i < n; i++) out.push((await issueOnce(ends, ca, await newCsr(`drill-corruption-${label}-${i}.rampart.invalid`))).serial);
      return out;
    };
    const early = await ctx.step(`issue ${BEFORE_BACKUP} certificates`, () => issueSome(BEFORE_BACKUP, 'a'), (s) => s.join(' '));
    const backup = await ctx.step('back up the node (rampart backup create)', () => rampartJson<{ id: string }>(ctx.env, sourceDir, ['backup', 'create'], { env }), (b) => b.id);
    const backupAt = Date.now();
    // The SIEM's log rotator moves the copy aside; the sink starts a new file with the next batch.
    await ctx.step('rotate the audit copy (audit.jsonl -> audit.jsonl.1)', async () => waitUntil('the audit copy to exist', async () => existsSync(auditFile), 30_000, 200)
      .then(() => renameSync(auditFile, `${auditFile}.1`)));
    const late = await ctx.step(`issue ${AFTER_BACKUP} certificates after the backup`, () => issueSome(AFTER_BACKUP, 'b'), (s) => s.join(' '));
    const revokedSerial = late[0]!;
    await ctx.step(`revoke ${revokedSerial} after the backup`, async () => {
      const r = await httpCall<{ detail?: string }>(`${node.httpsUrl}/api/v1/certificates/${revokedSerial}/revoke`, { token: ends.token, ca, json: { reason: 'keyCompromise' } });
      if (r.status !== 200) throw new Error(`revocation: HTTP ${r.status} ${r.body.detail ?? ''}`);
    });
    const issued = [...early, ...late];
    await ctx.step('wait until the audit stream holds every issuance and the revocation', () => waitUntil('the forwarded audit copy', async () => {
      const text = readdirSync(siemDir).map((f) => readFileSync(join(siemDir, f), 'utf8')).join('');
      return issued.every((s) => text.includes(`"serial:${s}"`)) && text.includes('"certificate.revoke"');
    }, 30_000, 200), () => readdirSync(siemDir).join(', '));
    await ctx.step('stop the node', () => node.stop());

    ctx.faultAt();
    const faultedAt = Date.now();
    const damagedDir = ctx.env.dir('damaged');
    const damaged = await ctx.step('copy the database and damage a page of the certificates table', async () => {
      copyFileSync(join(sourceDir, 'rampart.db'), join(damagedDir, 'rampart.db'));
      return damageSqlitePage(join(damagedDir, 'rampart.db'), 'certificates');
    }, (d) => `page ${d.page} (${d.bytes} bytes at offset ${d.offset})`);
    ctx.note(`damaged page ${damaged.page} of the certificates table (page size ${damaged.pageSize})`);
    await ctx.step('detect it (rampart integrity check)', async () => {
      const r = await runRampart(ctx.env, damagedDir, ['--json', 'integrity', 'check'], { env });
      const report = JSON.parse(r.stdout || '{}') as CheckReport;
      if (r.code !== 1 || report.status !== 'corrupt') throw new Error(`the integrity check did not find the damage (exit ${r.code}, status ${report.status}): ${tail(r.stdout + r.stderr)}`);
      return report;
    }, (r) => r.findings.filter((f) => f.status === 'corrupt').map((f) => `${f.check}: ${f.detail}`).join('; ').slice(0, 300));

    const restoredDir = join(ctx.env.dir('restored'), 'data');
    const rec = await ctx.step(`restore the last backup ${backup.id} and reconcile from the audit stream (rampart restore --reconcile-from-audit)`, async () => {
      const r = await runRampart(ctx.env, restoredDir, ['--json', 'restore', '--backup', backup.id, '--from-dir', join(sourceDir, 'backups'), '--reconcile-from-audit', siemDir], { env });
      if (r.code !== 0 && r.code !== 1) throw new Error(`restore failed (exit ${r.code}): ${tail(r.stderr || r.stdout)}`);
      const out = JSON.parse(r.stdout) as { checks: string[]; reconcile?: Reconciled };
      if (!out.reconcile) throw new Error(`restore did not reconcile: ${tail(r.stdout)}`);
      return { checks: out.checks, ...out.reconcile };
    }, (r) => `${r.checks.length} checks passed; ${r.restored.length} certificate(s) put back, ${r.revoked.length} revocation(s) applied, ${r.auditAppended + r.auditReplayed} audit entries put back, ${r.unrecoverable.length} unrecoverable`);
    if (rec.unrecoverable.length) ctx.note(`UNRECOVERABLE: ${rec.unrecoverable.map((u) => `${u.serial} (${u.reason})`).join('; ')}`);
    if (rec.auditGap) ctx.note(`audit: ${rec.auditGap}`);
    await ctx.step('the restored database passes the integrity check', async () => {
      const r = await rampartJson<CheckReport>(ctx.env, restoredDir, ['integrity', 'check'], { env });
      if (r.status !== 'ok') throw new Error(`restored database: ${r.status}: ${JSON.stringify(r.findings)}`);
      return r;
    }, (r) => r.findings.map((f) => f.check).join(', '));

    const token = await ctx.step('create an API token on the restored node', () => rampartJson<{ token: string }>(ctx.env, restoredDir, ['token', 'create', '--role', 'admin', '--name', 'drill'], { env }), () => 'admin');
    const restored = await ctx.step('start a node on the restored data', () => startServe(ctx.env, { name: 'restored', dataDir: restoredDir, env }), (n) => n.httpsUrl);
    const rends: NodeEndpoints = { httpUrl: restored.httpUrl, httpsUrl: restored.httpsUrl, token: token.token };
    const rca = await caBundle(restored.httpUrl);
    await ctx.step('issue on the restored node', async () => issueOnce(rends, rca, await newCsr('drill-corruption-restored.rampart.invalid')), (c) => `serial ${c.serial}`);
    ctx.recovered();

    const unrecoverable = new Set(rec.unrecoverable.map((u) => u.serial));
    const missing = await ctx.step('every certificate issued before the damage is restored or named unrecoverable', async () => {
      const out: string[] = [];
      for (const s of issued) if (!(await hasCertificate(rends, rca, s)) && !unrecoverable.has(s)) out.push(s);
      return out;
    }, (m) => (m.length ? `MISSING without being named: ${m.join(' ')}` : `${issued.length - unrecoverable.size} of ${issued.length} present, ${unrecoverable.size} named unrecoverable`));
    if (missing.length) throw new Error(`certificates missing after the restore and not named unrecoverable: ${missing.join(', ')}`);
    await ctx.step(`the revocation made after the backup survives (${revokedSerial})`, async () => {
      const r = await httpCall<{ status?: string }>(`${restored.httpsUrl}/api/v1/certificates/${revokedSerial}`, { token: rends.token, ca: rca });
      if (r.body.status !== 'revoked' && !unrecoverable.has(revokedSerial)) throw new Error(`${revokedSerial} is ${r.body.status ?? `HTTP ${r.status}`} on the restored node`);
      return r.body.status ?? 'missing';
    }, (s) => s);
    ctx.dataLoss(unrecoverable.size ? Math.round((faultedAt - backupAt) / 1000) : 0);
    await lifecycleCheck(rends, ctx.step.bind(ctx));
  },
};
