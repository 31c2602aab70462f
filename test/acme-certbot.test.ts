/**
 * ACME with certbot (Python, Debian's package), a client nobody here wrote,
 * against one real Rampart node on SQLite: `certbot certonly --standalone`
 * (http-01 on a loopback port) obtains a certificate, `openssl verify` accepts
 * it with certbot's chain, the node's OCSP responder says good; `certbot
 * revoke` revokes it and OCSP then says revoked.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  acmeNodeEnv, certbotBin, checkCertificate, describeRun, ocspStatus, removeAll, runCertbot, runCertbotRevoke, waitForDirectory, writeCaFiles,
} from './helpers/acme-clients.js';
import { removeDir, startNode, tempDir, type NodeProcess } from './helpers/node-process.js';
import { freePort } from './helpers/ports.js';

describe('certbot against a Rampart node (SQLite)', () => {
  let node: NodeProcess | undefined;
  let dir: string;
  let directory: string;
  let ca: { bundle: string; root: string };
  let httpPort: number;

  before(async () => {
    certbotBin(); // installs certbot on a fresh machine (root), or fails naming the package
    dir = tempDir('rampart-acme-certbot-');
    httpPort = await freePort();
    node = await startNode({ env: acmeNodeEnv({ httpPort, tlsPort: await freePort() }) });
    ca = await writeCaFiles(node.httpUrl, dir);
    directory = `${node.httpsUrl}/acme/directory`;
    await waitForDirectory(directory, ca.bundle);
  });

  after(async () => {
    await node?.stop();
    if (node) removeDir(node.dataDir);
    removeAll(dir);
  });

  it('certbot certonly --standalone obtains a certificate; certbot revoke revokes it', { timeout: 240_000 }, async () => {
    const domains = ['certbot.example.test', 'www.certbot.example.test'];
    const baseDir = `${dir}/certbot`;
    const got = await runCertbot({ server: directory, caBundle: ca.bundle, domains, httpPort, baseDir });
    assert.equal(got.code, 0, `${describeRun(got)}\n--- letsencrypt.log ---\n${got.log().slice(-8000)}`);
    assert.ok(got.haveCert, `certbot wrote no certificate\n${describeRun(got)}`);
    const cert = checkCertificate(got.files.cert, got.files.chain, ca.root);
    assert.deepEqual(cert.dnsNames, [...domains].sort());
    // fullchain.pem is the certificate followed by chain.pem.
    checkCertificate(got.files.fullchain, got.files.chain, ca.root);
    assert.equal(ocspStatus({ url: cert.ocspUrl, certFile: got.files.cert, issuerFile: cert.issuerFile, rootFile: ca.root }).status, 'good');

    const rev = await runCertbotRevoke({ server: directory, caBundle: ca.bundle, certPath: got.files.cert, baseDir });
    assert.equal(rev.code, 0, `${describeRun(rev)}\n--- letsencrypt.log ---\n${rev.log().slice(-8000)}`);
    const after = ocspStatus({ url: cert.ocspUrl, certFile: got.files.cert, issuerFile: cert.issuerFile, rootFile: ca.root });
    assert.equal(after.status, 'revoked', after.out);
  });
});
