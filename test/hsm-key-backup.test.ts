/**
 * Key custody with a PKCS#11 HSM (SoftHSM2), through the CLI: a node with
 * keys.backend pkcs11 and keys.pkcs11.extractable generates its CA keys in
 * token A; `rampart key backup` (C_WrapKey, CKM_AES_KEY_WRAP_PAD); token A
 * is deleted (softhsm2-util --delete-token) and issuance fails; token B is
 * initialized and configured; `rampart key restore` unwraps the keys into
 * token B (C_UnwrapKey); a new certificate chains, in openssl, to the
 * ORIGINAL CA certificates. Also: a software node's key restored into an
 * HSM token (backup format shared by both backends).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RAMPART_BIN, removeDir, tempDir } from './helpers/node-process.js';
import { mustOpenssl } from './helpers/openssl.js';
import { createSoftHsm, TEST_PIN, type SoftHsm } from './helpers/softhsm.js';

const CUSTODIANS = ['alice', 'bob', 'carol', 'dave', 'erin'];

function pems(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? [];
}

describe('key backup and restore ceremony with a PKCS#11 HSM (SoftHSM2)', () => {
  let hsm: SoftHsm;
  let dataDir: string;
  let dir: string;
  const timings: string[] = [];

  /** CLI runs ended by a signal: a crash at exit fails the test (see sign-threads.ts and Pkcs11Module.release). */
  const teardownCrashes: string[] = [];
  const rampart = (args: string[]) => {
    const r = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', dataDir, ...args], {
      encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL', env: { ...process.env, ...hsm.env, RAMPART_PKCS11_PIN: TEST_PIN, RAMPART_LOG__LEVEL: 'warn' },
    });
    // A process that printed its result but never exited is a different failure from one that failed.
    const hung = r.signal === 'SIGKILL' ? `\n(rampart ${args.join(' ')} did not exit within 60 s${r.stdout ? ' after printing its result' : ''})` : '';
    if (r.signal) teardownCrashes.push(`${args.filter((a) => !a.startsWith('--')).slice(0, 2).join(' ')} (${r.signal})`);
    const code = r.status ?? -1;
    return { code, stdout: r.stdout, stderr: r.stderr + hung + (r.signal ? `\n(exit by signal ${r.signal})` : '') };
  };
  const json = (args: string[], what = args.slice(0, 2).join(' ')) => {
    const t0 = Date.now();
    const r = rampart(['--json', ...args]);
    timings.push(`${what}: ${Date.now() - t0} ms`);
    assert.equal(r.code, 0, `rampart ${args.join(' ')}: ${r.stderr}${r.stdout}`);
    return JSON.parse(r.stdout);
  };
  const configure = (o: { backend: 'pkcs11' | 'software'; token?: string; extractable?: boolean }) => {
    writeFileSync(join(dataDir, 'rampart.yaml'), o.backend === 'software' ? 'keys:\n  backend: software\n' : [
      'keys:', '  backend: pkcs11', '  pkcs11:', `    module: ${hsm.module}`, `    tokens: ["pkcs11:token=${o.token}"]`, `    extractable: ${o.extractable ?? true}`, '',
    ].join('\n'));
  };
  const backupOf = (issuer: string, out: string) => json(['key', 'backup', '--issuer', issuer, ...CUSTODIANS.flatMap((c) => ['--custodian', c]), '--out-dir', join(dir, out)], `key backup ${issuer.split('-')[0]}`);
  const restore = (b: { backupFile: string; custodians: Array<{ location: string }> }, pick: number[]) =>
    json(['key', 'restore', '--backup', b.backupFile, ...pick.flatMap((i) => ['--share-file', b.custodians[i]!.location])], 'key restore');

  before(() => {
    hsm = createSoftHsm();
    dir = tempDir('rampart-hsm-ceremony-');
  });
  after(() => {
    hsm?.cleanup();
    removeDir(dir);
    console.log(`# timings: ${timings.join('; ')}`);
    assert.deepEqual(teardownCrashes, [], 'CLI processes ended by a signal');
  });

  it('token A → backup → token A deleted → restore into token B → issuance chains to the original CA certificates', () => {
    dataDir = tempDir('rampart-hsm-data-');
    try {
      hsm.initToken('ca-a');
      configure({ backend: 'pkcs11', token: 'ca-a' });
      json(['init']);
      const keys = json(['key', 'list']);
      assert.equal(keys.backend, 'pkcs11');
      assert.ok(keys.keys.every((k: { backend: string; present: boolean }) => k.backend === 'pkcs11' && k.present), JSON.stringify(keys));
      const [rootPem, intPem] = pems(rampart(['ca', '--pem']).stdout);
      writeFileSync(join(dir, 'root.pem'), rootPem!);
      writeFileSync(join(dir, 'int.pem'), intPem!);
      const rootId = keys.keys.find((k: { kind: string }) => k.kind === 'root').id;
      const intId = keys.keys.find((k: { kind: string; active: boolean }) => k.kind === 'intermediate' && k.active).id;

      const intBackup = backupOf(intId, 'hsm-int');
      const rootBackup = backupOf(rootId, 'hsm-root');
      assert.equal(intBackup.algorithm, 'ecdsa-p256');
      assert.equal(rootBackup.algorithm, 'ecdsa-p384');

      hsm.deleteToken('ca-a');
      const lost = rampart(['issue', '--cn', 'lost.example.test']);
      assert.notEqual(lost.code, 0, 'no issuance without the token');

      hsm.initToken('ca-b');
      configure({ backend: 'pkcs11', token: 'ca-b' });
      const missing = json(['key', 'list']);
      assert.ok(missing.keys.filter((k: { kind: string }) => k.kind !== 'ocsp-signer').every((k: { present: boolean }) => !k.present), JSON.stringify(missing));
      const stillLost = rampart(['issue', '--cn', 'lost.example.test']);
      assert.notEqual(stillLost.code, 0, 'an empty token B cannot issue');

      const ri = restore(intBackup, [0, 2, 4]);
      assert.equal(ri.backend, 'pkcs11');
      assert.match(ri.keyRef, /^pkcs11:/);
      const rr = restore(rootBackup, [1, 2, 3]);
      assert.equal(rr.backend, 'pkcs11');
      const after = json(['key', 'list']);
      for (const id of [rootId, intId]) assert.equal(after.keys.find((k: { id: string }) => k.id === id).present, true, `${id} present in token B`);

      const issued = rampart(['issue', '--cn', 'hsm.example.test', '--san', 'hsm.example.test', '--out', join(dir, 'hsm')]);
      assert.equal(issued.code, 0, issued.stderr);
      assert.match(mustOpenssl(['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'int.pem'), join(dir, 'hsm.crt')]), /hsm\.crt: OK/);
      assert.match(mustOpenssl(['verify', '-partial_chain', '-CAfile', join(dir, 'int.pem'), join(dir, 'hsm.crt')]), /OK/);
      assert.deepEqual(pems(rampart(['ca', '--pem']).stdout), [rootPem, intPem], 'CA certificates unchanged');
      // The restored root signs too (a CRL of the root).
      const crl = rampart(['crl', '--issuer', rootId]);
      assert.equal(crl.code, 0, crl.stderr);
      assert.equal(json(['audit', 'verify']).ok, true);
    } finally {
      removeDir(dataDir);
    }
  });

  it('a non-extractable HSM key is refused clearly, and nothing is handed out', () => {
    dataDir = tempDir('rampart-hsm-nx-');
    try {
      hsm.initToken('ca-nx');
      configure({ backend: 'pkcs11', token: 'ca-nx', extractable: false });
      json(['init']);
      const r = rampart(['key', 'backup', ...CUSTODIANS.flatMap((c) => ['--custodian', c]), '--out-dir', join(dir, 'nx')]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /the pkcs11 key backend refused to export .*is not extractable/);
      assert.deepEqual(readdirSync(join(dir, 'nx')).filter((f) => f.includes('.share-') || f.endsWith('.backup.json')), []);
      const audit = rampart(['--json', 'audit', 'verify']);
      assert.equal(JSON.parse(audit.stdout).ok, true);
    } finally {
      removeDir(dataDir);
    }
  });

  it('a software node\'s issuing key restores into an HSM token (one backup format for both backends)', () => {
    dataDir = tempDir('rampart-hsm-migrate-');
    try {
      configure({ backend: 'software' });
      json(['init']);
      const [rootPem, intPem] = pems(rampart(['ca', '--pem']).stdout);
      writeFileSync(join(dir, 'm-root.pem'), rootPem!);
      writeFileSync(join(dir, 'm-int.pem'), intPem!);
      const keys = json(['key', 'list']);
      const int = keys.keys.find((k: { kind: string; active: boolean }) => k.kind === 'intermediate' && k.active);
      const b = backupOf(int.id, 'sw-int');
      unlinkSync(join(dataDir, 'keys', `${int.keyRef}.key.json`));

      hsm.initToken('ca-c');
      configure({ backend: 'pkcs11', token: 'ca-c' });
      assert.equal(json(['key', 'list']).keys.find((k: { id: string }) => k.id === int.id).present, null, 'a software key reference under the pkcs11 backend');
      const r = restore(b, [0, 1, 2]);
      assert.equal(r.backend, 'pkcs11');
      const issued = rampart(['issue', '--cn', 'moved.example.test', '--out', join(dir, 'moved')]);
      assert.equal(issued.code, 0, issued.stderr);
      assert.match(mustOpenssl(['verify', '-partial_chain', '-CAfile', join(dir, 'm-int.pem'), join(dir, 'moved.crt')]), /OK/);
    } finally {
      removeDir(dataDir);
    }
  });
});
