/**
 * The operator CLI on a data directory: init with a custom hierarchy, issue
 * with a generated key, list, revoke, CRL, tokens, status --json, audit verify.
 * `serve --http ADDR` fixes the URLs put in certificates for the data
 * directory: a later `rampart issue` points AIA and CDP at ADDR.
 * Results are checked with the real openssl client.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { RAMPART_BIN, removeDir, startNode, tempDir } from './helpers/node-process.js';
import { mustOpenssl, openssl } from './helpers/openssl.js';

function rampart(dataDir: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', dataDir, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function json(dataDir: string, args: string[], env: Record<string, string> = {}) {
  const r = rampart(dataDir, ['--json', ...args], env);
  assert.equal(r.code, 0, `rampart ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout);
}

describe('rampart CLI', () => {
  const dataDir = tempDir('rampart-cli-data-');
  const dir = tempDir('rampart-cli-');
  after(() => { removeDir(dataDir); removeDir(dir); });

  it('an empty --data-dir or --config is refused, not taken for the default ./data', () => {
    const cwd = tempDir('rampart-cli-cwd-');
    try {
      for (const args of [['--data-dir', '', 'status'], ['--data-dir', ' ', 'inventory', 'synthesize', '--count', '1'], ['--config', '', 'status']]) {
        const r = spawnSync(process.execPath, [RAMPART_BIN, ...args], { encoding: 'utf8', cwd, timeout: 60_000 });
        assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, /argument '\s*' is invalid\. must not be empty/);
        assert.deepEqual(readdirSync(cwd), [], 'nothing was created in the working directory');
      }
    } finally {
      removeDir(cwd);
    }
  });

  it('init builds a custom hierarchy (P-384 root, RSA-3072 issuing CA) and refuses a second one', () => {
    const r = json(dataDir, ['init', '--root-subject', 'CN=Example Test Root, O=Example, C=DE', '--root-algorithm', 'ecdsa-p384', '--root-days', '3650',
      '--intermediate-subject', 'CN=Example Issuing CA, O=Example', '--intermediate-algorithm', 'rsa-3072', '--intermediate-days', '365']);
    assert.match(r.adminToken, /^rmp_/);
    assert.match(r.root.fingerprintSha256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const again = rampart(dataDir, ['init']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already exists/);
    const status = json(dataDir, ['status']);
    assert.ok(status.urls.ocsp.endsWith('/ocsp'));
    assert.ok(Object.values(status.urls.crl as Record<string, string>).every((u) => /\/crl\/.+\.crl$/.test(u)));
    assert.match(status.urls.api, /^https:\/\/.+\/api\/v1$/);
    assert.ok(['healthy', 'degraded'].includes(status.health.status), JSON.stringify(status.health));
    const root = status.issuers.find((i: { kind: string }) => i.kind === 'root');
    const int = status.issuers.find((i: { kind: string }) => i.kind === 'intermediate');
    assert.equal(root.subject, 'CN=Example Test Root, O=Example, C=DE');
    assert.equal(int.subject, 'CN=Example Issuing CA, O=Example');
  });

  it('bad options get clear errors and change nothing', () => {
    const badDir = tempDir('rampart-cli-bad-');
    try {
      const bad = rampart(badDir, ['init', '--root-algorithm', 'dsa-1024']);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /unknown key algorithm/);
      assert.deepEqual(readdirSync(badDir), [], 'a refused init leaves the data directory empty');
    } finally {
      removeDir(badDir);
    }
    const badCfg = rampart(dataDir, ['status'], { RAMPART_OCSP__MAX_AGE_SECONDS: '-5' });
    assert.notEqual(badCfg.code, 0);
    assert.match(badCfg.stderr, /ocsp\.maxAgeSeconds/);
  });

  it('issues with a generated key, lists, revokes, and the CRL rejects it in openssl verify -crl_check', () => {
    const issued = json(dataDir, ['issue', '--cn', 'cli.example.test', '--san', 'cli.example.test', '--san', 'alt.example.test', '--out', `${dir}/cli`]);
    assert.deepEqual(issued.sans, ['cli.example.test', 'alt.example.test']);
    const chain = readFileSync(`${dir}/cli.chain.pem`, 'utf8');
    assert.equal((chain.match(/BEGIN CERTIFICATE/g) ?? []).length, 2, 'leaf and issuing CA');
    writeFileSync(`${dir}/int.pem`, chain.slice(chain.indexOf('-----BEGIN', 10)));
    const cas = rampart(dataDir, ['ca', '--pem', '--root']);
    assert.equal(cas.code, 0, cas.stderr);
    writeFileSync(`${dir}/root.pem`, cas.stdout);
    assert.match(mustOpenssl(['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', `${dir}/root.pem`, '-untrusted', `${dir}/int.pem`, `${dir}/cli.crt`]), /: OK/);
    assert.match(mustOpenssl(['x509', '-in', `${dir}/int.pem`, '-noout', '-text']), /Public-Key: \(3072 bit\)/);
    assert.match(mustOpenssl(['x509', '-in', `${dir}/root.pem`, '-noout', '-text']), /NIST CURVE: P-384/);
    assert.match(readFileSync(`${dir}/cli.key`, 'utf8'), /BEGIN PRIVATE KEY/);

    const list = json(dataDir, ['certs', 'list', '--name', 'alt.example']);
    assert.equal(list.total, 1);
    const revoked = json(dataDir, ['revoke', issued.serial, '--reason', 'keyCompromise']);
    assert.equal(revoked.status, 'revoked');
    assert.equal(revoked.revocationReason, 'keyCompromise');
    const again = rampart(dataDir, ['revoke', issued.serial, '--reason', 'keyCompromise']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already revoked/);
    const crl = json(dataDir, ['crl', '--out', `${dir}/crl.pem`]);
    assert.ok(crl.crls.length >= 2);
    const text = mustOpenssl(['crl', '-in', `${dir}/crl.pem`, '-noout', '-text']);
    assert.match(text, new RegExp(issued.serial.toUpperCase()));
    const check = openssl(['verify', '-x509_strict', '-crl_check', '-CAfile', `${dir}/root.pem`, '-untrusted', `${dir}/int.pem`, '-CRLfile', `${dir}/crl.pem`, `${dir}/cli.crt`]);
    assert.notEqual(check.code, 0);
    assert.match(check.out, /certificate revoked/);
    assert.equal(json(dataDir, ['certs', 'list', '--status', 'revoked']).total, 1);
  });

  it('tokens: created shown once, listed without the secret, revoked; audit chain verifies', () => {
    const t = json(dataDir, ['token', 'create', '--role', 'operator', '--name', 'ops', '--expires-days', '30']);
    assert.match(t.token, /^rmp_/);
    const list = json(dataDir, ['token', 'list']);
    assert.ok(list.tokens.some((x: { id: string }) => x.id === t.id));
    assert.ok(!JSON.stringify(list).includes(t.token), 'the secret is not listed');
    json(dataDir, ['token', 'revoke', t.id]);
    const badRole = rampart(dataDir, ['token', 'create', '--role', 'root']);
    assert.notEqual(badRole.code, 0);
    const v = json(dataDir, ['audit', 'verify']);
    assert.equal(v.ok, true);
    assert.ok(v.entries >= 6);
  });

  it('keys are never on disk in clear', () => {
    const out = spawnSync('grep', ['-rl', 'PRIVATE KEY', dataDir], { encoding: 'utf8' });
    assert.equal(out.stdout.trim(), '', 'no PEM private key in the data directory');
    const files = readdirSync(`${dataDir}/keys`);
    assert.ok(files.length >= 4);
    for (const f of files) {
      const k = JSON.parse(readFileSync(`${dataDir}/keys/${f}`, 'utf8'));
      assert.deepEqual(Object.keys(k).sort(), ['algorithm', 'createdAt', 'label', 'ref', 'sealed', 'spki']);
      assert.deepEqual(Object.keys(k.sealed).sort(), ['ct', 'iv', 'kdf', 'n', 'p', 'r', 'salt', 'tag', 'v']);
      assert.ok(!JSON.stringify(k).includes('-----BEGIN'));
    }
  });
});

describe('rampart CLI: URLs in certificates follow the address the node was served on', () => {
  const dataDir = tempDir('rampart-cli-urls-data-');
  const dir = tempDir('rampart-cli-urls-');
  after(() => { removeDir(dataDir); removeDir(dir); });

  const urlsOf = (certFile: string) => {
    const text = mustOpenssl(['x509', '-in', certFile, '-noout', '-text']);
    return {
      ocsp: /OCSP - URI:(\S+)/.exec(text)?.[1], caIssuers: /CA Issuers - URI:(\S+)/.exec(text)?.[1],
      crl: /X509v3 CRL Distribution Points:[\s\S]*?URI:(\S+)/.exec(text)?.[1],
    };
  };

  it('serve --http 127.0.0.1:PORT, stop, then issue: AIA and CDP point at PORT', async () => {
    const node = await startNode({ dataDir });
    const port = new URL(node.httpUrl).port;
    assert.notEqual(port, '8080');
    await node.stop();
    const recorded = JSON.parse(readFileSync(`${dataDir}/recorded-defaults.json`, 'utf8'));
    assert.equal(recorded.publicBaseUrl, node.httpUrl);
    assert.match(recorded.recordedBy, new RegExp(`^serve --http 127\\.0\\.0\\.1:${port} `));

    const issued = rampart(dataDir, ['--json', 'issue', '--cn', 'urls.example.test', '--san', 'urls.example.test', '--out', `${dir}/urls`]);
    assert.equal(issued.code, 0, issued.stderr);
    assert.doesNotMatch(issued.stderr, /warning/);
    const urls = urlsOf(`${dir}/urls.crt`);
    const intId = /\/ca\/([^/]+)\.crt$/.exec(urls.caIssuers ?? '')?.[1];
    assert.ok(intId, JSON.stringify(urls));
    // The CDP names the certificate's CRL shard (crl.shards, default 16).
    assert.match(urls.crl ?? '', new RegExp(`^${node.httpUrl.replace(/[.]/g, '\\.')}/crl/${intId}/(\\d|1[0-5])\\.crl$`), JSON.stringify(urls));
    assert.deepEqual({ ...urls, crl: undefined }, { ocsp: `${node.httpUrl}/ocsp`, caIssuers: `${node.httpUrl}/ca/${intId}.crt`, crl: undefined });
    const status = JSON.parse(rampart(dataDir, ['--json', 'status']).stdout);
    assert.equal(status.urls.ocsp, `${node.httpUrl}/ocsp`, 'status agrees');

    // An explicit publicBaseUrl wins, with a warning: certificates issued so far point elsewhere.
    const other = rampart(dataDir, ['--json', 'issue', '--cn', 'other.example.test', '--san', 'other.example.test', '--out', `${dir}/other`], { RAMPART_PUBLIC_BASE_URL: 'http://pki.example.test' });
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stderr, new RegExp(`warning: publicBaseUrl http://pki\\.example\\.test .*differs from ${node.httpUrl.replace(/\./g, '\\.')}`));
    assert.equal(urlsOf(`${dir}/other.crt`).ocsp, 'http://pki.example.test/ocsp');
    assert.equal(JSON.parse(readFileSync(`${dataDir}/recorded-defaults.json`, 'utf8')).publicBaseUrl, node.httpUrl, 'issue does not move the record');
  });
});

