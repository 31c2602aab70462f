/**
 * Backup and restore end to end on SQLite: a real node issues and revokes
 * certificates and publishes CRLs; `rampart backup create` (while it runs);
 * the node is stopped and its data directory wiped; `rampart restore` into a
 * fresh directory; a node started on it serves the same chain, OCSP says
 * revoked for every revoked certificate, a fresh CRL lists them with a higher
 * number, the audit chain verifies and new issuance works. Tampered,
 * truncated and wrongly keyed backups fail clearly and leave the target
 * directory untouched.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call, type ApiResponse } from './helpers/api-client.js';
import { BackupService } from '../src/backup/backup-service.js';
import { DirectoryTarget } from '../src/backup/directory-target.js';
import { restoreSqlite } from '../src/backup/restore.js';
import { loadConfig } from '../src/config/load.js';
import { RAMPART_BIN, removeDir, startNode, tempDir, type NodeProcess } from './helpers/node-process.js';
import { makeCsr, mustOpenssl } from './helpers/openssl.js';
import { waitUntil } from '../src/core/wait.js';

const dir = tempDir('rampart-backup-');
const offsite = join(dir, 'offsite');
const cfgFile = join(dir, 'rampart.yaml');
const ENV = { RAMPART_KEY_PASSPHRASE: 'node-key-passphrase-0123', RAMPART_BACKUP_PASSPHRASE: 'backup-passphrase-0123', RAMPART_CONFIG: cfgFile };

function rampart(dataDir: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', dataDir, ...args], { encoding: 'utf8', env: { ...process.env, ...ENV, ...env }, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
function json(dataDir: string, args: string[], env: Record<string, string> = {}) {
  const r = rampart(dataDir, ['--json', ...args], env);
  assert.equal(r.code, 0, `rampart ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout);
}
const crlNumber = (text: string): number => Number(/X509v3 CRL Number:\s*\n\s*(\d+)/.exec(text)![1]);

describe('backup and restore (SQLite)', () => {
  let nodeA: NodeProcess | undefined;
  let nodeB: NodeProcess | undefined;
  let token = '';
  let intId = '';
  const serials: string[] = [];
  const revoked: string[] = [];
  let crlBefore = 0;
  let backupId = '';
  let sshCa = { publicKey: '', fingerprint: '' };
  const dataB = join(dir, 'restored');

  before(() => {
    writeFileSync(cfgFile, `backup:\n  targets:\n    - { type: directory, name: offsite, path: ${offsite} }\n`
      + 'ssh:\n  profiles:\n    ops: { type: user, ca: ops, principals: { "role:admin": [alice] } }\n');
  });
  after(async () => {
    await nodeA?.stop();
    await nodeB?.stop();
    removeDir(dir);
  });

  it('a running node issues, revokes and publishes CRLs; backup create writes an encrypted backup', async () => {
    nodeA = await startNode({ dataDir: join(dir, 'original'), env: ENV });
    token = nodeA.adminToken!;
    const ca = String((await call(`${nodeA.httpUrl}/ca/bundle.pem`)).body);
    const issuers = (await call(`${nodeA.httpsUrl}/api/v1/issuers`, { token, ca })).body.items as Array<{ id: string; kind: string; active: boolean; certificatePem: string }>;
    const int = issuers.find((i) => i.kind === 'intermediate' && i.active)!;
    intId = int.id;
    writeFileSync(`${dir}/int.pem`, int.certificatePem);
    writeFileSync(`${dir}/root.pem`, issuers.find((i) => i.kind === 'root')!.certificatePem);
    for (let i = 0; i < 4; i++) {
      const { csrPath } = makeCsr(dir, `leaf${i}`, { subj: `/CN=b${i}.example.test`, san: `DNS:b${i}.example.test` });
      const r: ApiResponse = await call(`${nodeA.httpsUrl}/api/v1/certificates`, { token, ca, json: { csr: readFileSync(csrPath, 'utf8'), profile: 'server' } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      serials.push(r.body.serial);
      writeFileSync(`${dir}/leaf${i}.pem`, r.body.certificatePem);
    }
    for (const s of serials.slice(0, 2)) {
      const r: ApiResponse = await call(`${nodeA.httpsUrl}/api/v1/certificates/${s}/revoke`, { token, ca, json: { reason: 'keyCompromise' } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      revoked.push(s);
    }
    // The revocations published CRLs: the complete CRL is rebuilt after the reply (at once, or within
    // 5 s of the previous rebuild), so it is waited for, boundedly.
    crlBefore = await waitUntil('the complete CRL to be rebuilt after the revocations', async () => {
      const published = String((await call(`${nodeA!.httpUrl}/crl/${intId}.pem`)).body);
      const n = crlNumber(mustOpenssl(['crl', '-noout', '-text'], published));
      return n >= 2 ? n : null;
    }, 15_000, 200);
    assert.ok(crlBefore >= 2, `CRL number ${crlBefore}`);
    // An SSH user CA (issue 21): its record and sealed key go into the backup like the X.509 CA keys.
    sshCa = json(nodeA.dataDir, ['ssh', 'ca', 'create', 'ops', '--type', 'user']);
    assert.match(sshCa.publicKey, /^ssh-ed25519 AAAA/);

    const t0 = performance.now();
    const b = json(nodeA.dataDir, ['backup', 'create']);
    const ms = Math.round(performance.now() - t0);
    assert.equal(b.ok, true);
    assert.deepEqual(b.targets, [{ target: 'offsite', ok: true }]);
    assert.equal(b.counts.certificates >= 4, true);
    assert.equal(b.counts.revoked, 2);
    assert.ok(BigInt(b.crlNumbers[intId]) >= BigInt(crlBefore));
    backupId = b.id;
    console.log(`# backup create (CLI, incl. process start) ${ms} ms, backup ${b.durationMs} ms, ${b.sizeBytes} bytes`);
    // Objects are encrypted at rest with mode 0600: no PEM or SQLite header in the clear.
    const files = readdirSync(join(offsite, 'backups', backupId), { recursive: true }).map(String).filter((f) => statSync(join(offsite, 'backups', backupId, f)).isFile());
    assert.ok(files.includes('manifest') && files.includes('database.sqlite') && files.includes('keys.json'), files.join(','));
    for (const f of files) {
      const p = join(offsite, 'backups', backupId, f);
      assert.equal(statSync(p).mode & 0o777, 0o600);
      const data = readFileSync(p);
      assert.equal(data.subarray(0, 4).toString(), 'RBK1');
      assert.ok(!data.includes('SQLite format') && !data.includes('BEGIN CERTIFICATE'));
    }
    const list = json(nodeA.dataDir, ['backup', 'list']);
    assert.equal(list.backups.at(-1).id, backupId);
    assert.deepEqual(list.backups.at(-1).targets, ['offsite']);
    const v = json(nodeA.dataDir, ['backup', 'verify']);
    assert.equal(v.ok, true);
    const h = await call(`${nodeA.httpUrl}/readyz`);
    assert.equal(h.body.checks.backup.status, 'pass', JSON.stringify(h.body.checks.backup));
  });

  it('backup verify names a tampered object; restore refuses tampered, truncated and wrongly keyed backups and changes nothing', async () => {
    const bad = (name: string, damage: (root: string) => void): string => {
      const root = join(dir, name);
      cpSync(offsite, root, { recursive: true });
      damage(join(root, 'backups', backupId));
      return root;
    };
    const flipped = bad('flipped', (b) => {
      const f = join(b, 'database.sqlite');
      const d = readFileSync(f);
      d[d.length >> 1] ^= 0x01;
      writeFileSync(f, d);
    });
    const truncated = bad('truncated', (b) => truncateSync(join(b, 'audit.jsonl'), 100));
    const cfg2 = join(dir, 'flipped.yaml');
    writeFileSync(cfg2, `backup:\n  targets:\n    - { type: directory, name: flipped, path: ${flipped} }\n`);
    const v = rampart(nodeA!.dataDir, ['backup', 'verify', backupId], { RAMPART_CONFIG: cfg2 });
    assert.equal(v.code, 3, v.stderr + v.stdout);
    assert.match(v.stdout, /FAILED: cannot decrypt backups\/.+\/database\.sqlite: the object is truncated or altered/);

    // Through the CLI once, then the library (the same code path) to keep the test fast.
    const cli = rampart(join(dir, 'restore-cli'), ['restore', '--from-dir', flipped]);
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /database\.sqlite: the object is truncated or altered/);
    assert.equal(existsSync(join(dir, 'restore-cli')), false);

    const config = loadConfig({ env: {}, overrides: { dataDir: join(dir, 'unused') } });
    const clock = { now: () => new Date() };
    const actor = { id: 'test', role: 'admin', source: 'local', channel: 'cli' as const };
    const attempt = async (label: string, from: string, secret: string, re: RegExp, opts: { id?: string; into?: string } = {}) => {
      const into = opts.into ?? join(dir, `restore-${label.replace(/ /g, '-')}`);
      const before = existsSync(into) ? readdirSync(into).sort() : null;
      const backups = new BackupService({ config, targets: [new DirectoryTarget('t', from)], secret: Buffer.from(secret), nodeId: 'r', version: '0', clock, dataDir: into, keysDir: null });
      await assert.rejects(restoreSqlite({ backups, id: opts.id, dataDir: into, dbPath: join(into, 'rampart.db'), clock, actor }), re, label);
      assert.deepEqual(existsSync(into) ? readdirSync(into).sort() : null, before, `${label}: ${into} must be unchanged`);
      assert.deepEqual(readdirSync(dir).filter((n) => n.includes('.restore-')), [], `${label}: no temporary directory left`);
    };
    const pass = ENV.RAMPART_BACKUP_PASSPHRASE;
    await attempt('tampered', flipped, pass, /database\.sqlite: the object is truncated or altered/);
    await attempt('truncated', truncated, pass, /audit\.jsonl: .*truncated/);
    await attempt('wrong passphrase', offsite, 'not-the-right-passphrase', /wrong backup passphrase or key/);
    await attempt('unknown id', offsite, pass, /not found/, { id: '20000101T000000000Z-abcdef' });
    const nonEmpty = join(dir, 'non-empty');
    mkdirSync(nonEmpty);
    writeFileSync(join(nonEmpty, 'something'), 'x');
    await attempt('non-empty', offsite, pass, /not empty/, { into: nonEmpty });
  });

  it('after the data directory is lost, restore brings back a working CA', async () => {
    await nodeA!.stop();
    removeDir(nodeA!.dataDir);
    const t0 = performance.now();
    const r = json(dataB, ['restore', '--backup', backupId]);
    console.log(`# restore ${Math.round(performance.now() - t0)} ms (CLI, incl. process start)`);
    assert.equal(r.id, backupId);
    assert.equal(r.target, 'offsite');
    assert.ok(r.checks.some((c: string) => /audit chain verifies/.test(c)));
    assert.equal(statSync(dataB).mode & 0o777, 0o700);

    nodeB = await startNode({ dataDir: dataB, env: ENV });
    const ca = String((await call(`${nodeB.httpUrl}/ca/bundle.pem`)).body);
    writeFileSync(`${dir}/intB.pem`, String((await call(`${nodeB.httpUrl}/ca/${intId}.pem`)).body));
    for (let i = 0; i < serials.length; i++) {
      assert.match(mustOpenssl(['verify', '-CAfile', `${dir}/root.pem`, '-untrusted', `${dir}/intB.pem`, `${dir}/leaf${i}.pem`]), /OK/);
      const o = mustOpenssl(['ocsp', '-issuer', `${dir}/intB.pem`, '-CAfile', `${dir}/root.pem`, '-cert', `${dir}/leaf${i}.pem`, '-url', `${nodeB.httpUrl}/ocsp`, '-resp_text']);
      assert.match(o, revoked.includes(serials[i]!) ? /Cert Status: revoked/ : /Cert Status: good/, o);
      assert.match(o, /Response verify OK/);
    }
    const crl = json(dataB, ['crl', '--issuer', intId, '--out', `${dir}/fresh.pem`]);
    const after = Number(crl.crls[0].number);
    assert.ok(after > crlBefore, `new CRL number ${after} must be above ${crlBefore}`);
    const text = mustOpenssl(['crl', '-in', `${dir}/fresh.pem`, '-noout', '-text']);
    assert.equal(crlNumber(text), after);
    for (const s of revoked) assert.match(text.toUpperCase(), new RegExp(`SERIAL NUMBER: 0*${s.toUpperCase().replace(/^0+/, '')}`));
    const audit = json(dataB, ['audit', 'verify']);
    assert.equal(audit.ok, true);

    // The SSH CA came back with its key: the same public key, and a certificate it signs names that key.
    assert.equal(rampart(dataB, ['ssh', 'ca', 'pub', 'ops']).stdout.trim().split(' ').slice(0, 2).join(' '), sshCa.publicKey.split(' ').slice(0, 2).join(' '));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${dir}/alice`]);
    json(dataB, ['ssh', 'issue', '--public-key', `${dir}/alice.pub`, '--profile', 'ops', '--principal', 'alice', '--out', `${dir}/alice-cert.pub`]);
    const cert = execFileSync('ssh-keygen', ['-L', '-f', `${dir}/alice-cert.pub`], { encoding: 'utf8' });
    assert.ok(cert.includes(`Signing CA: ED25519 ${sshCa.fingerprint}`), `${cert}
expected CA ${sshCa.fingerprint}`);

    const { csrPath } = makeCsr(dir, 'new', { subj: '/CN=after.example.test', san: 'DNS:after.example.test' });
    const issued = await call(`${nodeB.httpsUrl}/api/v1/certificates`, { token, ca, json: { csr: readFileSync(csrPath, 'utf8'), profile: 'server' } });
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    assert.ok(!serials.includes(issued.body.serial));
  });
});
