/**
 * restore-latest: restores the node's newest backup (`rampart restore`) into
 * the drill's own directory, starts a node on it and checks issuance, OCSP
 * and revocation. Data loss (RPO) is the age of the backup when the drill
 * starts; recovery time runs from the start of the restore to the first
 * certificate issued by the restored node.
 *
 * Supported now: SQLite nodes whose backups are on a directory target (the
 * default <dataDir>/backups or a configured `directory` target). The restored
 * node needs the node key secret (the CA keys in the backup are sealed with
 * it): RAMPART_KEY_PASSPHRASE is passed on, else the key file is copied into
 * the drill directory (mode 0600, removed with it).
 */
import { chmodSync, copyFileSync, existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { resolvedPaths } from '../../config/load.js';
import { caBundle, issueOnce, lifecycleCheck, newCsr, type NodeEndpoints } from '../lifecycle-check.js';
import { rampartJson, runRampart, startServe } from '../rampart-process.js';
import { DrillUnavailableError, type DrillScenario } from '../drill-scenario.js';

interface ListedBackup { id: string; time: string; targets: string[]; error?: string }

export const restoreLatest: DrillScenario = {
  name: 'restore-latest',
  summary: 'restore the newest backup into an isolated directory, start a node on it, issue/OCSP/revoke',
  async run(ctx) {
    const cfg = ctx.config;
    const fromDir = await ctx.step('check backup support', async () => {
      const help = await runRampart(ctx.env, ctx.env.dir('probe'), ['--help']);
      if (!/^\s+backup\b/m.test(help.stdout) || !/^\s+restore\b/m.test(help.stdout)) {
        throw new DrillUnavailableError('backup support missing: this installation has no `rampart backup create` / `rampart restore`');
      }
      if (cfg.database.type !== 'sqlite') throw new DrillUnavailableError('not available yet: restore-latest drills SQLite nodes only (PostgreSQL: restore with `rampart restore --database-url` by hand)');
      const dirs = cfg.backup.targets.filter((t) => t.type === 'directory');
      if (cfg.backup.targets.length && !dirs.length) throw new DrillUnavailableError('not available yet: restore-latest reads directory backup targets only (this node has only S3 targets)');
      const d = dirs[0];
      return d ? (isAbsolute(d.path) ? d.path : resolve(ctx.nodeDataDir, d.path)) : join(ctx.nodeDataDir, 'backups');
    }, (d) => d);

    // Read-only, about the operator's node: its own settings (targets, backup passphrase) apply.
    const list = await ctx.step('find the newest backup (rampart backup list)', () => rampartJson<{ backups: ListedBackup[] }>(ctx.env, ctx.nodeDataDir, ['backup', 'list'], { inheritEnv: true }),
      (l) => `${l.backups.length} backup(s)`);
    const newest = list.backups.filter((b) => !b.error).sort((a, b) => b.time.localeCompare(a.time))[0];
    if (!newest) throw new Error(`no readable backup of this node in ${fromDir}: make one with \`rampart backup create\``);
    const ageSeconds = Math.max(0, Math.round((Date.now() - Date.parse(newest.time)) / 1000));
    ctx.note(`restored backup ${newest.id} made ${newest.time}`);

    const dataDir = join(ctx.env.dir('restored'), 'data');
    const childEnv: Record<string, string> = {};
    const pass = process.env[cfg.keys.passphraseEnv];
    const backupPass = process.env[cfg.backup.passphraseEnv];
    if (pass) childEnv.RAMPART_KEY_PASSPHRASE = pass;
    if (backupPass) childEnv.RAMPART_BACKUP_PASSPHRASE = backupPass;
    if (!pass) {
      // The restore target must be empty: the copy of the node key secret lives next to it, named by keys.keyFile.
      const keyFile = resolvedPaths(cfg).keyFile;
      if (!existsSync(keyFile)) throw new Error(`no node key secret: ${cfg.keys.passphraseEnv} is not set and ${keyFile} does not exist`);
      const dest = join(ctx.env.dir('secret'), 'key-encryption.key');
      copyFileSync(keyFile, dest);
      chmodSync(dest, 0o600);
      childEnv.RAMPART_KEYS__KEY_FILE = dest;
    }
    ctx.faultAt();
    await ctx.step(`restore backup ${newest.id} into the drill directory (rampart restore)`, async () => {
      return rampartJson<{ id: string; checks: string[] }>(ctx.env, dataDir, ['restore', '--backup', newest.id, '--from-dir', fromDir], { env: childEnv });
    }, (r) => `${r.checks.length} checks passed`);
    const token = await ctx.step('create an API token on the restored node', () => rampartJson<{ token: string }>(ctx.env, dataDir, ['token', 'create', '--role', 'admin', '--name', 'drill'], { env: childEnv }), () => 'admin');
    const node = await ctx.step('start a node on the restored data', () => startServe(ctx.env, { name: 'restored', dataDir, env: childEnv }), (n) => n.httpsUrl);
    const ends: NodeEndpoints = { httpUrl: node.httpUrl, httpsUrl: node.httpsUrl, token: token.token };
    const ca = await caBundle(node.httpUrl);
    const csr = await newCsr('drill-restore-latest.rampart.invalid');
    await ctx.step('issue on the restored node', () => issueOnce(ends, ca, csr), (c) => `serial ${c.serial}`);
    ctx.recovered();
    ctx.dataLoss(ageSeconds);
    await lifecycleCheck(ends, ctx.step.bind(ctx));
  },
};
