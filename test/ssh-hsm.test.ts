/**
 * SSH CAs with their keys in an HSM pool (issue 21), with the real tools: a
 * node whose keys.backend is PKCS#11 over two SoftHSM2 tokens (extractable
 * keys). An Ed25519 SSH user CA generated in the pool would live in one
 * token (SoftHSM2 2.6 wraps no Edwards key): plain `ssh ca create` refuses it
 * (a CLI error naming --backup and ecdsa-p256, nothing created), and the
 * creation ceremony (`--backup`) makes it in memory, writes its 2-of-3
 * Shamir shares first (sealed with the custodians' passphrases) and imports it into both tokens (C_CreateObject), each
 * proven by a test signature. An ECDSA P-256 host CA is generated in the
 * pool (CKM_EC_KEY_PAIR_GEN) and backed up out of the HSM (C_WrapKey,
 * verify-only restore). A second Ed25519 user CA is made on a software node,
 * backed up there and restored into both tokens. A real sshd on loopback
 * trusts what the node publishes: `ssh` logs in with certificates the HSM
 * signed, with both tokens and with either one pulled, and `ssh-keygen -L`
 * reads them. The ceremony's shares restore the CA into a fresh node with a
 * fresh token (fewer than 2 shares refused), whose certificates sshd accepts;
 * there, with a single token, an Ed25519 CA is still made, with a warning.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call } from './helpers/api-client.js';
import { RAMPART_BIN, removeDir, tempDir } from './helpers/node-process.js';
import { pkcs11Env, prepareTestNode, type TestNode } from './helpers/running-node.js';
import { createSoftHsm, type SoftHsm, type SoftHsmToken } from './helpers/softhsm.js';
import { removePrivsepDirIfCreated, requireSshTools, sshKeygen, sshLogin, startSshd, type Sshd } from './helpers/sshd.js';

const PROFILES = {
  user: { type: 'user', ca: 'users', maxValiditySeconds: 3600, principals: { 'role:admin': ['alice'] } },
  ops: { type: 'user', ca: 'ops', maxValiditySeconds: 3600, principals: { 'role:admin': ['alice'] } },
  host: { type: 'host', ca: 'hosts', maxValiditySeconds: 86400, principals: { 'role:admin': ['*'] } },
};
const POOL_ENV = { RAMPART_KEYS__PKCS11__EXTRACTABLE: 'true', RAMPART_KEYS__PKCS11__RETRY_SECONDS: '1', RAMPART_KEYS__PKCS11__SESSIONS_PER_TOKEN: '2' };
const CUSTODIANS = ['ana', 'ben', 'cy'].flatMap((c) => ['--custodian', c]);

describe('SSH CAs with keys in a PKCS#11 HSM pool (SoftHSM2), real sshd', () => {
  let hsm: SoftHsm;
  let a: SoftHsmToken;
  let b: SoftHsmToken;
  let swDir: string;
  let freshDir: string;
  let node: TestNode;
  let sshd: Sshd | undefined;
  let admin = '';
  let env: Record<string, string>;
  let ceremony: { backupFile: string; record: string; issuerId: string; custodians: Array<{ custodian: string; location: string; sealed: boolean }> };
  const rampart = (dataDir: string, args: string[], extra: Record<string, string> = {}) =>
    spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', dataDir, ...args], {
      encoding: 'utf8', timeout: 120_000, env: { ...process.env, RAMPART_LOG__LEVEL: 'warn', ...extra },
    });
  const ok = (dataDir: string, args: string[], extra: Record<string, string> = {}): string => {
    const r = rampart(dataDir, args, extra);
    assert.equal(r.status, 0, `rampart ${args.join(' ')}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const onNode = (args: string[]): string => ok(node.dataDir, args, env);
  const passFiles = (names: string[]): string[] => names.flatMap((c) => ['--passphrase-file', `${c}=${node.file(`${c}.pass`)}`]);
  const issue = (body: Record<string, unknown>) =>
    call(`${node.httpsUrl}/api/v1/ssh/certificates`, { method: 'POST', token: admin, ca: node.ca, json: body });
  const issueTo = async (body: Record<string, unknown>, file: string): Promise<void> => {
    const r = await issue(body);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    writeFileSync(file, `${r.body.certificate}\n`);
  };
  const keygenL = (file: string): string => execFileSync('ssh-keygen', ['-L', '-f', file], { encoding: 'utf8' });
  const fingerprint = (pubFile: string): string => execFileSync('ssh-keygen', ['-l', '-f', pubFile], { encoding: 'utf8' }).split(' ')[1]!;
  const keyBackend = async () => (await call(`${node.httpUrl}/readyz`)).body.checks.keyBackend as { status: string; detail: string };

  /** A host certificate from the pool, sshd (re)started with it, and a login with `user`'s certificate from CA `profile`. */
  const loginThroughPool = async (user: string, profile: 'user' | 'ops'): Promise<void> => {
    await issueTo({ publicKey: readFileSync(node.file('host_key.pub'), 'utf8'), type: 'host', profile: 'host', principals: ['127.0.0.1'] }, node.file('host_key-cert.pub'));
    assert.match(keygenL(node.file('host_key-cert.pub')), /host certificate[\s\S]*Signing CA: ECDSA/);
    sshKeygen(node.file(user));
    await issueTo({ publicKey: readFileSync(node.file(`${user}.pub`), 'utf8'), type: 'user', profile, principals: ['alice'], keyId: user }, node.file(`${user}-cert.pub`));
    const shown = keygenL(node.file(`${user}-cert.pub`));
    assert.match(shown, /ssh-ed25519-cert-v01@openssh.com user certificate/);
    assert.match(shown, new RegExp(`Signing CA: ED25519 ${fingerprint(node.file(`${profile === 'user' ? 'users' : 'ops'}_ca.pub`)).replace(/[+/]/g, '\\$&')} `));
    await sshd?.stop();
    sshd = await startSshd({
      dir: node.dir, hostKey: node.file('host_key'),
      extraConfig: [`HostCertificate ${node.file('host_key-cert.pub')}`, `TrustedUserCAKeys ${node.file('trusted_user_cas.pub')}`, `AuthorizedPrincipalsFile ${node.file('principals_%u')}`],
    });
    const login = sshLogin({ port: sshd.port, user: 'root', key: node.file(user), cert: node.file(`${user}-cert.pub`), knownHosts: node.file('known_hosts'), command: `echo ${user}-ok` });
    assert.equal(login.status, 0, `${login.stderr}\n${sshd.output().slice(-1500)}`);
    assert.equal(login.stdout.trim(), `${user}-ok`);
  };

  before(async () => {
    requireSshTools();
    hsm = createSoftHsm();
    a = hsm.initToken('ssh-pool-a');
    b = hsm.initToken('ssh-pool-b');
    swDir = tempDir('rampart-sshhsm-sw-');
    freshDir = tempDir('rampart-sshhsm-fresh-');
    node = await prepareTestNode({ prefix: 'rampart-sshhsm-', pkcs11: { hsm, tokens: [a, b] }, env: POOL_ENV });
    env = { ...pkcs11Env(hsm, [a, b]), ...POOL_ENV };
    writeFileSync(join(node.dataDir, 'rampart.yaml'), `publicBaseUrl: ${node.httpUrl}\nssh:\n  profiles: ${JSON.stringify(PROFILES)}\n`);
  });

  after(async () => {
    await sshd?.stop();
    removePrivsepDirIfCreated();
    await node?.close();
    if (swDir) removeDir(swDir);
    if (freshDir) removeDir(freshDir);
    hsm?.cleanup();
  });

  it('refuses an Ed25519 CA made in the pool, makes it in the creation ceremony, backs up the HSM-held P-256 key', () => {
    admin = /Admin API token \(shown once, stored hashed\):\s+(\S+)/.exec(onNode(['init']))![1]!;
    const refusedCa = rampart(node.dataDir, ['ssh', 'ca', 'create', 'users', '--type', 'user', '--algorithm', 'ed25519'], env);
    assert.notEqual(refusedCa.status, 0, refusedCa.stdout);
    assert.match(refusedCa.stderr, /would live in one token only .*CKR_KEY_NOT_WRAPPABLE/);
    assert.match(refusedCa.stderr, /--backup --threshold K --shares N --custodian/);
    assert.match(refusedCa.stderr, /--algorithm ecdsa-p256/);
    assert.deepEqual(JSON.parse(onNode(['--json', 'ssh', 'ca', 'list'])), [], 'nothing created');

    const tooFew = rampart(node.dataDir, ['ssh', 'ca', 'create', 'users', '--type', 'user', '--backup', '--threshold', '2', '--shares', '3', '--custodian', 'ana'], env);
    assert.notEqual(tooFew.status, 0);
    assert.match(tooFew.stderr, /name exactly 3 custodians/);
    assert.deepEqual(JSON.parse(onNode(['--json', 'ssh', 'ca', 'list'])), [], 'nothing created');

    for (const c of ['ana', 'ben', 'cy']) writeFileSync(node.file(`${c}.pass`), `${c} passphrase for the users CA\n`, { mode: 0o600 });
    const made = JSON.parse(onNode(['--json', 'ssh', 'ca', 'create', 'users', '--type', 'user', '--algorithm', 'ed25519',
      '--backup', '--threshold', '2', '--shares', '3', ...CUSTODIANS, '--out-dir', node.file('ceremony-users'), '--seal-with-passphrases', ...passFiles(['ana', 'ben', 'cy'])]));
    assert.equal(made.algorithm, 'ed25519');
    assert.match(made.keyRef, /^pkcs11:type=private;id=/);
    assert.deepEqual(made.provenIn, ['token "ssh-pool-a"', 'token "ssh-pool-b"'], 'a test signature from each token');
    ceremony = made.backup;
    assert.equal(ceremony.issuerId, 'ssh:users');
    assert.deepEqual(ceremony.custodians.map((c) => [c.custodian, c.sealed]), [['ana', true], ['ben', true], ['cy', true]]);
    const files = readdirSync(node.file('ceremony-users'));
    assert.equal(files.filter((f) => f.includes('.share-')).length, 3);
    const record = readFileSync(ceremony.record, 'utf8');
    assert.match(record, /SSH CA CREATION CEREMONY RECORD/);
    assert.ok(record.lastIndexOf('key.backup.share') < record.indexOf('ssh.ca.ceremony.import'), `shares are handed out before the key enters the tokens:\n${record}`);
    const artifact = readFileSync(ceremony.backupFile, 'utf8');
    assert.ok(!/PRIVATE KEY|"pkcs8"/.test(artifact), 'the backup file holds the key wrapped only');

    assert.match(onNode(['ssh', 'ca', 'create', 'hosts', '--type', 'host', '--algorithm', 'ecdsa-p256']), /SSH host CA hosts created \(ecdsa-p256, pkcs11 key pkcs11:type=private;id=/);
    const cas = JSON.parse(onNode(['--json', 'ssh', 'ca', 'list'])) as Array<{ name: string; algorithm: string; keyBackend: string }>;
    assert.deepEqual(cas.map((c) => [c.name, c.algorithm, c.keyBackend]).sort(), [['hosts', 'ecdsa-p256', 'pkcs11'], ['users', 'ed25519', 'pkcs11']]);

    const hostBackup = JSON.parse(onNode(['--json', 'key', 'backup', '--ssh-ca', 'hosts', '--threshold', '2', '--shares', '3', ...CUSTODIANS, '--out-dir', node.file('custody-hosts')]));
    assert.equal(hostBackup.issuerId, 'ssh:hosts');
    assert.equal(hostBackup.algorithm, 'ecdsa-p256');
    const drill = JSON.parse(onNode(['--json', 'key', 'restore', '--verify-only', '--backup', hostBackup.backupFile,
      '--share-file', hostBackup.custodians[0].location, '--share-file', hostBackup.custodians[2].location]));
    assert.equal(drill.verifyOnly, true, JSON.stringify(drill));

    // The token still wraps no Ed25519 key, also an imported one: its backup is the ceremony's.
    const refused = rampart(node.dataDir, ['key', 'backup', '--ssh-ca', 'users', '--threshold', '2', '--shares', '3', ...CUSTODIANS, '--out-dir', node.file('custody-users')], env);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /CKR_KEY_NOT_WRAPPABLE/);
    const left = existsSync(node.file('custody-users')) ? readdirSync(node.file('custody-users')) : [];
    assert.deepEqual(left.filter((f) => f.includes('.share-') || f.endsWith('.backup.json')), [], 'nothing handed out');
  });

  it('restores a software node\'s Ed25519 SSH CA key into both tokens from two Shamir shares', () => {
    ok(swDir, ['init']);
    ok(swDir, ['ssh', 'ca', 'create', 'ops', '--type', 'user', '--algorithm', 'ed25519']);
    writeFileSync(node.file('ops_ca_sw.pub'), ok(swDir, ['ssh', 'ca', 'pub', 'ops']));
    const backup = JSON.parse(ok(swDir, ['--json', 'key', 'backup', '--ssh-ca', 'ops', '--threshold', '2', '--shares', '3', ...CUSTODIANS, '--out-dir', join(swDir, 'custody')]));
    assert.equal(backup.algorithm, 'ed25519');
    const r = JSON.parse(onNode(['--json', 'key', 'restore', '--backup', backup.backupFile, '--share-file', backup.custodians[1].location, '--share-file', backup.custodians[2].location]));
    assert.equal(r.backend, 'pkcs11');
    assert.match(r.keyRef, /^pkcs11:type=private;id=/);
  });

  it('sshd accepts logins with HSM-signed certificates, and the pool signs on with either token pulled', async () => {
    await node.start();
    const fetchTo = async (url: string, file: string): Promise<string> => {
      const r = await call(`${node.httpUrl}${url}`);
      assert.equal(r.status, 200, url);
      writeFileSync(file, r.raw);
      return String(r.raw);
    };
    await fetchTo('/ssh/users.pub', node.file('users_ca.pub'));
    const opsPub = await fetchTo('/ssh/ops.pub', node.file('ops_ca.pub'));
    assert.equal(opsPub.split(' ').slice(0, 2).join(' '), readFileSync(node.file('ops_ca_sw.pub'), 'utf8').split(' ').slice(0, 2).join(' '), 'the restored CA key is the software node\'s');
    writeFileSync(node.file('trusted_user_cas.pub'), `${readFileSync(node.file('users_ca.pub'), 'utf8').trim()}\n${opsPub.trim()}\n`);
    await fetchTo('/ssh/hosts.known_hosts', node.file('known_hosts'));
    writeFileSync(node.file('principals_root'), 'alice\n');
    sshKeygen(node.file('host_key'));

    // Both tokens up: the Ed25519 CA of the ceremony signs, its key in both tokens.
    await loginThroughPool('alice-pool', 'user');
    const start = await keyBackend();
    assert.match(start.detail, /2 of 2 token\(s\) in use/);
    assert.match(start.detail, /each in every token/);

    for (const pulled of ['ssh-pool-a', 'ssh-pool-b']) {
      const putBack = hsm.removeToken(pulled);
      try {
        await loginThroughPool(`alice-users-without-${pulled}`, 'user');
        await loginThroughPool(`alice-ops-without-${pulled}`, 'ops');
        const k = await keyBackend();
        assert.equal(k.status, 'warn');
        assert.match(k.detail, new RegExp(`out of the pool: token "${pulled}"`));
      } finally {
        putBack();
      }
      for (let i = 0; i < 200 && !/2 of 2 token\(s\) in use/.test((await keyBackend()).detail); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match((await keyBackend()).detail, /2 of 2 token\(s\) in use/, `${pulled} back in the pool`);
    }
    await loginThroughPool('alice-after', 'user');
  });

  it('restores the ceremony\'s CA from 2 of its 3 shares into a fresh node with a fresh token; sshd accepts its certificates', () => {
    const fresh = hsm.initToken('ssh-fresh');
    const freshEnv = { ...pkcs11Env(hsm, [fresh]), ...POOL_ENV };
    ok(freshDir, ['init'], freshEnv);
    writeFileSync(join(freshDir, 'rampart.yaml'), `ssh:\n  profiles: ${JSON.stringify({ user: PROFILES.user })}\n`);
    const one = rampart(freshDir, ['key', 'restore', '--backup', ceremony.backupFile, '--share-file', ceremony.custodians[0]!.location, ...passFiles(['ana']), '--record', '-'], freshEnv);
    assert.notEqual(one.status, 0, 'one share of a 2-of-3 backup restores nothing');
    assert.match(`${one.stderr}${one.stdout}`, /need 2 shares, have 1/);
    assert.deepEqual(JSON.parse(ok(freshDir, ['--json', 'ssh', 'ca', 'list'], freshEnv)), []);

    const r = JSON.parse(ok(freshDir, ['--json', 'key', 'restore', '--backup', ceremony.backupFile,
      '--share-file', ceremony.custodians[0]!.location, '--share-file', ceremony.custodians[2]!.location, ...passFiles(['ana', 'cy']), '--record', '-'], freshEnv));
    assert.equal(r.backend, 'pkcs11');
    assert.equal(ok(freshDir, ['ssh', 'ca', 'pub', 'users'], freshEnv).split(' ').slice(0, 2).join(' '),
      readFileSync(node.file('users_ca.pub'), 'utf8').split(' ').slice(0, 2).join(' '), 'the same CA public key');
    sshKeygen(node.file('alice-fresh'));
    ok(freshDir, ['ssh', 'issue', '--public-key', node.file('alice-fresh.pub'), '--profile', 'user', '--principal', 'alice', '--key-id', 'alice-fresh',
      '--out', node.file('alice-fresh-cert.pub')], freshEnv);
    assert.match(keygenL(node.file('alice-fresh-cert.pub')), new RegExp(`Signing CA: ED25519 ${fingerprint(node.file('users_ca.pub')).replace(/[+/]/g, '\\$&')} `));
    const login = sshLogin({ port: sshd!.port, user: 'root', key: node.file('alice-fresh'), cert: node.file('alice-fresh-cert.pub'), knownHosts: node.file('known_hosts'), command: 'echo fresh-ok' });
    assert.equal(login.status, 0, `${login.stderr}\n${sshd!.output().slice(-1500)}`);
    assert.equal(login.stdout.trim(), 'fresh-ok');

    // A single token that cannot wrap Ed25519: today's behaviour, with the warning.
    const single = rampart(freshDir, ['ssh', 'ca', 'create', 'solo', '--type', 'user', '--algorithm', 'ed25519'], freshEnv);
    assert.equal(single.status, 0, single.stderr);
    assert.match(single.stdout, /SSH user CA solo created \(ed25519, pkcs11 key/);
    assert.match(single.stderr, /WARNING: the ed25519 key of SSH CA solo cannot leave its token \(token "ssh-fresh" cannot wrap ed25519 keys \(CKR_KEY_NOT_WRAPPABLE\)\): it cannot be backed up/);
  });
});
