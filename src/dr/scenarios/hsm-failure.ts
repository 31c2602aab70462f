/**
 * hsm-failure: an isolated node whose CA keys live in a PKCS#11 token (a
 * private SoftHSM2 standing in for the HSM, keys generated extractable under
 * wrapping) backs up its root and issuing keys to 3-of-5 custodian shares,
 * issues, and then loses the token for good (softhsm2-util --delete-token).
 * Issuance must fail; a spare token is initialized, the node pointed at it,
 * both keys restored from three shares each (C_UnwrapKey into the spare),
 * and the node must issue, answer OCSP and revoke with certificates that
 * chain to the ORIGINAL CA certificates. Recovery time: from the token's
 * destruction to the first certificate issued through the spare.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { caBundle, issueOnce, lifecycleCheck, newCsr, type NodeEndpoints } from '../lifecycle-check.js';
import { isolatedSoftHsm } from '../isolated-softhsm.js';
import { rampartJson, startServe, type ServeProcess } from '../rampart-process.js';
import type { DrillScenario } from '../drill-scenario.js';

const CUSTODIANS = ['drill-custodian-1', 'drill-custodian-2', 'drill-custodian-3', 'drill-custodian-4', 'drill-custodian-5'];

interface KeyList { backend: string; keys: Array<{ id: string; kind: string; active: boolean; present: boolean | null }> }
interface Backup { backupId: string; backupFile: string; custodians: Array<{ location: string }> }

export const hsmFailure: DrillScenario = {
  name: 'hsm-failure',
  summary: 'an isolated node with its CA keys in a PKCS#11 token loses the token; keys restored from 3-of-5 shares into a spare token; issuance resumes',
  async run(ctx) {
    const hsm = isolatedSoftHsm(ctx.env);
    const dataDir = ctx.env.dir('node');
    const sharesDir = join(ctx.env.workDir, 'shares');
    const useToken = (label: string) => writeFileSync(join(dataDir, 'rampart.yaml'), [
      'keys:', '  backend: pkcs11', '  pkcs11:', `    module: ${hsm.module}`, `    tokens: ["pkcs11:token=${label}"]`, '    extractable: true', '',
    ].join('\n'));
    const cli = <T>(args: string[]) => rampartJson<T>(ctx.env, dataDir, args, { env: hsm.env });

    await ctx.step('initialize the primary token (SoftHSM2 as the HSM)', () => hsm.initToken('drill-primary'));
    useToken('drill-primary');
    const init = await ctx.step('create the node with its CA keys in the token (rampart init)', () => cli<{ adminToken: string }>(['init']));
    const keys = await ctx.step('list the CA keys', () => cli<KeyList>(['key', 'list']), (k) => `${k.keys.length} keys, backend ${k.backend}`);
    if (keys.backend !== 'pkcs11' || !keys.keys.every((k) => k.present)) throw new Error(`the CA keys are not all in the token: ${JSON.stringify(keys.keys)}`);
    const cas = keys.keys.filter((k) => k.kind === 'root' || (k.kind === 'intermediate' && k.active));
    const backups: Backup[] = [];
    for (const k of cas) {
      backups.push(await ctx.step(`back up the ${k.kind} key to 3 of 5 custodian shares`, () => cli<Backup>([
        'key', 'backup', '--issuer', k.id, '--threshold', '3', '--shares', '5', ...CUSTODIANS.flatMap((c) => ['--custodian', c]), '--out-dir', join(sharesDir, k.kind),
      ]), (b) => b.backupId));
    }

    let node: ServeProcess = await ctx.step('start the node', () => startServe(ctx.env, { name: 'hsm', dataDir, env: hsm.env }), (n) => n.httpsUrl);
    let ends: NodeEndpoints = { httpUrl: node.httpUrl, httpsUrl: node.httpsUrl, token: init.adminToken };
    const ca = await caBundle(node.httpUrl);
    await ctx.step('issue through the primary token', async () => issueOnce(ends, ca, await newCsr('drill-hsm-before.rampart.invalid')), (c) => `serial ${c.serial}`);

    ctx.faultAt();
    await ctx.step('destroy the primary token (softhsm2-util --delete-token)', () => hsm.destroyToken('drill-primary'));
    await ctx.step('issuance fails without the token', async () => {
      const csr = await newCsr('drill-hsm-lost.rampart.invalid');
      const outcome = await issueOnce(ends, ca, csr, 15_000).then(() => 'issued', (e: Error) => e.message);
      if (outcome === 'issued') throw new Error('the node still issued after its token was destroyed');
      return outcome;
    }, (why) => why.slice(0, 160));
    await ctx.step('stop the node', () => node.stop());

    await ctx.step('initialize the spare token and point the node at it', async () => {
      await hsm.initToken('drill-spare');
      useToken('drill-spare');
    });
    for (const [i, b] of backups.entries()) {
      const picked = (i % 2 === 0 ? [0, 2, 4] : [1, 2, 3]).map((n) => b.custodians[n]!.location);
      await ctx.step(`restore the ${cas[i]!.kind} key into the spare from three shares (rampart key restore)`, () => cli<{ keyRef: string; backend: string }>([
        'key', 'restore', '--backup', b.backupFile, ...picked.flatMap((f) => ['--share-file', f]),
      ]), (r) => `${r.backend} ${r.keyRef}`);
    }
    node = await ctx.step('start the node on the spare token', () => startServe(ctx.env, { name: 'hsm-spare', dataDir, env: hsm.env }), (n) => n.httpsUrl);
    ends = { httpUrl: node.httpUrl, httpsUrl: node.httpsUrl, token: init.adminToken };
    if (await caBundle(node.httpUrl) !== ca) throw new Error('the CA certificates changed: the restored keys must serve the original hierarchy');
    await ctx.step('issue through the spare token', async () => issueOnce(ends, ca, await newCsr('drill-hsm-after.rampart.invalid')), (c) => `serial ${c.serial}`);
    ctx.recovered();
    // The restore checks each rebuilt key against its CA certificate before importing it: no key material is lost.
    ctx.dataLoss(0);
    await lifecycleCheck(ends, ctx.step.bind(ctx));
  },
};
