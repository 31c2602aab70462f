/**
 * key-restore: a fresh, isolated single node (SQLite, software keys, its own
 * directory) backs up its issuing CA key into 3-of-5 test custodian shares
 * (`rampart key backup`), the key file is deleted, the key is restored from 3 of the shares (`rampart key restore`), and the node
 * is started and must issue, answer OCSP and revoke. This proves the custody
 * tooling and procedure; it does not touch the real custodians' shares.
 * Recovery time: from the deletion to the first certificate issued.
 */
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { parseArtifact } from '../../keys/custody/backup-artifact.js';
import { join } from 'node:path';
import { caBundle, issueOnce, lifecycleCheck, newCsr, type NodeEndpoints } from '../lifecycle-check.js';
import { rampartJson, startServe } from '../rampart-process.js';
import type { DrillScenario } from '../drill-scenario.js';

const CUSTODIANS = ['drill-custodian-1', 'drill-custodian-2', 'drill-custodian-3', 'drill-custodian-4', 'drill-custodian-5'];

export const keyRestore: DrillScenario = {
  name: 'key-restore',
  summary: 'back up an isolated node\'s issuing key to 3-of-5 shares, delete it, restore it from 3 shares, issue',
  async run(ctx) {
    const dataDir = ctx.env.dir('node');
    const sharesDir = join(ctx.env.workDir, 'shares');
    const init = await ctx.step('create an isolated node (rampart init)', () => rampartJson<{ adminToken: string; intermediate: { id: string } }>(ctx.env, dataDir, ['init']), (r) => r.intermediate.id);
    const issuerId = init.intermediate.id;
    const backup = await ctx.step('back up the issuing key to 3 of 5 custodian shares (rampart key backup)', () => rampartJson<{ backupId: string; backupFile: string; custodians: Array<{ location: string }> }>(ctx.env, dataDir, [
      'key', 'backup', '--issuer', issuerId, '--threshold', '3', '--shares', '5', ...CUSTODIANS.flatMap((c) => ['--custodian', c]), '--out-dir', sharesDir,
    ]), (b) => b.backupId);

    const artifact = parseArtifact(readFileSync(backup.backupFile, 'utf8'), backup.backupFile);
    if (artifact.key.sourceBackend !== 'software') throw new Error(`unexpected key backend ${artifact.key.sourceBackend} in the isolated node`);
    const keyFile = join(dataDir, 'keys', `${artifact.key.sourceKeyRef}.key.json`);
    ctx.faultAt();
    await ctx.step('delete the issuing key', async () => {
      if (!existsSync(keyFile)) throw new Error(`key file ${keyFile} not found`);
      unlinkSync(keyFile);
      if (existsSync(keyFile)) throw new Error(`key file ${keyFile} is still there`);
      return artifact.key.sourceKeyRef;
    }, (ref) => ref);
    const picked = [0, 2, 4].map((i) => backup.custodians[i]!.location);
    // Without --replace, `key restore` refuses while the issuer's key is present: success also proves it was gone.
    await ctx.step('restore the key from shares 1, 3 and 5 (rampart key restore)', () => rampartJson<{ keyRef: string }>(ctx.env, dataDir, [
      'key', 'restore', '--backup', backup.backupFile, ...picked.flatMap((f) => ['--share-file', f]),
    ]), (r) => r.keyRef);

    const node = await ctx.step('start the node', () => startServe(ctx.env, { name: 'restored', dataDir }), (n) => n.httpsUrl);
    const ends: NodeEndpoints = { httpUrl: node.httpUrl, httpsUrl: node.httpsUrl, token: init.adminToken };
    const ca = await caBundle(node.httpUrl);
    const csr = await newCsr('drill-key-restore.rampart.invalid');
    await ctx.step('issue with the restored key', () => issueOnce(ends, ca, csr), (c) => `serial ${c.serial}`);
    ctx.recovered();
    // The restore proves the rebuilt key against the CA certificate before importing it: nothing of the key is lost.
    ctx.dataLoss(0);
    await lifecycleCheck(ends, ctx.step.bind(ctx));
  },
};
