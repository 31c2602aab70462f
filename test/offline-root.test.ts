/**
 * The offline root ceremony end to end: `rampart root init` in a directory
 * that is no node's, a fresh node requests an intermediate, the offline root
 * signs it, `rampart ca import` builds the node's hierarchy without the root
 * key, and the node issues over the REST API. Checked with the real openssl
 * client (verify, ocsp, crl). Then the root revokes another intermediate and
 * its CRL is published with `rampart ca import-crl`, and the node rotates to a
 * second offline-signed intermediate.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call } from './helpers/api-client.js';
import { RAMPART_BIN } from './helpers/node-process.js';
import { makeCsr, mustOpenssl, openssl } from './helpers/openssl.js';
import { prepareTestNode, type TestNode } from './helpers/running-node.js';

function rampart(args: string[], dataDir?: string) {
  const r = spawnSync(process.execPath, [RAMPART_BIN, ...(dataDir ? ['--data-dir', dataDir] : []), ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function json(args: string[], dataDir?: string) {
  const r = rampart(['--json', ...args], dataDir);
  assert.equal(r.code, 0, `rampart ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout);
}

/** Every file under dir. */
function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
}

const spkiOf = (pem: string): string => new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }).toString('base64');

describe('offline root', () => {
  let node: TestNode;
  let dir: string;
  let offline: string;
  let dataDir: string;
  const f = (n: string) => join(dir, n);
  let base: string;
  let token: string;
  let rootId: string;
  let int1Id: string;
  let tlsCa: string;

  before(async () => {
    // Not started yet; the node's CLI and server agree on where relying parties reach it (publicBaseUrl).
    node = await prepareTestNode({ prefix: 'rampart-offline-', publicBaseUrl: true });
    ({ dir, dataDir } = node);
    offline = join(dir, 'offline-root');
    base = node.httpUrl;
  });
  after(async () => {
    await node?.close();
  });

  async function issue(name: string): Promise<{ serial: string; leaf: string; issuerId: string }> {
    const { csrPath } = makeCsr(dir, name, { subj: `/CN=${name}`, san: `DNS:${name}` });
    const r = await call(`${node.httpsUrl}/api/v1/certificates`, { token, ca: tlsCa, json: { csr: readFileSync(csrPath, 'utf8'), profile: 'server' } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    writeFileSync(f(`${name}.pem`), r.body.certificatePem);
    return { serial: r.body.serial, leaf: f(`${name}.pem`), issuerId: r.body.issuerId };
  }

  function ocsp(issuer: string, cert: string): string {
    return mustOpenssl(['ocsp', '-issuer', issuer, '-cert', cert, '-CAfile', f('root.pem'), '-url', `${base}/ocsp`]);
  }

  it('root init creates the root in its own directory, and refuses a node data directory', () => {
    const r = json(['root', 'init', '--dir', offline, '--subject', 'CN=Offline Test Root, O=Example', '--days', '3650']);
    rootId = r.rootId;
    assert.match(r.fingerprintSha256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.match(r.keySealedWith, process.env.RAMPART_KEY_PASSPHRASE ? /RAMPART_KEY_PASSPHRASE/ : /key file/);
    writeFileSync(f('root.pem'), readFileSync(join(offline, 'root.pem')));
    assert.match(mustOpenssl(['x509', '-in', f('root.pem'), '-noout', '-subject']), /Offline Test Root/);
    const again = rampart(['root', 'init', '--dir', offline]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already holds an offline root/);
    const nodeLike = join(dir, 'node-like');
    mkdirSync(nodeLike);
    writeFileSync(join(nodeLike, 'rampart.db'), '');
    const refused = rampart(['root', 'init', '--dir', nodeLike]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /looks like a node data directory/);
  });

  it('a fresh node requests an intermediate and does not bootstrap a dev hierarchy while it waits', async () => {
    const req = json(['ca', 'request', '--subject', 'CN=Offline Test Issuing CA 1, O=Example', '--out', f('int1.csr')], dataDir);
    assert.match(req.spkiSha256, /^[0-9a-f]{64}$/);
    const text = mustOpenssl(['req', '-in', f('int1.csr'), '-noout', '-text', '-verify']);
    assert.match(text, /verify OK/i);
    assert.match(text, /CA:TRUE/);
    const listed = json(['ca'], dataDir);
    assert.equal(listed.pending.length, 1);
    await assert.rejects(node.start(), /waiting for its intermediate CA/);
  });

  it('root sign refuses CSRs that are not for a CA or are tampered with', () => {
    mustOpenssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('leafish.key'), '-subj', '/CN=not a CA',
      '-addext', 'basicConstraints=critical,CA:FALSE', '-out', f('leafish.csr')]);
    const notCa = rampart(['root', 'sign', '--dir', offline, '--csr', f('leafish.csr'), '--out', f('nope.pem')]);
    assert.notEqual(notCa.code, 0);
    assert.match(notCa.stderr, /not a request for a CA certificate/);
    const der = Buffer.from(mustOpenssl(['req', '-in', f('int1.csr'), '-outform', 'PEM']).replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 5] ^= 0x01;
    writeFileSync(f('tampered.csr'), der);
    const tampered = rampart(['root', 'sign', '--dir', offline, '--csr', f('tampered.csr'), '--out', f('nope.pem')]);
    assert.notEqual(tampered.code, 0);
    assert.match(tampered.stderr, /signature does not verify|CSR/);
  });

  it('root sign issues the intermediate; ca import builds the hierarchy with no root key on the node', () => {
    const signed = json(['root', 'sign', '--dir', offline, '--csr', f('int1.csr'), '--out', f('bundle1.pem'), '--public-base-url', base, '--days', '730']);
    assert.equal(signed.root, rootId);
    assert.equal(signed.crlUrl, `${base}/crl/${rootId}.crl`);
    const intText = mustOpenssl(['x509', '-in', f('bundle1.pem'), '-noout', '-text']);
    for (const needle of ['CA:TRUE, pathlen:0', 'Certificate Sign, CRL Sign', 'Subject Key Identifier', 'Authority Key Identifier', `CA Issuers - URI:${base}/ca/${rootId}.crt`, `URI:${base}/crl/${rootId}.crl`]) {
      assert.ok(intText.includes(needle), `intermediate has ${needle}`);
    }
    assert.ok(!intText.includes('OCSP - URI'), 'no OCSP URL: nothing online can answer for an offline root');
    assert.match(mustOpenssl(['verify', '-x509_strict', '-CAfile', f('root.pem'), f('bundle1.pem')]), /: OK/);

    const imported = json(['ca', 'import', '--bundle', f('bundle1.pem')], dataDir);
    assert.equal(imported.root.id, rootId);
    assert.equal(imported.root.keyOnline, false);
    assert.equal(imported.root.created, true);
    assert.equal(imported.previous, null);
    assert.equal(imported.rootCrl.number, '1');
    assert.match(imported.adminToken, /^rmp_/);
    token = imported.adminToken;
    int1Id = imported.intermediate.id;
    writeFileSync(f('int1.pem'), mustOpenssl(['x509', '-in', f('bundle1.pem')]));

    // No private key of the root anywhere in the node's data directory.
    const rootSpki = spkiOf(readFileSync(f('root.pem'), 'utf8'));
    const keyFiles = walk(dataDir).filter((p) => p.endsWith('.key.json'));
    assert.ok(keyFiles.length >= 2, 'the intermediate and OCSP signer keys are there');
    for (const k of keyFiles) assert.notEqual(JSON.parse(readFileSync(k, 'utf8')).spki, rootSpki, `${k} is not the root key`);
    assert.ok(!keyFiles.some((p) => /\/root-[^/]*\.key\.json$/.test(p)));

    const again = rampart(['ca', 'import', '--bundle', f('bundle1.pem')], dataDir);
    assert.notEqual(again.code, 0, 'a bundle is imported once');
    assert.match(again.stderr, /no pending request|already imported/);
    const audit = json(['audit', 'verify'], dataDir);
    assert.equal(audit.ok, true);
  });

  it('the node issues over the REST API; openssl verifies to the offline root; OCSP says good; the root CRL is published', async () => {
    await node.start();
    tlsCa = readFileSync(f('root.pem'), 'utf8');
    const leaf = await issue('leaf.offline.test');
    assert.equal(leaf.issuerId, int1Id);
    assert.match(mustOpenssl(['verify', '-CAfile', f('root.pem'), '-untrusted', f('int1.pem'), leaf.leaf]), /: OK/);
    assert.match(mustOpenssl(['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', f('root.pem'), '-untrusted', f('int1.pem'), leaf.leaf]), /: OK/);
    const good = ocsp(f('int1.pem'), leaf.leaf);
    assert.match(good, /Response verify OK/);
    assert.match(good, /: good/);

    // Nothing on the node signs for the root: OCSP for the intermediate itself is refused, not signed.
    const forInt = openssl(['ocsp', '-issuer', f('root.pem'), '-cert', f('int1.pem'), '-CAfile', f('root.pem'), '-url', `${base}/ocsp`]);
    assert.match(forInt.out, /unauthorized/i);

    // The root CRL from the bundle is served, and CRL checking of the whole chain passes.
    const rootCrl = await call(`${base}/crl/${rootId}.crl`);
    assert.equal(rootCrl.status, 200);
    writeFileSync(f('root.crl'), rootCrl.raw);
    assert.match(mustOpenssl(['crl', '-inform', 'DER', '-in', f('root.crl'), '-CAfile', f('root.pem'), '-noout']), /verify OK/);
    const intCrl = await call(`${base}/crl/${int1Id}.crl`);
    assert.equal(intCrl.status, 200);
    writeFileSync(f('int1.crl'), intCrl.raw);
    for (const c of ['root', 'int1']) writeFileSync(f(`${c}.crl.pem`), mustOpenssl(['crl', '-inform', 'DER', '-in', f(`${c}.crl`)]));
    assert.match(mustOpenssl(['verify', '-crl_check_all', '-CAfile', f('root.pem'), '-untrusted', f('int1.pem'), '-CRLfile', f('root.crl.pem'), '-CRLfile', f('int1.crl.pem'), leaf.leaf]), /: OK/);

    const ready = await call(`${node.httpUrl}/readyz`);
    assert.equal(ready.body.status, 'healthy', JSON.stringify(ready.body));
    assert.match(ready.body.checks.caExpiry.detail, new RegExp(int1Id));
  });

  it('the root revokes an intermediate; its CRL is published with ca import-crl', async () => {
    // A second CA key requested elsewhere, signed, then revoked.
    mustOpenssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-nodes', '-keyout', f('other.key'), '-subj', '/CN=Other Issuing CA/O=Example',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-out', f('other.csr')]);
    const other = json(['root', 'sign', '--dir', offline, '--csr', f('other.csr'), '--out', f('other-bundle.pem'), '--no-crl']);
    json(['root', 'revoke', '--dir', offline, '--serial', other.serial, '--reason', 'cessationOfOperation']);
    const crl = json(['root', 'crl', '--dir', offline, '--out', f('root2.crl'), '--days', '30']);
    assert.equal(crl.number, '2');
    assert.equal(crl.entries, 1);
    const published = json(['ca', 'import-crl', '--crl', f('root2.crl')], dataDir);
    assert.equal(published.issuerId, rootId);
    assert.equal(published.number, '2');
    const served = await call(`${base}/crl/${rootId}.crl`);
    writeFileSync(f('served.crl'), served.raw);
    const text = mustOpenssl(['crl', '-inform', 'DER', '-in', f('served.crl'), '-CAfile', f('root.pem'), '-text']);
    assert.match(text, /verify OK/);
    assert.match(text, /CRL Number: \s*2/);
    assert.ok(text.toUpperCase().includes(other.serial.toUpperCase()), 'the revoked intermediate is listed');
    const stale = rampart(['ca', 'import-crl', '--crl', f('root.crl')], dataDir);
    assert.notEqual(stale.code, 0, 'an older CRL does not replace the published one');
    assert.match(stale.stderr, /not newer/);
    const shown = json(['root', 'show', '--dir', offline]);
    assert.equal(shown.log.ok, true);
    assert.equal(shown.signed.length, 2);
    assert.equal(shown.revoked.length, 1);
  });

  it('rotates to a second offline-signed intermediate; the first keeps answering OCSP for its certificates', async () => {
    const old = await issue('old.offline.test');
    json(['ca', 'request', '--subject', 'CN=Offline Test Issuing CA 2, O=Example', '--out', f('int2.csr')], dataDir);
    json(['root', 'sign', '--dir', offline, '--csr', f('int2.csr'), '--out', f('bundle2.pem'), '--days', '730']);
    const imported = json(['ca', 'import', '--bundle', f('bundle2.pem')], dataDir);
    assert.equal(imported.previous.id, int1Id);
    assert.equal(imported.root.created, false);
    assert.ok(!imported.adminToken);
    writeFileSync(f('int2.pem'), mustOpenssl(['x509', '-in', f('bundle2.pem')]));
    await node.restart();
    const fresh = await issue('new.offline.test');
    assert.equal(fresh.issuerId, imported.intermediate.id);
    assert.match(mustOpenssl(['verify', '-CAfile', f('root.pem'), '-untrusted', f('int2.pem'), fresh.leaf]), /: OK/);
    assert.match(ocsp(f('int2.pem'), fresh.leaf), /: good/);
    const oldStatus = ocsp(f('int1.pem'), old.leaf);
    assert.match(oldStatus, /Response verify OK/);
    assert.match(oldStatus, /: good/);
  });
});
