import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import sshpk from 'sshpk';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyObject, signHash, signingKey, type KeyAlgorithm, type Signer } from '../../core/signing.js';
import { parseSshPublicKey, publicKeyLine, sshBlobFromSpki } from './ssh-keys.js';
import { certificateSerial, signSshCertificate } from './ssh-certificate.js';
import { encodeKrl } from './ssh-krl.js';

function memorySigner(algorithm: KeyAlgorithm): Signer {
  const key = generateKeyObject(algorithm);
  return {
    keyRef: 'mem', algorithm, spki: new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' })),
    sign: async (d) => new Uint8Array(sign(signHash(algorithm), d, signingKey(algorithm, key))),
  };
}

function keygen(dir: string, name: string, type: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', name, '-f', join(dir, name)]);
  return readFileSync(join(dir, `${name}.pub`), 'utf8');
}

for (const alg of ['ed25519', 'ecdsa-p256'] as const) {
  test(`${alg} CA: ssh-keygen -L reads the certificate; ssh-keygen -Q finds revoked serials in the KRL`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-sshfmt-'));
    try {
      const ca = memorySigner(alg);
      const caBlob = sshBlobFromSpki(ca.spki);
      writeFileSync(join(dir, 'ca.pub'), `${publicKeyLine(caBlob, 'rampart test CA')}\n`);
      for (const [i, type] of ['ed25519', 'ecdsa', 'rsa'].entries()) {
        const pub = parseSshPublicKey(keygen(dir, `k${i}`, type));
        const serial = 0x1234_5678_9abc_def0n + BigInt(i);
        const cert = await signSshCertificate(ca, {
          publicKey: pub.blob, serial, type: 'user', keyId: `alice-${i}`, principals: ['alice', 'deploy'],
          validAfter: new Date(Date.now() - 60_000), validBefore: new Date(Date.now() + 3_600_000),
          criticalOptions: { 'force-command': '/bin/echo hi', 'source-address': '127.0.0.1/32,::1' }, extensions: ['permit-pty', 'permit-agent-forwarding'],
        });
        assert.equal(certificateSerial(cert).serial, serial);
        const certFile = join(dir, `k${i}-cert.pub`);
        writeFileSync(certFile, `${publicKeyLine(cert)}\n`);
        const out = execFileSync('ssh-keygen', ['-L', '-f', certFile], { encoding: 'utf8' });
        assert.match(out, /Type: .*user certificate/);
        assert.match(out, new RegExp(`Serial: ${serial}`));
        assert.match(out, /Key ID: "alice-\d"/);
        assert.match(out, /alice\n\s+deploy/);
        assert.match(out, /force-command \/bin\/echo hi/);
        assert.match(out, /source-address 127\.0\.0\.1\/32,::1/);
        assert.match(out, /permit-pty/);
        // The signature verifies: ssh-keygen -L prints the CA key; the KRL query below checks the CA key binding.
        const krl = encodeKrl({ version: 1n, generatedAt: new Date(), comment: 'test', caKey: caBlob, serials: [serial, 7n] });
        writeFileSync(join(dir, 'krl'), krl);
        const q = spawnSync('ssh-keygen', ['-Q', '-f', join(dir, 'krl'), certFile], { encoding: 'utf8' });
        assert.equal(q.status, 1, `revoked: ${q.stdout}${q.stderr}`);
        assert.match(q.stdout, /REVOKED/);
        writeFileSync(join(dir, 'krl'), encodeKrl({ version: 2n, generatedAt: new Date(), comment: 'test', caKey: caBlob, serials: [serial + 100n] }));
        const ok = spawnSync('ssh-keygen', ['-Q', '-f', join(dir, 'krl'), certFile], { encoding: 'utf8' });
        assert.equal(ok.status, 0, `not revoked: ${ok.stdout}${ok.stderr}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('bad public keys are refused with a message', () => {
  assert.throws(() => parseSshPublicKey('ssh-ed25519 AAAAnotbase64'), /not an OpenSSH public key/);
  assert.throws(() => parseSshPublicKey(''), /one line/);
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
  assert.throws(() => parseSshPublicKey(sshpk.parseKey(small.export({ type: 'spki', format: 'pem' }) as string, 'pem').toString('ssh')), /too small/);
  assert.throws(() => parseSshPublicKey('ssh-ed25519-cert-v01@openssh.com AAAA'), /certificate, not a public key/);
});
