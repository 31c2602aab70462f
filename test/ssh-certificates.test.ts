/**
 * SSH certificates end to end (issue 21) against the real OpenSSH tools: a
 * Rampart node (child process) with an Ed25519 user CA and an ECDSA P-256
 * host CA; a real sshd on a loopback port trusting what the node publishes
 * (TrustedUserCAKeys from /ssh/users.pub, RevokedKeys from /ssh/users.krl,
 * a host certificate from the REST API); `ssh` logging in with Rampart user
 * certificates and checking the host by an @cert-authority known_hosts line.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call } from './helpers/api-client.js';
import { RAMPART_BIN } from './helpers/node-process.js';
import { prepareTestNode, type TestNode } from './helpers/running-node.js';
import { removePrivsepDirIfCreated, requireSshTools, sshKeygen, sshLogin, startSshd, type Sshd } from './helpers/sshd.js';

const USER_PROFILE = {
  type: 'user', ca: 'users', maxValiditySeconds: 3600, defaultValiditySeconds: 600,
  principals: { 'role:admin': ['alice', 'bob'] }, criticalOptions: ['force-command', 'source-address'],
  extensions: ['permit-pty', 'permit-agent-forwarding', 'permit-port-forwarding', 'permit-X11-forwarding', 'permit-user-rc'],
};
const HOST_PROFILE = { type: 'host', ca: 'hosts', maxValiditySeconds: 86400, principals: { 'role:admin': ['*'] } };

describe('SSH certificates with the real sshd, ssh and ssh-keygen', () => {
  let node: TestNode;
  let sshd: Sshd;
  let token: string;
  const api = (path: string, json?: unknown) => call(`${node.httpsUrl}${path}`, { method: json === undefined ? 'GET' : 'POST', token, json, ca: node.ca });
  const cli = (...args: string[]) => execFileSync(process.execPath, [RAMPART_BIN, '--data-dir', node.dataDir, ...args], { encoding: 'utf8' });
  const fetchTo = async (url: string, file: string) => {
    const r = await call(`${node.httpUrl}${url}`);
    assert.equal(r.status, 200, `GET ${url}`);
    writeFileSync(file, r.raw);
  };
  const issue = async (body: Record<string, unknown>, certFile: string) => {
    const r = await api('/api/v1/ssh/certificates', body);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    writeFileSync(certFile, `${r.body.certificate}\n`);
    return r.body as { serial: string; keyId: string };
  };
  const login = (key: string, command = 'echo rampart-ssh-ok') => sshLogin({ port: sshd.port, user: 'root', key, cert: `${key}-cert.pub`, knownHosts: node.file('known_hosts'), command });
  const listCount = async () => (await api('/api/v1/ssh/certificates?limit=500')).body.items.length as number;

  before(async () => {
    requireSshTools();
    node = await prepareTestNode({ prefix: 'rampart-ssh-', publicBaseUrl: true });
    writeFileSync(join(node.dataDir, 'rampart.yaml'), `publicBaseUrl: ${node.httpUrl}\n${JSON.stringify({ ssh: { profiles: { user: USER_PROFILE, host: HOST_PROFILE } } })
      .replace(/^\{|\}$/g, '').replace(/^"ssh":/, 'ssh: ')}\n`);
    await node.start();
    token = node.adminToken!;
    assert.match(cli('ssh', 'ca', 'create', 'users', '--type', 'user', '--algorithm', 'ed25519'), /SSH user CA users created \(ed25519/);
    assert.match(cli('ssh', 'ca', 'create', 'hosts', '--type', 'host', '--algorithm', 'ecdsa-p256'), /SSH host CA hosts created \(ecdsa-p256/);

    // What sshd and ssh trust comes from what the node publishes.
    await fetchTo('/ssh/users.pub', node.file('user_ca.pub'));
    await fetchTo('/ssh/users.krl', node.file('revoked.krl'));
    await fetchTo('/ssh/hosts.known_hosts', node.file('known_hosts'));
    assert.match(readFileSync(node.file('known_hosts'), 'utf8'), /^@cert-authority \* ecdsa-sha2-nistp256 AAAA/);
    sshKeygen(node.file('host_key'), 'ed25519');
    await issue({ publicKey: readFileSync(node.file('host_key.pub'), 'utf8'), type: 'host', profile: 'host', principals: ['127.0.0.1', 'localhost'], keyId: 'test-host' }, node.file('host_key-cert.pub'));
    writeFileSync(node.file('principals_root'), 'alice\n');
    sshd = await startSshd({
      dir: node.dir, hostKey: node.file('host_key'),
      extraConfig: [
        `HostCertificate ${node.file('host_key-cert.pub')}`, `TrustedUserCAKeys ${node.file('user_ca.pub')}`,
        `RevokedKeys ${node.file('revoked.krl')}`, `AuthorizedPrincipalsFile ${node.file('principals_%u')}`,
      ],
    });
  });

  after(async () => {
    await sshd?.stop();
    removePrivsepDirIfCreated();
    await node?.close();
  });

  it('a user certificate logs in and runs a command; the host certificate is accepted through @cert-authority; revocation and the KRL refuse it', async () => {
    sshKeygen(node.file('alice'), 'ed25519');
    const c = await issue({
      publicKey: readFileSync(node.file('alice.pub'), 'utf8'), type: 'user', profile: 'user', principals: ['alice'], keyId: 'alice@laptop',
      validitySeconds: 1800, criticalOptions: { 'source-address': '127.0.0.1/32' }, extensions: ['permit-pty'],
    }, node.file('alice-cert.pub'));
    const shown = execFileSync('ssh-keygen', ['-L', '-f', node.file('alice-cert.pub')], { encoding: 'utf8' });
    assert.match(shown, /ssh-ed25519-cert-v01@openssh.com user certificate/);
    assert.match(shown, new RegExp(`Serial: ${c.serial}\\b`));
    assert.match(shown, /Key ID: "alice@laptop"/);
    assert.match(shown, /source-address 127\.0\.0\.1\/32/);
    const hostShown = execFileSync('ssh-keygen', ['-L', '-f', node.file('host_key-cert.pub')], { encoding: 'utf8' });
    assert.match(hostShown, /host certificate/);
    assert.match(hostShown, /Signing CA: ECDSA/);

    const ok = login(node.file('alice'));
    assert.equal(ok.status, 0, `login: ${ok.stderr}\n${sshd.output().slice(-2000)}`);
    assert.equal(ok.stdout.trim(), 'rampart-ssh-ok');

    // The inventory lists it with key ID and serial.
    const listed = (await api('/api/v1/ssh/certificates?search=alice%40laptop')).body.items;
    assert.deepEqual(listed.map((x: { serial: string; keyId: string }) => [x.serial, x.keyId]), [[c.serial, 'alice@laptop']]);

    // A second certificate for the same key with force-command: the forced command runs instead.
    sshKeygen(node.file('forced'), 'ecdsa');
    const f = await issue({ publicKey: readFileSync(node.file('forced.pub'), 'utf8'), type: 'user', profile: 'user', principals: ['alice'], criticalOptions: { 'force-command': 'echo forced-command-ran' } }, node.file('forced-cert.pub'));
    const forced = login(node.file('forced'), 'echo not-this');
    assert.equal(forced.status, 0, forced.stderr);
    assert.equal(forced.stdout.trim(), 'forced-command-ran');

    const revoked = await api(`/api/v1/ssh/certificates/${c.serial}/revoke`, {});
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    assert.equal(revoked.body.status, 'revoked');
    await fetchTo('/ssh/users.krl', node.file('revoked.krl'));
    const q = spawnSync('ssh-keygen', ['-Q', '-f', node.file('revoked.krl'), node.file('alice-cert.pub')], { encoding: 'utf8' });
    assert.equal(q.status, 1, q.stdout + q.stderr);
    assert.match(q.stdout, /REVOKED/);
    const other = spawnSync('ssh-keygen', ['-Q', '-f', node.file('revoked.krl'), node.file('forced-cert.pub')], { encoding: 'utf8' });
    assert.equal(other.status, 0, `the other certificate is not revoked: ${other.stdout}${other.stderr}`);
    const refused = login(node.file('alice'));
    assert.equal(refused.status, 255, `a revoked certificate must be refused: ${refused.stdout}`);
    // sshd's log line may arrive just after the client has given up.
    for (let i = 0; i < 50 && !/revoked/i.test(sshd.output()); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(sshd.output(), /is revoked|revoked by file/i);
    assert.equal(login(node.file('forced'), 'true').status, 0, 'the unrevoked certificate still logs in');
    const again = await api(`/api/v1/ssh/certificates/${c.serial}/revoke`, {});
    assert.equal(again.status, 409);
    void f;
  });

  it('an expired certificate and a certificate for a principal the server does not map are refused', async () => {
    sshKeygen(node.file('bob'), 'ed25519');
    await issue({ publicKey: readFileSync(node.file('bob.pub'), 'utf8'), type: 'user', profile: 'user', principals: ['bob'] }, node.file('bob-cert.pub'));
    assert.match(execFileSync('ssh-keygen', ['-L', '-f', node.file('bob-cert.pub')], { encoding: 'utf8' }), /Principals: \n\s+bob\n/);
    const wrong = login(node.file('bob'));
    assert.equal(wrong.status, 255, `principal bob is not in principals_root: ${wrong.stdout}`);

    sshKeygen(node.file('old'), 'ed25519');
    // The shortest lifetime (60 s) starting one minute back (the back-dating of every certificate) has ended when it is issued.
    await issue({ publicKey: readFileSync(node.file('old.pub'), 'utf8'), type: 'user', profile: 'user', principals: ['alice'], validitySeconds: 60 }, node.file('old-cert.pub'));
    const shown = execFileSync('ssh-keygen', ['-L', '-f', node.file('old-cert.pub')], { encoding: 'utf8' });
    const m = /Valid: from (\S+) to (\S+)/.exec(shown)!;
    assert.ok(new Date(`${m[2]}Z`).getTime() <= Date.now(), `expired: ${m[0]}`);
    const expired = login(node.file('old'));
    assert.equal(expired.status, 255, `an expired certificate must be refused: ${expired.stdout}`);
  });

  it('bad input to POST /api/v1/ssh/certificates: 4xx with a problem document, nothing stored', async () => {
    const pub = readFileSync(node.file('alice.pub'), 'utf8');
    const before = await listCount();
    const good = { publicKey: pub, type: 'user', profile: 'user', principals: ['alice'] };
    const cases: Array<[string, Record<string, unknown>, number, RegExp]> = [
      ['bad public key', { ...good, publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBAD' }, 400, /publicKey/],
      ['not a key at all', { ...good, publicKey: 'hello' }, 400, /publicKey/],
      ['unknown type', { ...good, type: 'machine' }, 400, /type/],
      ['type not the profile\'s', { ...good, type: 'host' }, 400, /issues user certificates/],
      ['disallowed principal', { ...good, principals: ['root'] }, 403, /may not ask for principal root/],
      ['validity over the maximum', { ...good, validitySeconds: 7200 }, 403, /exceeds the maximum/],
      ['unknown critical option', { ...good, criticalOptions: { 'no-such-option': 'x' } }, 400, /criticalOptions|additional/],
      ['unknown extension', { ...good, extensions: ['permit-everything'] }, 400, /extensions/],
      ['bad source-address', { ...good, criticalOptions: { 'source-address': 'everywhere' } }, 400, /source-address/],
      ['unknown profile', { ...good, profile: 'nope' }, 400, /unknown SSH profile/],
      ['no principals', { ...good, principals: [] }, 400, /principals/],
      ['extra field', { ...good, admin: true }, 400, /admin|additional/],
    ];
    for (const [what, body, status, detail] of cases) {
      const r = await api('/api/v1/ssh/certificates', body);
      assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
      assert.match(String(r.body.detail), detail, what);
    }
    assert.equal((await api('/api/v1/ssh/certificates/12x')).status, 400);
    assert.equal((await api('/api/v1/ssh/certificates/123')).status, 404);
    assert.equal((await call(`${node.httpUrl}/ssh/nope.krl`)).status, 404);
    assert.equal((await call(`${node.httpUrl}/ssh/users.known_hosts`)).status, 404, 'a user CA has no known_hosts line');
    assert.equal(await listCount(), before, 'nothing stored');
    const audit = (await api('/api/v1/audit?limit=50')).body;
    const entries = (audit.items ?? audit.entries ?? audit) as Array<{ action: string; outcome: string }>;
    assert.ok(entries.some((e) => e.action === 'ssh.certificate.issue' && e.outcome === 'denied'), 'refusals are audited');
    assert.ok(entries.some((e) => e.action === 'ssh.certificate.revoke' && e.outcome === 'success'));
  });
});
