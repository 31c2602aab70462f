/**
 * Recovery drill for an SSH CA key (issue 21), with the real tools: node A
 * (software keys) makes an ECDSA P-256 SSH user CA and a 2-of-3 Shamir
 * backup of its key; a fresh node B, whose keys live in a SoftHSM2 token
 * (PKCS#11), restores the key from two of the shares (the CA is recorded on
 * B from the backup), issues a user certificate, and `ssh` logs in with it
 * to a real sshd that trusts only A's published CA public key.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call } from './helpers/api-client.js';
import { RAMPART_BIN, removeDir, tempDir } from './helpers/node-process.js';
import { pkcs11Env, prepareTestNode, type TestNode } from './helpers/running-node.js';
import { createSoftHsm, type SoftHsm, type SoftHsmToken } from './helpers/softhsm.js';
import { removePrivsepDirIfCreated, requireSshTools, sshKeygen, sshLogin, startSshd, type Sshd } from './helpers/sshd.js';

const PROFILE = { type: 'user', ca: 'ops', maxValiditySeconds: 3600, principals: { 'role:admin': ['alice'] } };

describe('SSH CA key drill: Shamir backup on node A, restore into a fresh PKCS#11 node B, issue, log in', () => {
  let hsm: SoftHsm;
  let token: SoftHsmToken;
  let dirA: string;
  let nodeB: TestNode;
  let sshd: Sshd | undefined;
  const rampart = (dataDir: string, args: string[], env: Record<string, string> = {}) =>
    execFileSync(process.execPath, [RAMPART_BIN, '--data-dir', dataDir, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

  before(() => {
    requireSshTools();
    hsm = createSoftHsm();
    token = hsm.initToken('ssh-drill');
    dirA = tempDir('rampart-sshdrill-a-');
  });

  after(async () => {
    await sshd?.stop();
    removePrivsepDirIfCreated();
    await nodeB?.close();
    removeDir(dirA);
    hsm?.cleanup();
  });

  it('the restored key signs certificates sshd accepts under the original CA', async () => {
    // Node A: the CA and its backup.
    rampart(dirA, ['init']);
    rampart(dirA, ['ssh', 'ca', 'create', 'ops', '--type', 'user', '--algorithm', 'ecdsa-p256']);
    const caPubA = rampart(dirA, ['ssh', 'ca', 'pub', 'ops']).trim();
    assert.match(caPubA, /^ecdsa-sha2-nistp256 AAAA/);
    const b = JSON.parse(rampart(dirA, ['--json', 'key', 'backup', '--ssh-ca', 'ops', '--threshold', '2', '--shares', '3',
      '--custodian', 'ana', '--custodian', 'ben', '--custodian', 'cy', '--out-dir', join(dirA, 'custody')]));
    assert.equal(b.issuerId, 'ssh:ops');
    assert.equal(b.algorithm, 'ecdsa-p256');

    // Node B: fresh, keys in a SoftHSM2 token; the key comes back from two shares.
    nodeB = await prepareTestNode({ prefix: 'rampart-sshdrill-b-', pkcs11: { hsm, tokens: [token] } });
    writeFileSync(join(nodeB.dataDir, 'rampart.yaml'), `publicBaseUrl: ${nodeB.httpUrl}\nssh:\n  profiles:\n    ops: ${JSON.stringify(PROFILE)}\n`);
    const envB = pkcs11Env(hsm, [token]);
    const adminToken = /Admin API token \(shown once, stored hashed\):\s+(\S+)/.exec(rampart(nodeB.dataDir, ['init'], envB))![1]!;
    assert.throws(() => rampart(nodeB.dataDir, ['key', 'restore', '--backup', b.backupFile, '--share-file', b.custodians[0].location], envB), /need 2 shares, have 1/);
    const r = JSON.parse(rampart(nodeB.dataDir, ['--json', 'key', 'restore', '--backup', b.backupFile,
      '--share-file', b.custodians[0].location, '--share-file', b.custodians[2].location], envB));
    assert.match(r.keyRef, /^pkcs11:/);
    assert.equal(r.backend, 'pkcs11');
    await nodeB.start();
    const pubB = await call(`${nodeB.httpUrl}/ssh/ops.pub`);
    assert.equal(String(pubB.body).split(' ').slice(0, 2).join(' '), caPubA.split(' ').slice(0, 2).join(' '), 'node B publishes the same CA key');

    // sshd trusts A's CA key only; B's certificate logs in.
    writeFileSync(nodeB.file('ops_ca.pub'), `${caPubA}\n`);
    writeFileSync(nodeB.file('principals_root'), 'alice\n');
    sshKeygen(nodeB.file('host_key'));
    writeFileSync(nodeB.file('known_hosts'), `[127.0.0.1]:* ${readFileSync(nodeB.file('host_key.pub'), 'utf8')}`);
    sshd = await startSshd({ dir: nodeB.dir, hostKey: nodeB.file('host_key'), extraConfig: [`TrustedUserCAKeys ${nodeB.file('ops_ca.pub')}`, `AuthorizedPrincipalsFile ${nodeB.file('principals_%u')}`] });
    writeFileSync(nodeB.file('known_hosts'), `[127.0.0.1]:${sshd.port} ${readFileSync(nodeB.file('host_key.pub'), 'utf8')}`);
    sshKeygen(nodeB.file('alice'));
    const issued = await call(`${nodeB.httpsUrl}/api/v1/ssh/certificates`, {
      method: 'POST', token: adminToken, ca: nodeB.ca,
      json: { publicKey: readFileSync(nodeB.file('alice.pub'), 'utf8'), type: 'user', profile: 'ops', principals: ['alice'], keyId: 'drill' },
    });
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    writeFileSync(nodeB.file('alice-cert.pub'), `${issued.body.certificate}\n`);
    assert.match(execFileSync('ssh-keygen', ['-L', '-f', nodeB.file('alice-cert.pub')], { encoding: 'utf8' }), /Signing CA: ECDSA/);
    const login = sshLogin({ port: sshd.port, user: 'root', key: nodeB.file('alice'), cert: nodeB.file('alice-cert.pub'), knownHosts: nodeB.file('known_hosts'), command: 'echo drill-ok' });
    assert.equal(login.status, 0, `${login.stderr}\n${sshd.output().slice(-1500)}`);
    assert.equal(login.stdout.trim(), 'drill-ok');
  });
});
