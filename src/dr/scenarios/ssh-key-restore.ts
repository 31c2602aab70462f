/**
 * ssh-key-restore: an isolated node A makes an SSH user CA (Ed25519, in its
 * key backend) and backs its key up to 3-of-5 custodian shares; a fresh
 * node B that has never seen the CA restores the key from three shares
 * (the CA is recorded on B from the backup), publishes the same CA public
 * key, issues a user certificate over REST, and `ssh` logs in with it to a
 * private sshd that trusts only A's published CA key. Recovery time: from
 * the loss (node A given up) to the first login with a certificate from B.
 *
 * On a node whose keys are in PKCS#11 (keys.backend pkcs11), B keeps its
 * keys like it: in an HSM pool of two tokens of a private SoftHSM2 (the
 * stand-in HSM, src/dr/isolated-softhsm.ts). The restore imports the
 * Ed25519 key into both tokens; once B runs, one token is destroyed, and the
 * certificate must still be signed (by the other) and accepted.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpCall } from '../../core/http-client.js';
import { caBundle } from '../lifecycle-check.js';
import { DRILL_LOGIN_OUTPUT, sshKeyPair, sshLoginOnce, startIsolatedSshd } from '../isolated-sshd.js';
import { isolatedSoftHsm } from '../isolated-softhsm.js';
import { rampartJson, runRampart, startServe } from '../rampart-process.js';
import type { DrillScenario } from '../drill-scenario.js';

const CA = 'drill-users';
const PRINCIPAL = 'rampart-drill';
const POOL = ['drill-ssh-pool-a', 'drill-ssh-pool-b'];
const CUSTODIANS = ['drill-custodian-1', 'drill-custodian-2', 'drill-custodian-3', 'drill-custodian-4', 'drill-custodian-5'];

interface Backup { backupId: string; backupFile: string; custodians: Array<{ location: string }> }

export const sshKeyRestore: DrillScenario = {
  name: 'ssh-key-restore',
  summary: 'an SSH user CA key backed up to 3-of-5 shares on one node, restored into a fresh node from 3 shares; a certificate it issues logs in to sshd',
  async run(ctx) {
    const dirA = ctx.env.dir('node-a');
    const dirB = ctx.env.dir('node-b');
    const hsm = ctx.config.keys.backend === 'pkcs11' ? isolatedSoftHsm(ctx.env, 'ssh-key-restore') : null;
    const envB = hsm?.env ?? {};
    const cli = async (dir: string, args: string[]) => {
      const r = await runRampart(ctx.env, dir, args, { env: dir === dirB ? envB : {} });
      if (r.code !== 0) throw new Error(`rampart ${args.join(' ')} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().slice(-600)}`);
      return r.stdout;
    };
    await ctx.step('create node A (rampart init)', () => cli(dirA, ['init']));
    await ctx.step(`create the SSH user CA "${CA}" on A (Ed25519)`, () => cli(dirA, ['ssh', 'ca', 'create', CA, '--type', 'user', '--algorithm', 'ed25519']));
    const caPub = (await ctx.step('read the CA public key A publishes', () => cli(dirA, ['ssh', 'ca', 'pub', CA]), (p) => p.trim().split(' ').slice(0, 1).join(''))).trim();
    const backup = await ctx.step('back up the SSH CA key to 3 of 5 custodian shares (rampart key backup --ssh-ca)', () => rampartJson<Backup>(ctx.env, dirA, [
      'key', 'backup', '--ssh-ca', CA, '--threshold', '3', '--shares', '5', ...CUSTODIANS.flatMap((c) => ['--custodian', c]), '--out-dir', join(ctx.env.workDir, 'shares'),
    ]), (b) => b.backupId);

    ctx.faultAt(); // node A is given up: from here on only the backup file and the custodians' shares are used.
    const keysB = hsm ? ['keys:', '  backend: pkcs11', '  pkcs11:', `    module: ${hsm.module}`, `    tokens: ${JSON.stringify(POOL.map((t) => `pkcs11:token=${t}`))}`, '    extractable: true', '    retrySeconds: 1'] : [];
    if (hsm) {
      await ctx.step(`initialize B's HSM pool (tokens ${POOL.join(', ')} of a private SoftHSM2)`, async () => { for (const t of POOL) await hsm.initToken(t); });
      writeFileSync(join(dirB, 'rampart.yaml'), [...keysB, ''].join('\n'));
    }
    const init = await ctx.step('create a fresh node B', () => rampartJson<{ adminToken: string }>(ctx.env, dirB, ['init'], { env: envB }));
    writeFileSync(join(dirB, 'rampart.yaml'), [...keysB,
      'ssh:', '  profiles:', '    drill:', '      type: user', `      ca: ${CA}`, '      maxValiditySeconds: 600',
      `      principals: { "role:admin": ["${PRINCIPAL}"] }`, '      criticalOptions: [force-command]', '',
    ].join('\n'));
    const picked = [1, 3, 4].map((i) => backup.custodians[i]!.location);
    await ctx.step('restore the SSH CA key on B from shares 2, 4 and 5 (rampart key restore)', () => rampartJson<{ keyRef: string; backend: string }>(ctx.env, dirB, [
      'key', 'restore', '--backup', backup.backupFile, ...picked.flatMap((f) => ['--share-file', f]),
    ], { env: envB }), (r) => `${r.backend} ${r.keyRef}`);
    const node = await ctx.step('start node B', () => startServe(ctx.env, { name: 'b', dataDir: dirB, env: envB }), (n) => n.httpsUrl);
    if (hsm) await ctx.step(`destroy pool token ${POOL[0]} under the running node B (softhsm2-util --delete-token)`, () => hsm.destroyToken(POOL[0]!));
    await ctx.step('B publishes the same CA public key', async () => {
      const r = await httpCall<string>(`${node.httpUrl}/ssh/${CA}.pub`);
      const same = (k: string) => k.trim().split(' ').slice(0, 2).join(' ');
      if (r.status !== 200 || same(String(r.body)) !== same(caPub)) throw new Error(`GET /ssh/${CA}.pub: HTTP ${r.status} ${String(r.body).slice(0, 120)}`);
    });
    const sshd = await ctx.step('start a private sshd trusting only A\'s CA key', () => startIsolatedSshd(ctx.env, { userCaKey: caPub, principal: PRINCIPAL }), (s) => `127.0.0.1:${s.port}`);
    const userKey = join(ctx.env.workDir, 'user_key');
    await sshKeyPair(userKey);
    const ca = await caBundle(node.httpUrl);
    const cert = await ctx.step('issue a user certificate on B (REST)', async () => {
      const r = await httpCall<{ certificate: string; serial: string; detail?: string }>(`${node.httpsUrl}/api/v1/ssh/certificates`, {
        token: init.adminToken, ca, json: {
          publicKey: readFileSync(`${userKey}.pub`, 'utf8'), type: 'user', profile: 'drill', principals: [PRINCIPAL], keyId: 'rampart-drill',
          validitySeconds: 300, criticalOptions: { 'force-command': `echo ${DRILL_LOGIN_OUTPUT}` },
        },
      });
      if (r.status !== 201) throw new Error(`SSH issuance: HTTP ${r.status} ${r.body?.detail ?? ''}`);
      writeFileSync(`${userKey}-cert.pub`, `${r.body.certificate}\n`);
      return r.body;
    }, (c) => `serial ${c.serial}`);
    await ctx.step('log in with it (ssh)', () => sshLoginOnce(sshd, { user: 'root', key: userKey, cert: `${userKey}-cert.pub` }));
    ctx.recovered();
    // The restore proves the rebuilt key against the CA's public key before importing it: nothing is lost.
    ctx.dataLoss(0);
    ctx.note(`certificate ${cert.serial} signed by the restored key${hsm ? ` (in token ${POOL[1]}, after ${POOL[0]} was destroyed)` : ''} was accepted by sshd`);
  },
};
